"""Fixtures shared across test packages."""

from tests.servers import redis_server_fixture, serve_fixture

# Fixtures (named "redis_server" and "serve"), re-exported for pytest.
__all__ = ["redis_server_fixture", "serve_fixture"]
