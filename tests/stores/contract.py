"""The behaviour every session store must show, run once per store.

Each store's test module subclasses ``StoreContract`` and provides two
fixtures: ``open_store`` (an async factory of connected stores, all sharing
one backend) and ``dump_backend`` (every byte the backend holds for a user,
to prove no token is stored).
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import pytest

from revocable import InvalidInput, SessionManager, SessionPolicy
from revocable.core.refresh import (
    RefreshFamily,
    digest,
    new_family,
    parse_refresh_token,
    rotated,
    speculate,
)
from revocable.core.tokens import parse_token
from revocable.core.users import new_user
from revocable.events import SecurityEvent, SecurityEvents
from revocable.refresh import InvalidRefreshToken, IssuedRefresh, RefreshPolicy, RefreshTokens
from revocable.stores.base import CounterStore, RefreshStore, SessionStore, UserStore
from revocable.testing import ManualClock
from tests.stores.counting import CountingStore

OpenStore = Callable[[], Awaitable[SessionStore]]
DumpBackend = Callable[[SessionStore, str], Awaitable[bytes]]
MakeManager = Callable[..., Awaitable[SessionManager]]

SHORT = SessionPolicy(absolute_lifetime=1.0, touch_interval=0.0)
REFRESH_KEY = b"r" * 32


async def dump_redis(client: Any, namespace: str) -> bytes:
    """Every key under ``namespace`` and its value, whatever its type, as bytes."""
    out = []
    async for key in client.scan_iter(match=f"{namespace}:*"):
        kind = await client.type(key)
        if kind == b"string":
            value: object = await client.get(key)
        elif kind == b"set":
            value = await client.smembers(key)
        else:
            value = await client.hgetall(key)
        out.append(key + b"=" + repr(value).encode())
    return b"\n".join(out)


def split_refresh(token: str) -> tuple[str, str]:
    """``(family_id, secret)`` of a refresh token the test just issued."""
    parsed = parse_refresh_token(token)
    assert parsed is not None
    return parsed


def users_of(manager: SessionManager) -> UserStore:
    """The manager's store seen as a user store (every built-in backend is both)."""
    return cast(UserStore, manager.store)


