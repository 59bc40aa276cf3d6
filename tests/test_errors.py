"""Messages that name a store URL never carry its password."""

from __future__ import annotations

import math

import pytest

from revocable import ConfigurationError, InvalidStoreURL, open_store
from revocable.errors import redact_url
from revocable.stores.postgres import PostgresStore
from revocable.stores.redis import RedisStore
from revocable.stores.sqlite import SQLiteStore


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://admin:s3cret@db/x", "postgresql://admin:***@db/x"),
        ("postgresql://admin:s3#cr/et@db/x", "postgresql://admin:***@db/x"),
        ("postgresql://db/x?user=a&password=s3cret", "postgresql://db/x?user=a&password=***"),
        ("redis://h/0?token=s3cret", "redis://h/0?token=***"),
        ("s3cret", "<not a URL>"),
        ("redis://h:6379/0", "redis://h:6379/0"),
    ],
)
def test_redaction_masks_passwords_everywhere_in_a_url(url: str, shown: str) -> None:
    """Passwords in the userinfo or the query are masked; non-URLs are not echoed."""
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://admin:Sup3r#Secret@127.0.0.1:5432/db",
        "postgresql://admin:Sup3r/Secret:x@127.0.0.1/db",
        "Sup3rSecret",
        "redis://u:Sup3rSecret@127.0.0.1:6379/0?socket_timeout=abc",
    ],
)
async def test_bad_store_urls_never_leak_the_password(url: str) -> None:
    """Malformed URLs give InvalidStoreURL whose message holds no part of the password."""
    with pytest.raises(InvalidStoreURL) as info:
        await open_store(url)
    assert "Sup3r" not in str(info.value)
    assert "Secret" not in str(info.value)


@pytest.mark.parametrize("timeout", [math.nan, math.inf, 0.0, -1.0])
async def test_store_timeouts_must_be_finite_and_positive(timeout: float, tmp_path: object) -> None:
    """A NaN or infinite timeout would never fire: every store refuses it."""
    with pytest.raises(ConfigurationError, match="timeout"):
        await SQLiteStore.open(f"{tmp_path}/x.db", timeout=timeout)
    with pytest.raises(ConfigurationError, match="timeout"):
        await RedisStore.open("redis://127.0.0.1:1/0", timeout=timeout)
    with pytest.raises(ConfigurationError, match="timeout"):
        await PostgresStore.open("postgresql://127.0.0.1:1/x", timeout=timeout)
