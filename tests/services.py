"""Where the test servers are, and what to do when one cannot be reached.

On CI (``CI=true``) an unreachable Redis or PostgreSQL fails the run; on a
developer machine the tests that need it are skipped with the way to start it.
"""

from __future__ import annotations

import os
import socket
from functools import cache
from urllib.parse import urlsplit

import pytest

REDIS_URL = os.environ.get("REVOCABLE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get(
    "REVOCABLE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

_HOW_TO_START = {
    "redis": "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' "
    "--appendonly no  (or set REVOCABLE_TEST_REDIS_URL)",
    "postgresql": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start  "
    "(or set REVOCABLE_TEST_POSTGRES_URL)",
}


@cache
def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), 1.0):
            return True
    except OSError:
        return False


def require(service: str, url: str) -> str:
    """The URL if its server answers; else fail on CI, skip elsewhere."""
    if _reachable(url):
        return url
    message = f"{service} is not reachable at {urlsplit(url).netloc}; start it with: "
    message += _HOW_TO_START[service]
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
