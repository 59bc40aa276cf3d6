"""revocable: web authentication in which every credential can be revoked at once."""

from revocable.config import SessionPolicy
from revocable.core.sessions import SessionRecord
from revocable.errors import (
    ConfigurationError,
    InvalidAccessToken,
    InvalidInput,
    InvalidStoreURL,
    KeySourceUnavailable,
    MalformedToken,
    RevocableError,
    StoreCorrupted,
    StoreError,
    StoreUnavailable,
)
from revocable.sessions import IssuedSession, SessionManager
from revocable.stores.base import SessionStore
from revocable.stores.memory import MemoryStore
from revocable.stores.url import open_store

__version__ = "0.1.0"

__all__ = [
    "ConfigurationError",
    "InvalidAccessToken",
    "InvalidInput",
    "InvalidStoreURL",
    "IssuedSession",
    "KeySourceUnavailable",
    "MalformedToken",
    "MemoryStore",
    "RevocableError",
    "SessionManager",
    "SessionPolicy",
    "SessionRecord",
    "SessionStore",
    "StoreCorrupted",
    "StoreError",
    "StoreUnavailable",
    "__version__",
    "open_store",
]