class StoreContract:
    @pytest.fixture(name="open_store")
    def _open_store(self) -> OpenStore:
        raise NotImplementedError("each store's test class provides open_store")

    @pytest.fixture(name="dump_backend")
    def _dump_backend(self) -> DumpBackend:
        raise NotImplementedError("each store's test class provides dump_backend")

    @pytest.fixture(name="make_manager")
    async def _make_manager(self, open_store: OpenStore) -> AsyncIterator[MakeManager]:
        opened: list[SessionStore] = []

        async def make(policy: SessionPolicy = SessionPolicy.DEFAULT) -> SessionManager:
            store = await open_store()
            opened.append(store)
            return SessionManager(store, policy)

        yield make
        for store in opened:
            await store.close()

    @pytest.fixture(name="sessions")
    async def _sessions(self, make_manager: MakeManager) -> SessionManager:
        return await make_manager()

    @pytest.fixture(name="user")
    def _user(self) -> str:
        return f"user-{uuid.uuid4()}"

    # -- create and validate ---------------------------------------------------------------

    async def test_created_session_validates_with_its_fields(
        self, sessions: SessionManager, user: str
    ) -> None:
        """A new session validates and carries the user, client and data it was made with."""
        issued = await sessions.create(
            user, client_ip="2001:db8::1", user_agent="Firefox/140", data={"role": "admin"}
        )
        record = await sessions.validate(issued.token)
        assert record is not None
        assert (record.user_id, record.client_ip, record.user_agent) == (
            user,
            "2001:db8::1",
            "Firefox/140",
        )
        assert dict(record.data) == {"role": "admin"}
        assert record.handle == issued.record.handle
        assert record.created_at == pytest.approx(time.time(), abs=5)
        assert record.expires_at == pytest.approx(record.created_at + 7 * 86400)

    async def test_unicode_and_brace_user_ids_round_trip(self, sessions: SessionManager) -> None:
        """User ids are opaque text: non-ASCII and key-like characters are kept exactly."""
        for user in (f"Zoë 李 {uuid.uuid4()}", f"{{tag}}:u:{uuid.uuid4()}"):
            issued = await sessions.create(user)
            record = await sessions.validate(issued.token)
            assert record is not None
            assert record.user_id == user
            assert [r.handle for r in await sessions.list_sessions(user)] == [record.handle]

    async def test_store_holds_no_token(
        self, sessions: SessionManager, user: str, dump_backend: DumpBackend
    ) -> None:
        """Neither the token nor its raw bytes appear anywhere in the backend."""
        issued = await sessions.create(user, data={"k": "v"})
        dump = await dump_backend(sessions.store, user)
        raw = base64.urlsafe_b64decode(issued.token + "==")
        assert issued.record.handle.encode() in dump  # the dump does see this session
        assert issued.token.encode() not in dump
        assert raw not in dump
        assert raw.hex().encode() not in dump

    async def test_unknown_and_malformed_tokens_are_no_session(
        self, make_manager: MakeManager, user: str
    ) -> None:
        """Unknown tokens cost one read; malformed ones are refused before the store."""
        manager = await make_manager()
        issued = await manager.create(user)
        counting = CountingStore(manager.store)
        manager.store = counting
        forged = issued.token[:-2] + ("AA" if issued.token[-2:] != "AA" else "BA")
        assert await manager.validate(forged) is None
        assert counting.calls["get"] == 1
        counting.calls.clear()
        malformed: list[object] = [
            "",
            "x",
            issued.token + "A",
            issued.token[:-1],
            issued.token[:-1] + "B",
            issued.token[:-1] + "=",
            "é" * 46,
            "\x00" * 46,
            "a" * 10_000_000,
            None,
            42,
            issued.token.encode(),
            issued.token[:20] + "+/" + issued.token[22:],
        ]
        for token in malformed:
            assert await manager.validate(token) is None
            assert await manager.revoke(token) is False
            assert await manager.rotate(token) is None
        assert counting.calls == {}
        assert await manager.validate(issued.token) is not None

    # -- touch throttling ------------------------------------------------------------------

    async def test_validate_does_not_write_within_touch_interval(
        self, make_manager: MakeManager, user: str
    ) -> None:
        """Sliding expiry is throttled: many validations in one interval write nothing."""
        manager = await make_manager(SessionPolicy(touch_interval=60))
        issued = await manager.create(user)
        counting = CountingStore(manager.store)
        manager.store = counting
        for _ in range(50):
            assert await manager.validate(issued.token) is not None
        assert counting.calls == {"get": 50}

    async def test_validate_writes_last_seen_once_interval_passed(
        self, make_manager: MakeManager, user: str
    ) -> None:
        """After the touch interval, one validation writes last_seen; the next ones do not."""
        manager = await make_manager(SessionPolicy(touch_interval=0.3))
        issued = await manager.create(user)
        await asyncio.sleep(0.35)
        counting = CountingStore(manager.store)
        manager.store = counting
        first = await manager.validate(issued.token)
        assert first is not None
        assert first.last_seen > issued.record.last_seen
        for _ in range(5):
            assert await manager.validate(issued.token) is not None
        assert counting.calls == {"get": 6, "touch": 1}
        listed = await manager.list_sessions(user)
        assert listed[0].last_seen == pytest.approx(first.last_seen)

    # -- expiry ----------------------------------------------------------------------------

    async def test_absolute_lifetime_ends_session_and_store_drops_it(
        self, make_manager: MakeManager, user: str
    ) -> None:
        """Past its absolute lifetime a session is refused, even when used, and the store
        drops it (TTL, or the sweep)."""
        manager = await make_manager(SHORT)
        issued = await manager.create(user)
        ref = parse_token(issued.token)
        await asyncio.sleep(0.5)
        assert await manager.validate(issued.token) is not None  # a touch extends nothing
        await asyncio.sleep(0.7)
        assert await manager.validate(issued.token) is None
        assert await manager.list_sessions(user) == []
        await manager.store.sweep(time.time())
        assert await manager.store.get(ref) is None
        assert await manager.store.list_user(user) == []

    async def test_idle_timeout_slides_with_use_and_ends_when_idle(
        self, make_manager: MakeManager, user: str
    ) -> None:
        """An idle timeout is pushed forward by use and ends a session left alone."""
        policy = SessionPolicy(absolute_lifetime=60, idle_timeout=1.0, touch_interval=0.1)
        manager = await make_manager(policy)
        issued = await manager.create(user)
        for _ in range(4):  # 1.6 s of activity, longer than the idle timeout
            await asyncio.sleep(0.4)
            assert await manager.validate(issued.token) is not None
        await asyncio.sleep(1.2)
        assert await manager.validate(issued.token) is None
        await manager.store.sweep(time.time())
        assert await manager.store.get(parse_token(issued.token)) is None

    async def test_sweep_keeps_live_sessions(self, make_manager: MakeManager, user: str) -> None:
        """A sweep deletes the expired sessions and only those."""
        short = await make_manager(SHORT)
        dead = await short.create(user)
        live = await (await make_manager()).create(user)
        await asyncio.sleep(1.1)
        assert await short.sweep() >= (1 if short.store.name != "redis" else 0)
        assert await short.store.get(parse_token(dead.token)) is None
        assert await short.validate(live.token) is not None

    # -- revocation ------------------------------------------------------------------------

    async def test_revoke_ends_only_that_session(self, sessions: SessionManager, user: str) -> None:
        """Logout kills the session at once; the user's other sessions live on."""
        a, b = await sessions.create(user), await sessions.create(user)
        assert await sessions.revoke(a.token) is True
        assert await sessions.validate(a.token) is None
        assert await sessions.revoke(a.token) is False
        assert await sessions.validate(b.token) is not None
        assert [r.handle for r in await sessions.list_sessions(user)] == [b.record.handle]

    async def test_revoke_handle_only_for_its_owner(
        self, sessions: SessionManager, user: str
    ) -> None:
        """A handle revokes its owner's session; another user naming it revokes nothing."""
        issued = await sessions.create(user)
        handle = issued.record.handle
        assert await sessions.revoke_handle(f"other-{user}", handle) is False
        assert await sessions.revoke_handle(user, "not-a-handle") is False
        assert await sessions.validate(issued.token) is not None
        assert await sessions.revoke_handle(user, handle) is True
        assert await sessions.validate(issued.token) is None
        assert await sessions.revoke_handle(user, handle) is False

    async def test_revoke_all_keeps_only_the_kept_session(
        self, sessions: SessionManager, user: str
    ) -> None:
        """Log out all other devices: every session dies but the one kept."""
        issued = [await sessions.create(user) for _ in range(5)]
        other = await sessions.create(f"other-{user}")
        keep = issued[2]
        assert await sessions.revoke_all(user, keep_handle=keep.record.handle) == 4
        assert [await sessions.validate(s.token) is not None for s in issued] == [
            False,
            False,
            True,
            False,
            False,
        ]
        assert [r.handle for r in await sessions.list_sessions(user)] == [keep.record.handle]
        assert await sessions.validate(other.token) is not None
        assert await sessions.revoke_all(user) == 1
        assert await sessions.list_sessions(user) == []
        assert await sessions.revoke_all(user) == 0

    async def test_revoke_all_of_many_sessions(self, sessions: SessionManager, user: str) -> None:
        """Revoke-all scales past a handful of sessions."""
        issued = await asyncio.gather(*(sessions.create(user) for _ in range(300)))
        assert len(await sessions.list_sessions(user)) == 300
        assert await sessions.revoke_all(user) == 300
        assert not any(await asyncio.gather(*(sessions.validate(s.token) for s in issued)))

    async def test_list_is_oldest_first_and_per_user(
        self, sessions: SessionManager, user: str
    ) -> None:
        """Listing shows only this user's live sessions, oldest first."""
        made = []
        for _ in range(3):
            made.append(await sessions.create(user))
            await asyncio.sleep(0.01)
        await sessions.create(f"other-{user}")
        assert [r.handle for r in await sessions.list_sessions(user)] == [
            s.record.handle for s in made
        ]
        assert await sessions.list_sessions(f"nobody-{user}") == []

    # -- rotation --------------------------------------------------------------------------

    async def test_rotate_issues_new_token_and_kills_old(
        self, sessions: SessionManager, user: str
    ) -> None:
        """Rotation: new token, old token dead, same session (handle, creation, deadline)."""
        issued = await sessions.create(user, data={"role": "user"})
        await asyncio.sleep(0.01)
        rotated = await sessions.rotate(issued.token, reauthenticated=True, data={"role": "admin"})
        assert rotated is not None
        assert rotated.token != issued.token
        assert await sessions.validate(issued.token) is None
        record = await sessions.validate(rotated.token)
        assert record is not None
        assert record.handle == issued.record.handle
        assert record.created_at == issued.record.created_at
        assert record.expires_at == issued.record.expires_at
        assert record.authenticated_at > issued.record.authenticated_at
        assert dict(record.data) == {"role": "admin"}
        assert await sessions.rotate(issued.token) is None
        assert len(await sessions.list_sessions(user)) == 1
        assert await sessions.revoke_handle(user, record.handle) is True
        assert await sessions.validate(rotated.token) is None

    async def test_concurrent_rotations_have_one_winner(
        self, make_manager: MakeManager, user: str
    ) -> None:
        """Of many concurrent rotations of one token, exactly one succeeds."""
        managers = [await make_manager() for _ in range(4)]
        issued = await managers[0].create(user)
        results = await asyncio.gather(*(managers[i % 4].rotate(issued.token) for i in range(20)))
        winners = [r for r in results if r is not None]
        assert len(winners) == 1
        assert await managers[0].validate(winners[0].token) is not None
        assert len(await managers[0].list_sessions(user)) == 1

    # -- concurrency -----------------------------------------------------------------------

    async def test_creates_racing_revoke_all_leave_no_escaped_session(
        self, make_manager: MakeManager, user: str
    ) -> None:
        """Creates racing revoke-all: sessions made before it began are dead when it
        returns, and every session still alive is listed (so the next revoke-all kills it)."""
        managers = [await make_manager() for _ in range(4)]
        before = [await managers[0].create(user) for _ in range(20)]

        async def create_many(m: SessionManager) -> list[tuple[str, float]]:
            made = []
            for _ in range(25):
                issued = await m.create(user)
                made.append((issued.token, time.monotonic()))
                await asyncio.sleep(0)
            return made

        started = 0.0

        async def revoke() -> None:
            nonlocal started
            await asyncio.sleep(0.005)
            started = time.monotonic()
            await managers[3].revoke_all(user)

        batches, _ = await asyncio.gather(
            asyncio.gather(*(create_many(m) for m in managers[:3])), revoke()
        )
        racing = [item for batch in batches for item in batch]
        for issued in before:
            assert await managers[0].validate(issued.token) is None
        for token, returned_at in racing:
            if returned_at < started:
                assert await managers[0].validate(token) is None
        listed = {r.handle for r in await managers[0].list_sessions(user)}
        for token, _ in racing:
            record = await managers[0].validate(token)
            assert record is None or record.handle in listed
        await managers[0].revoke_all(user)
        for token, _ in racing:
            assert await managers[0].validate(token) is None

    async def test_touch_validate_revoke_race_never_resurrects(
        self, make_manager: MakeManager, user: str
    ) -> None:
        """Touches racing a revocation never bring the session back."""
        policy = SessionPolicy(touch_interval=0.0)  # every validation writes
        managers = [await make_manager(policy) for _ in range(3)]
        for _ in range(5):
            issued = await managers[0].create(user)

            async def hammer(m: SessionManager, token: str = issued.token) -> None:
                for _ in range(20):
                    await m.validate(token)
                    await m.touch(token)

            await asyncio.gather(
                hammer(managers[0]), hammer(managers[1]), managers[2].revoke(issued.token)
            )
            assert await managers[0].validate(issued.token) is None
            assert await managers[0].store.get(parse_token(issued.token)) is None
        assert await managers[0].list_sessions(user) == []

    async def test_stale_touch_after_revoke_is_refused(
        self, sessions: SessionManager, user: str
    ) -> None:
        """A touch computed before a revocation and applied after it changes nothing."""
        issued = await sessions.create(user)
        ref = parse_token(issued.token)
        stale = await sessions.store.get(ref)
        assert stale is not None
        await sessions.revoke(issued.token)
        assert await sessions.store.touch(ref, stale) is False
        assert await sessions.store.get(ref) is None
        assert await sessions.list_sessions(user) == []

    # -- bad input -------------------------------------------------------------------------

    async def test_bad_input_is_a_typed_error_and_writes_nothing(
        self, sessions: SessionManager, user: str
    ) -> None:
        """Unusable user ids, client IPs and data raise InvalidInput before any write."""
        bad_calls = [
            dict(user_id=""),
            dict(user_id="a\x00b"),
            dict(user_id="x" * 257),
            dict(user_id=user, client_ip="999.1.1.1"),
            dict(user_id=user, data={"big": "x" * 5000}),
            dict(user_id=user, data={"nan": float("nan")}),
            dict(user_id=user, data={"obj": object()}),
            dict(user_id=user, data={"nul": "a\x00"}),
        ]
        for kwargs in bad_calls:
            with pytest.raises(InvalidInput):
                await sessions.create(**kwargs)  # type: ignore[arg-type]
        assert await sessions.list_sessions(user) == []

    # -- users -----------------------------------------------------------------------------

    async def test_users_are_found_by_id_and_by_username_any_case(
        self, sessions: SessionManager
    ) -> None:
        """A user is found by id and by username compared case- and width-insensitively."""
        store = users_of(sessions)
        name = f"Zoë-{uuid.uuid4().hex[:8]}"
        user = new_user(name, "$argon2id$fake", time.time())
        assert await store.insert_user(user) is True
        by_id = await store.get_user(user.id)
        assert by_id == user
        assert await store.find_user(name.upper()) == user
        assert await store.find_user(f"nobody-{name}") is None
        assert await store.get_user("no-such-id") is None

    async def test_usernames_are_unique_even_under_concurrency(
        self, make_manager: MakeManager
    ) -> None:
        """Of many concurrent registrations of one name (any case), exactly one succeeds."""
        managers = [await make_manager() for _ in range(3)]
        name = f"race-{uuid.uuid4().hex[:8]}"
        users = [new_user(name if i % 2 else name.upper(), "h", time.time()) for i in range(12)]
        results = await asyncio.gather(
            *(users_of(managers[i % 3]).insert_user(u) for i, u in enumerate(users))
        )
        assert sum(results) == 1
        winner = users[results.index(True)]
        assert await users_of(managers[0]).find_user(name) == winner

    async def test_password_hash_can_be_replaced(self, sessions: SessionManager) -> None:
        """Setting a user's password hash changes it; an unknown user changes nothing."""
        store = users_of(sessions)
        user = new_user(f"pw-{uuid.uuid4().hex[:8]}", "old", 1.0)
        await store.insert_user(user)
        assert await store.set_password_hash(user.id, "new", 2.0) is True
        changed = await store.get_user(user.id)
        assert changed is not None
        assert (changed.password_hash, changed.password_changed_at) == ("new", 2.0)
        assert await store.set_password_hash("no-such-id", "x", 3.0) is False

    # -- counters --------------------------------------------------------------------------

    async def test_counters_count_within_a_window_and_restart_after(
        self, sessions: SessionManager
    ) -> None:
        """Hits add up within one window and start again at 1 in the next."""
        store = cast(CounterStore, sessions.store)
        key = f"test:{uuid.uuid4().hex}"
        wall = time.time()
        now = wall - wall % 60 + 1  # the current window (Redis expires keys by real time)
        assert [await store.hit(key, 60, now + i) for i in range(3)] == [1, 2, 3]
        assert await store.hit(key, 60, now + 60) == 1
        assert await store.hit(f"{key}-other", 60, now) == 1

    async def test_concurrent_hits_are_all_counted(self, make_manager: MakeManager) -> None:
        """Many concurrent hits on one key are counted exactly once each."""
        managers = [await make_manager() for _ in range(3)]
        key, now = f"race:{uuid.uuid4().hex}", time.time()
        counts = await asyncio.gather(
            *(cast(CounterStore, managers[i % 3].store).hit(key, 60, now) for i in range(30))
        )
        assert sorted(counts) == list(range(1, 31))

    # -- refresh families ------------------------------------------------------------------

    @pytest.fixture(name="refresh")
    def _refresh(self, sessions: SessionManager) -> RefreshTokens:
        return RefreshTokens(
            cast(RefreshStore, sessions.store), REFRESH_KEY, RefreshPolicy(grace=2)
        )

    @pytest.fixture(name="families")
    def _families(self, sessions: SessionManager) -> RefreshStore:
        return cast(RefreshStore, sessions.store)

    @pytest.fixture(name="stored_family")
    async def _stored_family(self, families: RefreshStore, user: str) -> tuple[RefreshFamily, str]:
        """A live family, kept in the store, and its first token."""
        family, token = new_family(user, time.time(), 3600)
        await families.insert_family(family)
        return family, token

    async def test_refresh_rotates_and_reuse_kills_the_family(
        self, refresh: RefreshTokens, user: str
    ) -> None:
        """Each use rotates; an old token after the grace window kills the family."""
        first = await refresh.issue(user)
        second = await refresh.rotate(first.token)
        assert second.family.generation == 1
        third = await refresh.rotate(second.token)
        with pytest.raises(InvalidRefreshToken, match="reuse"):
            await refresh.rotate(first.token)  # a stale ancestor
        with pytest.raises(InvalidRefreshToken, match="reuse"):
            await refresh.rotate(third.token)  # the family is gone
        assert await refresh.list_families(user) == []

    async def test_refresh_replay_within_grace_gets_the_same_successor(
        self, refresh: RefreshTokens, user: str
    ) -> None:
        """Two tabs presenting one token within the grace window both get the one successor."""
        first = await refresh.issue(user)
        a = await refresh.rotate(first.token)
        b = await refresh.rotate(first.token)
        assert a.token == b.token
        assert (await refresh.rotate(a.token)).family.generation == 2

    async def test_concurrent_refreshes_outside_grace_have_one_winner(
        self, sessions: SessionManager, user: str
    ) -> None:
        """Without grace, of many concurrent refreshes exactly one succeeds: one successor,
        never two, and no loser replays it. Later arrivals are reuse and may kill the family."""
        store = cast(RefreshStore, sessions.store)
        refresh = RefreshTokens(store, b"r" * 32, RefreshPolicy(grace=0))
        first = await refresh.issue(user)
        results = await asyncio.gather(
            *(refresh.rotate(first.token) for _ in range(10)), return_exceptions=True
        )
        assert sum(isinstance(r, IssuedRefresh) for r in results) == 1
        winners = {r.token for r in results if isinstance(r, IssuedRefresh)}
        assert all(isinstance(r, IssuedRefresh | InvalidRefreshToken) for r in results)
        families = await refresh.list_families(user)
        assert [f.generation for f in families] in ([1], [])  # alive once, or killed as reuse
        if families:
            assert (await refresh.rotate(winners.pop())).family.generation == 2

    async def test_refresh_families_revoke_one_or_all_and_store_digests_only(
        self, refresh: RefreshTokens, user: str, dump_backend: DumpBackend
    ) -> None:
        """Families are listed per user, revoked one or all at once; no secret is stored."""
        a, b = await refresh.issue(user), await refresh.issue(user)
        dump = await dump_backend(cast(SessionStore, refresh.store), user)
        assert a.token.split(".")[1].encode() not in dump
        assert len(await refresh.list_families(user)) == 2
        assert await refresh.revoke(a.token) is True
        with pytest.raises(InvalidRefreshToken):
            await refresh.rotate(a.token)
        assert await refresh.revoke_user(user) == 1
        with pytest.raises(InvalidRefreshToken):
            await refresh.rotate(b.token)
        assert await refresh.list_families(user) == []

    async def test_rotate_family_swaps_a_live_family_whose_digest_is_current(
        self, families: RefreshStore, stored_family: tuple[RefreshFamily, str], user: str
    ) -> None:
        """rotate_family swaps in the speculated successor, keeps the expiry, answers the
        rotated family; the same swap again is refused and answers the family as it is."""
        family, token = stored_family
        spec = speculate(*split_refresh(token), key=REFRESH_KEY)
        now = time.time()
        swapped, after = await families.rotate_family(
            family.family_id, spec.expected, spec.current, spec.nonce, now
        )
        assert swapped is True
        assert after == rotated(family, spec.current, spec.nonce, now)
        assert after.expires_at == family.expires_at
        assert await families.list_families(user) == [after]
        again = await families.rotate_family(
            family.family_id, spec.expected, spec.current, spec.nonce, now + 1
        )
        assert again == (False, after)

    async def test_rotate_family_with_a_digest_not_current_changes_nothing(
        self, families: RefreshStore, stored_family: tuple[RefreshFamily, str], user: str
    ) -> None:
        """A rotation expecting any other digest is refused and answers the stored family."""
        family, _ = stored_family
        answer = await families.rotate_family(
            family.family_id, digest("not-the-secret"), b"\x01" * 32, b"\x02" * 16, time.time()
        )
        assert answer == (False, family)
        assert await families.list_families(user) == [family]

    async def test_rotate_family_refuses_an_expired_family(
        self, families: RefreshStore, stored_family: tuple[RefreshFamily, str], user: str
    ) -> None:
        """At or past its absolute expiry a family is not rotated, even with the right digest."""
        family, token = stored_family
        spec = speculate(*split_refresh(token), key=REFRESH_KEY)
        answer = await families.rotate_family(
            family.family_id, spec.expected, spec.current, spec.nonce, family.expires_at
        )
        assert answer == (False, family)
        assert await families.list_families(user) == [family]

    async def test_rotate_family_of_an_unknown_family_answers_none(
        self, families: RefreshStore, user: str
    ) -> None:
        """A family the store does not hold is not created: (False, None)."""
        family, token = new_family(user, time.time(), 3600)
        spec = speculate(*split_refresh(token), key=REFRESH_KEY)
        answer = await families.rotate_family(
            family.family_id, spec.expected, spec.current, spec.nonce, time.time()
        )
        assert answer == (False, None)
        assert await families.list_families(user) == []

    async def test_concurrent_rotate_family_has_exactly_one_winner(
        self, make_manager: MakeManager, user: str
    ) -> None:
        """Of many concurrent rotations of one secret, over several connections, exactly one
        swaps, and the family holds that one's successor."""
        stores = [cast(RefreshStore, (await make_manager()).store) for _ in range(4)]
        family, token = new_family(user, time.time(), 3600)
        await stores[0].insert_family(family)
        specs = [speculate(*split_refresh(token), key=REFRESH_KEY) for _ in range(20)]
        now = time.time()
        answers = await asyncio.gather(
            *(
                stores[i % 4].rotate_family(family.family_id, s.expected, s.current, s.nonce, now)
                for i, s in enumerate(specs)
            )
        )
        winners = [spec for spec, (swapped, _) in zip(specs, answers, strict=True) if swapped]
        assert len(winners) == 1
        [stored] = await stores[0].list_families(user)
        assert stored == rotated(family, winners[0].current, winners[0].nonce, now)

    async def test_refresh_rotation_is_one_store_call(
        self, sessions: SessionManager, user: str
    ) -> None:
        """Rotating a current refresh token costs exactly one store call."""
        counting = CountingStore(sessions.store)
        refresh = RefreshTokens(cast(RefreshStore, counting), REFRESH_KEY)
        first = await refresh.issue(user)
        counting.calls.clear()
        second = await refresh.rotate(first.token)
        third = await refresh.rotate(second.token)
        assert counting.calls == {"rotate_family": 2}
        assert third.family.generation == 2

    async def test_concurrent_refreshes_within_grace_all_get_the_one_successor(
        self, make_manager: MakeManager, user: str
    ) -> None:
        """Many tabs refreshing one token at once, over several connections, all get the
        same successor, and the family is rotated once."""
        refreshers = [
            RefreshTokens(cast(RefreshStore, (await make_manager()).store), REFRESH_KEY)
            for _ in range(4)
        ]
        first = await refreshers[0].issue(user)
        results = await asyncio.gather(*(refreshers[i % 4].rotate(first.token) for i in range(12)))
        assert len({r.token for r in results}) == 1
        assert [f.generation for f in await refreshers[0].list_families(user)] == [1]
        assert (await refreshers[1].rotate(results[0].token)).family.generation == 2

    async def test_refresh_of_an_expired_family_is_refused_and_drops_it(
        self, families: RefreshStore, user: str
    ) -> None:
        """Past its absolute lifetime a family's token is refused as expired, not as reuse,
        and the family is deleted."""
        clock = ManualClock(time.time())
        refresh = RefreshTokens(families, REFRESH_KEY, RefreshPolicy(3600), clock=clock)
        first = await refresh.issue(user)
        clock.advance(3600)
        with pytest.raises(InvalidRefreshToken) as refused:
            await refresh.rotate(first.token)
        assert refused.value.reason == "expired"
        assert await families.list_families(user) == []

    async def test_refresh_reuse_kills_the_family_naming_its_kind(
        self, families: RefreshStore, user: str
    ) -> None:
        """Reuse events name their kind: an old token after the grace window, an older
        ancestor, and any token of a family already killed."""
        seen: list[SecurityEvent] = []
        clock = ManualClock(time.time())
        refresh = RefreshTokens(
            families,
            REFRESH_KEY,
            RefreshPolicy(grace=2),
            events=SecurityEvents(seen.append),
            clock=clock,
        )
        first = await refresh.issue(user)
        second = await refresh.rotate(first.token)
        clock.advance(3)
        with pytest.raises(InvalidRefreshToken, match="reuse"):
            await refresh.rotate(first.token)
        with pytest.raises(InvalidRefreshToken, match="reuse"):
            await refresh.rotate(second.token)
        other = await refresh.issue(user)
        await refresh.rotate((await refresh.rotate(other.token)).token)
        with pytest.raises(InvalidRefreshToken, match="reuse"):
            await refresh.rotate(other.token)
        assert [(e.event, e.reason) for e in seen] == [
            ("refresh.reuse", "outside_grace"),
            ("refresh.reuse", "unknown_family"),
            ("refresh.reuse", "stale_ancestor"),
        ]
        assert await families.list_families(user) == []

    async def test_not_before_is_kept_per_user(self, sessions: SessionManager) -> None:
        """A user's "not before" is stored and read back; unknown users change nothing."""
        store = users_of(sessions)
        user = new_user(f"nbf-{uuid.uuid4().hex[:8]}", "h", 1.0)
        await store.insert_user(user)
        fresh = await store.get_user(user.id)
        assert fresh is not None
        assert fresh.not_before == 0.0
        assert await store.set_not_before(user.id, 1234.5) is True
        updated = await store.find_user(user.username)
        assert updated is not None
        assert updated.not_before == 1234.5
        assert await store.set_not_before("no-such-id", 1.0) is False
