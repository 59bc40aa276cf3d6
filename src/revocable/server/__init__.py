"""The reference server: a small real app on revocable (``revocable serve``)."""

from revocable.server.app import create_app

__all__ = ["create_app"]
