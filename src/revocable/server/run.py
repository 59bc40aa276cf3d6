"""Running the reference server: its keys on disk, the store and uvicorn in one event loop."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import importlib
import importlib.util
import logging
import os
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import uvicorn

from revocable.accounts import DEFAULT_LOGIN_LIMIT
from revocable.core.ratelimit import RateLimit
from revocable.keys import KeyRing, SigningKey
from revocable.server.app import create_app
from revocable.stores.url import open_store
from revocable.tokenauth import TokenCookies

log = logging.getLogger("revocable.server")

__all__ = [
    "event_loop_factory",
    "load_or_create_keys",
    "load_or_create_signing_key",
    "load_signing_ring",
    "refresh_key_from",
    "run_server",
]


def load_or_create_keys(path: str | Path) -> list[bytes]:
    """The CSRF keys in ``path`` (hex, one per line, oldest first), creating one if missing.

    A new file is created with mode 0600 and never overwritten.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32) + "\n")
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    keys = [bytes.fromhex(line) for line in lines]
    if not keys or any(len(k) < 32 for k in keys):
        raise ValueError("it must hold keys of 32 or more bytes, as hex, one per line")
    return keys


def load_or_create_signing_key(path: str | Path) -> SigningKey:
    """The Ed25519 signing key in ``path`` (PKCS#8 PEM), generating it (mode 0600) if missing."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        _warn_if_readable_by_others(path)
        return SigningKey.from_pem(path.read_bytes())
    key = SigningKey.generate("EdDSA")
    with os.fdopen(fd, "wb") as out:
        out.write(key.to_pem())
    return key


def load_signing_ring(paths: Sequence[str | Path], bundle: str | None = None) -> KeyRing:
    """The access-token key ring: PEM keys from ``bundle`` (an environment variable's text)
    if given, else from ``paths``, oldest first; the last one signs, the others still verify
    (rotation without logging anyone out). A single missing file is generated (mode 0600)."""
    if bundle:
        return KeyRing.from_pem_bundle(bundle)
    if len(paths) == 1:
        return KeyRing([load_or_create_signing_key(paths[0])])
    keys = []
    for path in paths:
        _warn_if_readable_by_others(Path(path))
        keys.append(SigningKey.from_pem(Path(path).read_bytes()))
    return KeyRing(keys)


def _warn_if_readable_by_others(path: Path) -> None:
    if path.stat().st_mode & 0o077:
        log.warning("%s is readable by other users; chmod 600 it", path)


def refresh_key_from(csrf_keys: list[bytes]) -> bytes:
    """The refresh-successor key, derived from the newest server key for its own purpose."""
    return hmac.new(csrf_keys[-1], b"revocable.refresh-key", hashlib.sha256).digest()


async def run_server(
    store_url: str,
    keys: list[bytes],
    *,
    host: str,
    port: int,
    insecure: bool,
    login_limit: RateLimit | None = DEFAULT_LOGIN_LIMIT,
    trusted_proxies: Sequence[str] = (),
    public_origin: str | None = None,
    signing_keys: KeyRing | None = None,
    access_same_site: Literal["strict", "lax"] = "strict",
) -> None:
    """Open the store, serve until SIGINT/SIGTERM (uvicorn drains requests), close the store."""
    _log_to_stderr()
    store = await open_store(store_url)
    try:
        app = create_app(
            store,
            keys,
            insecure_cookies=insecure,
            login_limit=login_limit,
            trusted_proxies=trusted_proxies,
            public_origin=public_origin,
            signing_keys=signing_keys,
            refresh_key=refresh_key_from(keys),
            token_cookies=TokenCookies(access_same_site=access_same_site),
        )
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            server_header=False,
            proxy_headers=False,  # client IPs come from the socket unless a proxy is configured
            access_log=False,  # ours (revocable.access) has request ids and never a query
            timeout_graceful_shutdown=10,
        )
        loop = (
            "uvloop"
            if type(asyncio.get_running_loop()).__module__.startswith("uvloop")
            else "asyncio"
        )
        parser = "httptools" if importlib.util.find_spec("httptools") else "h11"
        log.info("serving on %s:%d: event loop %s, HTTP parser %s", host, port, loop, parser)
        await uvicorn.Server(config).serve()
    finally:
        await store.close()


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (no extra brings it), else None (asyncio's
    own). Run ``run_server`` in ``asyncio.Runner(loop_factory=...)``: uvicorn picks its
    loop only when it creates the loop itself. Its HTTP parser needs nothing: uvicorn
    uses httptools whenever it is installed, h11 otherwise.
    """
    try:
        # By name: uvloop is optional, and typed only where it is installed.
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def _log_to_stderr() -> None:
    """Access and security events as lines on stderr, next to uvicorn's own."""
    logger = logging.getLogger("revocable")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
