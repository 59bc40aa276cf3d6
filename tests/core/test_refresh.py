"""Refresh rotation decisions, with no store: rotate, replay within grace, kill on reuse."""

from __future__ import annotations

import pytest

from revocable.core.refresh import (
    Expired,
    Kill,
    RefreshFamily,
    Replay,
    Rotate,
    decide,
    digest,
    new_family,
    parse_refresh_token,
    rotated,
    speculate,
    successor_secret,
)

KEY = b"k" * 32
NOW = 1_800_000_000.0
DAY = 86400.0


def split(token: str) -> tuple[str, str]:
    parsed = parse_refresh_token(token)
    assert parsed is not None
    return parsed


def rotate(family: RefreshFamily, token: str, now: float) -> tuple[RefreshFamily, str]:
    family_id, secret = split(token)
    decision = decide(family, family_id, secret, now, key=KEY, grace=5)
    assert isinstance(decision, Rotate)
    assert decision.expected == family.current
    return decision.family, decision.token


def test_a_new_family_stores_only_a_digest() -> None:
    """The first token parses; the family keeps its secret's digest, never the secret."""
    family, token = new_family("alice", NOW, 30 * DAY)
    family_id, secret = split(token)
    assert family.family_id == family_id
    assert family.current == digest(secret)
    assert secret.encode() not in repr(family).encode()
    assert family.expires_at == NOW + 30 * DAY


def test_rotation_chains_and_never_extends_the_family() -> None:
    """Each use rotates: a new secret, the old one remembered, the deadline unchanged."""
    family, first = new_family("alice", NOW, 30 * DAY)
    family, second = rotate(family, first, NOW + 60)
    family, third = rotate(family, second, NOW + 120)
    assert len({first, second, third}) == 3
    assert family.generation == 2
    assert family.expires_at == NOW + 30 * DAY


def test_replay_within_grace_returns_the_same_successor() -> None:
    """Two tabs presenting one token at once both get the one successor, not a new one."""
    family, first = new_family("alice", NOW, 30 * DAY)
    rotated, successor = rotate(family, first, NOW)
    family_id, secret = split(first)
    again = decide(rotated, family_id, secret, NOW + 4, key=KEY, grace=5)
    assert isinstance(again, Replay)
    assert again.token == successor
    assert again.family == rotated  # nothing to write


def test_reuse_outside_grace_kills_the_family() -> None:
    """The rotated secret after the grace window, or any older one, kills the family."""
    family, first = new_family("alice", NOW, 30 * DAY)
    family, second = rotate(family, first, NOW)
    family, _third = rotate(family, second, NOW + 60)
    late = decide(family, *split(second), NOW + 70, key=KEY, grace=5)
    assert late == Kill(family.family_id, "alice", "outside_grace")
    ancestor = decide(family, *split(first), NOW + 70, key=KEY, grace=5)
    assert ancestor == Kill(family.family_id, "alice", "stale_ancestor")


def test_unknown_family_and_expiry() -> None:
    """A family the store does not know is reuse; an expired one is refused."""
    family, token = new_family("alice", NOW, 60)
    assert decide(None, *split(token), NOW, key=KEY, grace=5) == Kill(
        family.family_id, None, "unknown_family"
    )
    assert decide(family, *split(token), NOW + 60, key=KEY, grace=5) == Expired(family.family_id)


def test_successors_depend_on_the_server_key_and_a_fresh_nonce() -> None:
    """Without the key the successor cannot be computed; each rotation draws a new nonce."""
    family, first = new_family("alice", NOW, DAY)
    a = decide(family, *split(first), NOW, key=KEY, grace=5)
    b = decide(family, *split(first), NOW, key=KEY, grace=5)
    c = decide(family, *split(first), NOW, key=b"x" * 32, grace=5)
    assert isinstance(a, Rotate)
    assert isinstance(b, Rotate)
    assert isinstance(c, Rotate)
    assert len({a.token, b.token, c.token}) == 3
    assert a.family.nonce != b.family.nonce


def test_speculation_is_the_successor_for_its_own_nonce() -> None:
    """A speculation expects the presented secret's digest and holds the successor that
    its nonce derives, in a well-formed token of the same family, with its digest."""
    family, token = new_family("alice", NOW, DAY)
    family_id, secret = split(token)
    spec = speculate(family_id, secret, key=KEY)
    assert spec.expected == family.current
    new_id, new_secret = split(spec.token)
    assert new_id == family_id
    assert new_secret == successor_secret(KEY, family_id, secret, spec.nonce)
    assert spec.current == digest(new_secret)
    assert len(spec.nonce) == 16
    assert spec.token not in repr(spec)


def test_each_speculation_draws_a_fresh_nonce() -> None:
    """Two speculations on one token never share a nonce or a successor."""
    family_id, secret = split(new_family("alice", NOW, DAY)[1])
    specs = [speculate(family_id, secret, key=KEY) for _ in range(50)]
    assert len({s.nonce for s in specs}) == 50
    assert len({s.token for s in specs}) == 50


def test_a_stored_speculation_is_what_a_replay_hands_out_again() -> None:
    """Once a store applied a speculation, presenting the same token within grace replays
    exactly the speculated successor, and that successor rotates on."""
    family, token = new_family("alice", NOW, DAY)
    spec = speculate(*split(token), key=KEY)
    after = rotated(family, spec.current, spec.nonce, NOW)
    assert (after.previous, after.generation, after.rotated_at) == (family.current, 1, NOW)
    assert after.expires_at == family.expires_at
    replay = decide(after, *split(token), NOW + 1, key=KEY, grace=5)
    assert replay == Replay(after, spec.token)
    assert isinstance(decide(after, *split(spec.token), NOW + 1, key=KEY, grace=5), Rotate)


@pytest.mark.parametrize(
    "token",
    ["", "a.b", "A" * 22 + "." + "B" * 42, "A" * 22 + ":" + "B" * 43, None, 5, "é" * 66],
)
def test_malformed_tokens_are_refused_before_the_store(token: object) -> None:
    """Anything but familyId(22).secret(43) in base64url is refused at parse time."""
    assert parse_refresh_token(token) is None


def test_family_ids_carry_the_users_route_invisibly() -> None:
    """A family id yields its user's routing tag; ids of one user share no visible bytes."""
    from revocable.core.refresh import family_route
    from revocable.core.tokens import route_for

    ids = [new_family("alice", NOW, DAY)[0].family_id for _ in range(200)]
    assert {family_route(i) for i in ids} == {route_for("alice")}
    assert len({i[-3:] for i in ids}) > 150
