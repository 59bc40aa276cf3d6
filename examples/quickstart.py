"""revocable in one screen: sessions in an SQLite file, listed, validated and revoked.

Run it with `make demo` (or `python examples/quickstart.py [path.db]`).
"""

from __future__ import annotations

import asyncio
import sys

from revocable import SessionManager, SessionPolicy, open_store


async def main(path: str) -> None:
    store = await open_store(f"sqlite:///{path}")
    sessions = SessionManager(store, SessionPolicy(idle_timeout=24 * 3600))
    try:
        laptop = await sessions.create("alice", client_ip="203.0.113.7", user_agent="Firefox")
        phone = await sessions.create("alice", client_ip="198.51.100.2", user_agent="iPhone")
        print(f"two sessions for alice in {path}; the cookie value is {len(laptop.token)} chars")

        for device in await sessions.list_sessions("alice"):
            print(f"  device {device.handle}  {device.user_agent:8}  from {device.client_ip}")

        record = await sessions.validate(laptop.token)
        print(f"laptop cookie validates as user {record.user_id if record else None!r}")

        rotated = await sessions.rotate(laptop.token, reauthenticated=True)
        if rotated is None:
            raise SystemExit("rotation found no session")
        print(f"after rotation the old cookie validates: {await sessions.validate(laptop.token)}")

        await sessions.revoke_handle("alice", phone.record.handle)
        print(f"phone revoked from the devices page: {await sessions.validate(phone.token)}")

        count = await sessions.revoke_all("alice")
        print(
            f"log out all devices revoked {count}; laptop now: "
            f"{await sessions.validate(rotated.token)}"
        )
    finally:
        await sessions.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "quickstart.db"))
