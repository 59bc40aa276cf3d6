"""User records and the rules for usernames and passwords, as pure functions."""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass

from revocable.errors import InvalidInput

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "UserRecord",
    "check_password",
    "new_user",
    "username_key",
]

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # hashing is deliberately slow: bound what one request can ask for
MAX_USERNAME_LENGTH = 64


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user of the built-in user store. ``password_hash`` is an argon2id PHC string."""

    id: str
    username: str
    password_hash: str = ""
    created_at: float = 0.0
    password_changed_at: float = 0.0
    not_before: float = 0.0
    """Access tokens issued before this moment are revoked ("log out all devices")."""

    def __repr__(self) -> str:  # the hash stays out of logs and tracebacks
        return f"UserRecord(id={self.id!r}, username={self.username!r})"

    @property
    def key(self) -> str:
        """The username as compared for uniqueness."""
        return username_key(self.username)


def username_key(username: str) -> str:
    """The form of a username that uniqueness is checked on (NFKC, case-folded)."""
    return unicodedata.normalize("NFKC", username).casefold()


def _clean_username(username: object) -> str:
    if not isinstance(username, str):
        raise InvalidInput("username must be text")
    name = unicodedata.normalize("NFKC", username).strip()
    if not 0 < len(name) <= MAX_USERNAME_LENGTH:
        raise InvalidInput(f"username must be 1 to {MAX_USERNAME_LENGTH} characters")
    if not name.isprintable():
        raise InvalidInput("username must not contain control characters")
    return name


def check_password(password: object) -> str:
    """The password if it may be set; ``InvalidInput`` naming the rule otherwise."""
    if not isinstance(password, str):
        raise InvalidInput("password must be text")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"password must be at most {MAX_PASSWORD_LENGTH} characters")
    if "\x00" in password:
        raise InvalidInput("password must not contain NUL characters")
    try:
        password.encode()
    except UnicodeEncodeError:
        raise InvalidInput("password must be valid Unicode text") from None
    return password


def new_user(username: object, password_hash: str, now: float) -> UserRecord:
    """A new user with a random id; the username is normalised and checked."""
    return UserRecord(
        id=secrets.token_urlsafe(16),
        username=_clean_username(username),
        password_hash=password_hash,
        created_at=now,
        password_changed_at=now,
    )
