"""Fixtures shared across test packages."""

from tests.servers import redis_server_fixture

__all__ = ["redis_server_fixture"]  # a fixture (named "redis_server"), re-exported for pytest
