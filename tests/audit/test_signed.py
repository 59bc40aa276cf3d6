"""Recognising signed-payload cookies by decoding them, not by their first characters (no I/O)."""

from __future__ import annotations

import base64
import json
import secrets
import zlib

import jwt
import pytest
from itsdangerous import Signer, TimestampSigner, URLSafeTimedSerializer

from revocable.audit.jwts import peek
from revocable.audit.signed import recognise

KEY = secrets.token_bytes(32)


def starlette_cookie(session: dict[str, object]) -> str:
    """What Starlette's SessionMiddleware sets: b64encode(json), signed with a timestamp."""
    return TimestampSigner(KEY).sign(base64.b64encode(json.dumps(session).encode())).decode()


@pytest.mark.parametrize(
    "session",
    [
        {"user": "alice"},  # base64 padded with "="
        {"user": "audit-bot"},  # unpadded: "eyJ….….…", shaped like a JWT
        {"user": "a?>?>"},  # standard base64 with "+" or "/"
    ],
    ids=["padded", "unpadded", "plus-slash"],
)
def test_starlette_session_cookies_are_signed_payloads(session: dict[str, object]) -> None:
    """Whatever its padding, a Starlette session cookie is itsdangerous-signed JSON, and C7's
    JWT reader agrees it is not a JWT."""
    cookie = starlette_cookie(session)
    found = recognise(cookie)
    assert found is not None
    assert found.kind == "itsdangerous"
    assert found.timestamped
    assert found.fields == ("user",)
    assert found.describe() == "itsdangerous-signed JSON (payload.timestamp.signature)"
    assert peek(cookie) is None
    assert recognise(f'"{cookie}"') == found  # a quoted cookie value


def test_flask_session_cookies_are_signed_payloads() -> None:
    """Flask's session cookie (URLSafeTimedSerializer), compressed (".eJ…") or not."""
    serializer = URLSafeTimedSerializer(KEY, salt="cookie-session")
    small = recognise(serializer.dumps({"_user_id": "1"}))
    big = recognise(serializer.dumps({"_user_id": "1", "csrf_token": "a" * 80}))
    assert small is not None
    assert big is not None
    assert (small.kind, small.compressed) == ("itsdangerous", False)
    assert (big.kind, big.compressed) == ("itsdangerous", True)
    assert big.describe() == (
        "itsdangerous-signed zlib-compressed JSON (.payload.timestamp.signature)"
    )
    assert big.fields == ("_user_id", "csrf_token")


def test_an_untimed_signature_is_a_signed_payload() -> None:
    """itsdangerous' plain Signer: payload.signature, no timestamp."""
    payload = base64.urlsafe_b64encode(b'{"uid": 7}').rstrip(b"=")
    found = recognise(Signer(KEY).sign(payload).decode())
    assert found is not None
    assert not found.timestamped


def test_jwts_are_recognised_with_their_exp() -> None:
    """A JWT is a signed payload of kind JWT, with its exp for the cleanup note."""
    token = jwt.encode({"sub": "u", "exp": 2_000_000_000}, KEY, algorithm="HS256")
    found = recognise(token)
    assert found is not None
    assert (found.kind, found.exp, found.describe()) == ("JWT", 2_000_000_000, "a JWT")


@pytest.mark.parametrize(
    "value",
    [
        secrets.token_urlsafe(32),  # a random id
        secrets.token_hex(32),
        f"eyJ{secrets.token_urlsafe(20)}.{secrets.token_urlsafe(4)}.{secrets.token_urlsafe(27)}",
        f"s:{secrets.token_urlsafe(24)}.{secrets.token_urlsafe(32)}",  # express: a signed id
        "eyJ1IjoxfQ.abc.short",  # JSON, but no signature worth the name
        "eyJ1IjoxfQ." + "!" * 30,  # a signature of the wrong alphabet
        "W10." + secrets.token_urlsafe(27),  # "[]": JSON, but not an object
        "."
        + base64.urlsafe_b64encode(zlib.compress(b"x" * 200_000)).decode()
        + "."
        + secrets.token_urlsafe(27),  # inflates beyond the bound
        "",
    ],
    ids=[
        "random",
        "hex",
        "jwt-shaped-garbage",
        "signed-random-id",
        "short-signature",
        "bad-signature",
        "json-array",
        "zip-bomb",
        "empty",
    ],
)
def test_random_ids_and_lookalikes_are_not_signed_payloads(value: str) -> None:
    """Only a JSON object with a signature part counts; the rest is left to the statistics."""
    assert recognise(value) is None


def test_nothing_of_the_value_is_repeated() -> None:
    """The description and repr name the shape and field names, never a value."""
    cookie = starlette_cookie({"user": "secret-name-123"})
    found = recognise(cookie)
    assert found is not None
    assert "secret-name-123" not in repr(found) + found.describe()
