"""Property-based tests (hypothesis) of every parser that sees attacker-controlled text:
JWT pre-check and verification, refresh tokens, session tokens and Cookie headers.

The properties: no input makes a parser raise anything but its own typed refusal;
what we mint always parses; and any change to a signed token is refused.
"""

from __future__ import annotations

import base64
import contextlib
import json
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revocable import InvalidAccessToken, MalformedToken
from revocable.access import AccessTokenPolicy, AccessTokens
from revocable.core.cookies import find_cookie, parse_cookie_header
from revocable.core.jwtcheck import precheck
from revocable.core.refresh import new_family, parse_refresh_token
from revocable.core.tokens import mint_token, parse_token, route_for
from revocable.keys import KeyRing, SigningKey

TOKENS = AccessTokens(
    KeyRing([SigningKey.generate()]),
    AccessTokenPolicy(issuer="https://auth.example", audience="api"),
    cache_size=0,  # every verification does the whole work
)
B64URL = string.ascii_letters + string.digits + "-_"
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@st.composite
def jwt_shaped(draw: st.DrawFn) -> str:
    """Three base64url parts holding arbitrary JSON (or arbitrary bytes)."""
    parts = []
    for _ in range(3):
        if draw(st.booleans()):
            value = draw(st.dictionaries(st.text(max_size=8), json_values, max_size=6))
            parts.append(b64(json.dumps(value).encode()))
        else:
            parts.append(b64(draw(st.binary(max_size=64))))
    return ".".join(parts)


@given(st.one_of(st.text(max_size=300), jwt_shaped(), st.binary(max_size=100), st.integers()))
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_precheck_and_verify_refuse_anything_with_their_own_error(token: object) -> None:
    """Arbitrary input: ``InvalidAccessToken`` or (for shapes only) a header and claims,
    never another exception; verification of such input never succeeds."""
    try:
        header, claims = precheck(token, typ="at+jwt")
    except InvalidAccessToken:
        pass
    else:
        assert isinstance(header, dict)
        assert isinstance(claims, dict)
    try:
        TOKENS.verify(token)
    except InvalidAccessToken:
        return
    raise AssertionError("a random token verified")


@given(st.integers(min_value=0), st.sampled_from(B64URL + "=.+/ \x00é"))
@settings(max_examples=400)
def test_any_one_character_change_to_a_signed_token_is_refused(
    position: int, replacement: str
) -> None:
    """Change any one character of a valid token to anything else: always refused, by the
    pre-check (shape, canonical encoding) or by the signature."""
    token = TOKENS.mint("alice", family_id="f")
    index = position % len(token)
    if token[index] == replacement:
        return
    mutated = token[:index] + replacement + token[index + 1 :]
    try:
        TOKENS.verify(mutated)
    except InvalidAccessToken:
        return
    raise AssertionError(f"a token changed at {index} still verified")


@given(st.text(min_size=1, max_size=40))
def test_minted_tokens_always_verify(subject: str) -> None:
    """Whatever the subject (any Unicode), a minted token verifies and keeps it."""
    assert TOKENS.verify(TOKENS.mint(subject)).subject == subject


@given(st.one_of(st.text(max_size=100), st.binary(max_size=70), st.none(), st.integers()))
@settings(max_examples=300)
def test_refresh_token_parser_answers_none_or_two_parts(token: object) -> None:
    """``parse_refresh_token`` never raises; what it accepts is ``familyId.secret``."""
    parsed = parse_refresh_token(token)
    if parsed is not None:
        assert isinstance(token, str)
        assert f"{parsed[0]}.{parsed[1]}" == token


@given(st.text(min_size=1, max_size=20))
def test_refresh_tokens_we_mint_parse(user: str) -> None:
    family, token = new_family(user, 0.0, 60.0)
    assert parse_refresh_token(token) == (family.family_id, token.split(".")[1])


@given(st.one_of(st.text(max_size=60), st.text(alphabet=B64URL, min_size=46, max_size=46)))
@settings(max_examples=300)
def test_session_token_parser_refuses_with_malformed_token_only(token: str) -> None:
    """Any text: a reference, or ``MalformedToken``; never another exception."""
    with contextlib.suppress(MalformedToken):
        parse_token(token)


@given(st.text(min_size=1, max_size=20))
def test_session_tokens_we_mint_parse_back_to_their_route(user: str) -> None:
    route = route_for(user)
    token, ref = mint_token(route)
    assert parse_token(token) == ref
    assert ref.route == route


@given(st.one_of(st.text(max_size=400), st.binary(max_size=400)), st.text(B64URL, min_size=1))
@settings(max_examples=400)
def test_cookie_parsers_never_raise_and_agree(header: str | bytes, name: str) -> None:
    """Any Cookie header: no exception, and the fast single-cookie lookup gives the same
    answer as the full parser (empty values count as none)."""
    cookies = parse_cookie_header(header)
    assert find_cookie(header, name) == (cookies.get(name) or None)
