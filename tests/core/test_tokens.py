"""Token minting and strict parsing, with no store."""

from __future__ import annotations

import base64
import collections
import hashlib

import pytest

from revocable.core.tokens import (
    HANDLE_LENGTH,
    TOKEN_LENGTH,
    TokenRef,
    is_handle,
    mint_token,
    new_handle,
    parse_token,
    route_for,
)
from revocable.errors import MalformedToken


def test_minted_token_parses_back_to_its_reference() -> None:
    """A minted token is 46 base64url characters and parses to the same digest and route."""
    route = route_for("alice")
    token, ref = mint_token(route)
    assert len(token) == TOKEN_LENGTH
    assert parse_token(token) == ref
    assert ref.route == route
    assert ref.digest == hashlib.sha256(base64.urlsafe_b64decode(token + "==")).digest()


def test_a_reference_is_a_token_ref_and_its_key_is_unpadded_base64url() -> None:
    """parse_token answers a real TokenRef; its key is the digest in unpadded base64url."""
    for _ in range(200):
        token, ref = mint_token(route_for("alice"))
        parsed = parse_token(token)
        assert type(parsed) is TokenRef
        assert parsed.route == ref.route
        assert parsed.key == base64.urlsafe_b64encode(ref.digest).rstrip(b"=").decode()
        assert len(parsed.key) == 43


def test_route_is_recovered_from_the_token_alone() -> None:
    """Any token of a user yields that user's routing tag, so stores can find its slot."""
    for user in ("alice", "bob", "李", "x" * 256):
        route = route_for(user)
        assert {parse_token(mint_token(route)[0]).route for _ in range(20)} == {route}


def test_routing_bytes_look_random_across_tokens_of_one_user() -> None:
    """The routing bytes are masked: one user's tokens do not share a visible prefix or suffix."""
    route = route_for("alice")
    tails = collections.Counter(mint_token(route)[0][-3:] for _ in range(500))
    assert len(tails) > 400  # 3 characters carry ~14 random bits: near-unique


def test_tokens_are_unique_and_carry_256_random_bits() -> None:
    """Tokens never repeat, and every bit of the random part varies."""
    route = route_for("alice")
    raws = [base64.urlsafe_b64decode(mint_token(route)[0] + "==")[:32] for _ in range(400)]
    assert len(set(raws)) == len(raws)
    for bit in range(256):
        ones = sum((raw[bit // 8] >> (bit % 8)) & 1 for raw in raws)
        assert 120 < ones < 280, bit  # far outside ±7 sigma of 200 means a stuck bit


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "A" * 45,
        "A" * 47,
        "A" * 45 + "B",  # non-canonical last character (unused bits set)
        "A" * 44 + "+A",  # standard base64, not base64url
        "A" * 44 + "=A",
        "é" * 46,
        "\x00" * 46,
        "A" * 45 + "\n",
        "A" * 10_000_000,
        None,
        46,
        b"A" * 46,
    ],
)
def test_malformed_tokens_are_refused(bad: object) -> None:
    """Anything that is not a canonical 46-character base64url token is refused."""
    with pytest.raises(MalformedToken) as info:
        parse_token(bad)
    assert "AAAA" not in str(info.value)  # the message never echoes the input


def test_handles_are_random_and_recognisable() -> None:
    """Handles are 22 base64url characters, unique, and unrelated to tokens."""
    handles = {new_handle() for _ in range(200)}
    assert len(handles) == 200
    assert all(len(h) == HANDLE_LENGTH and is_handle(h) for h in handles)
    for bad in ("", "x" * 22, "A" * 21 + "B", "A" * 23, None, "é" * 22):
        assert not is_handle(bad)
