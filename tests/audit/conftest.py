"""Fixtures for the auditor's tests: apps served by uvicorn on a free loopback port."""

from __future__ import annotations

import secrets
from typing import Any, cast

import pytest

from revocable.audit.target import Target, with_tokens
from revocable.keys import KeyRing, SigningKey
from revocable.passwords import PasswordHasher
from revocable.refresh import RefreshPolicy
from revocable.server.app import create_app
from revocable.stores.base import Store
from revocable.stores.memory import MemoryStore
from tests.servers import Serve


def reference_app(**options: Any) -> Any:
    """The reference server on a memory store, with a fresh CSRF key and a fast test hasher;
    its token endpoints on, with a refresh grace window of 0.5 s (C8 waits past it: audits
    with the preset set grace_wait 1, see ``quick_tokens``; the default is 5 s and 6 s)."""
    options.setdefault("login_limit", None)
    options.setdefault("signing_keys", KeyRing([SigningKey.generate()]))
    options.setdefault("refresh_key", secrets.token_bytes(32))
    options.setdefault("refresh_policy", RefreshPolicy(grace=0.5))
    return create_app(
        cast(Store, MemoryStore()),
        [secrets.token_bytes(32)],
        hasher=PasswordHasher.for_testing(),
        **options,
    )


@pytest.fixture(name="reference_url")
async def _reference_url(serve: Serve) -> str:
    """The reference server (no login rate limit), served on loopback."""
    return await serve(reference_app())


def quick_tokens(target: Target) -> Target:
    """``target`` with C8 waiting 1 s past a rotation (``reference_app``'s grace is 0.5 s)."""
    return with_tokens(target, grace_wait=1.0)
