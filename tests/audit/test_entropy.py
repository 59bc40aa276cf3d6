"""Session-id statistics on synthetic samples: CSPRNG ids pass, weak generators fail clearly.

Every CSPRNG test can fail by chance with probability at most 1e-6 (the
analysis's family-wise error rate); the weak generators are seeded.
"""

from __future__ import annotations

import base64
import json
import random
import secrets
import time
import uuid
from collections.abc import Callable

import jwt
import pytest
from itsdangerous import TimestampSigner

from revocable.audit.entropy import MIN_SAMPLES, analyse, chi2_sf
from revocable.core.tokens import mint_token

N = 200


def sample(make: Callable[[], str], n: int = N) -> list[str]:
    return [make() for _ in range(n)]


def codes(ids: list[str]) -> set[str]:
    return {p.code for p in analyse(ids).problems}


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("make", "encoding", "bits", "random_bits"),
    [
        (lambda: secrets.token_urlsafe(32), "base64url", 256, 256),
        (lambda: mint_token("beef")[0], "base64url", 272, 272),
        (lambda: secrets.token_hex(32), "hex", 256, 256),
        (lambda: secrets.token_hex(16), "hex", 128, 128),
        (lambda: base64.b64encode(secrets.token_bytes(24)).decode(), "base64", 192, 192),
        # 49 digits could hold 163 bits; a 160-bit number leaves the top ones at 0.
        (lambda: str(secrets.randbits(160)).rjust(49, "0"), "decimal", 163, 160),
    ],
    ids=["token_urlsafe-32", "revocable-token", "token_hex-32", "token_hex-16", "b64", "decimal"],
)
def test_csprng_ids_pass(
    make: Callable[[], str], encoding: str, bits: int, random_bits: int
) -> None:
    """CSPRNG ids of 128 bits and more: no problem; the capacity is the decoded length."""
    report = analyse(sample(make))
    assert report.problems == ()
    assert report.encoding == encoding
    assert round(report.capacity_bits) == bits
    assert report.estimated_bits == pytest.approx(random_bits, abs=1)


def test_last_base64url_character_is_judged_by_the_bits_it_carries() -> None:
    """32 bytes are 43 characters whose last carries 4 bits: 16 letters used is no bias."""
    ids = sample(lambda: secrets.token_urlsafe(32))
    assert len({i[-1] for i in ids}) <= 16
    report = analyse(ids)
    assert report.biased_positions == ()
    assert report.capacity_bits == 256


def test_counter_ids_fail_as_sequential_and_low_entropy() -> None:
    """A zero-padded hex counter has 128 bits of room, but few vary and they rise in order."""
    ids = [f"{n:032x}" for n in range(5_000, 5_000 + N)]
    report = analyse(ids)
    assert {"session_id_sequential", "session_id_low_entropy"} <= codes(ids)
    assert report.increasing_fraction == 1.0
    assert report.estimated_bits < 16


def test_a_decimal_counter_is_short_and_sequential() -> None:
    """Plain decimal counters ("1001", "1002") fail on length and order."""
    assert {"session_id_short", "session_id_sequential"} <= codes([str(n) for n in range(N)])


def test_timestamp_based_ids_fail_even_with_random_bits_appended() -> None:
    """Nanosecond time plus 64 random bits: 128 bits of room, about 80 vary, in order."""
    now = time.time_ns()
    ids = [f"{now + i * 1_000_003:016x}{secrets.token_hex(8)}" for i in range(N)]
    found = codes(ids)
    assert {"session_id_sequential", "session_id_low_entropy"} <= found
    assert analyse(ids).estimated_bits < 100


def test_64_bit_ids_are_too_short_however_random() -> None:
    """Eight random bytes are a perfect 64 bits: still under 128."""
    ids = sample(lambda: secrets.token_urlsafe(8))
    assert codes(ids) == {"session_id_short"}
    assert analyse(ids).capacity_bits == 64


@pytest.mark.parametrize(
    "make",
    [
        lambda rng: b64(bytes(rng.randrange(200) for _ in range(32))),
        lambda rng: b64(bytes(min(rng.randrange(256), rng.randrange(256)) for _ in range(32))),
        lambda rng: "".join(rng.choices("0123456789abcdef", weights=[2] + [1] * 15, k=64)),
    ],
    ids=["bytes-below-200", "min-of-two-bytes", "weighted-hex-digit"],
)
def test_biased_generators_fail(make: Callable[[random.Random], str]) -> None:
    """Generators with a skew fail as biased even when their length is ample."""
    rng = random.Random(1234)
    ids = [make(rng) for _ in range(N)]
    assert "session_id_biased" in codes(ids)


def test_fixed_bits_are_structure_not_bias() -> None:
    """Bytes with the top bit always 0: 224 random bits remain, which is enough."""
    ids = sample(lambda: b64(bytes(secrets.randbelow(128) for _ in range(32))))
    report = analyse(ids)
    assert report.problems == ()
    assert report.constant_bits == 32
    assert report.estimated_bits == pytest.approx(224, abs=1)


def test_uuid4_has_122_random_bits() -> None:
    """A UUID4 is judged as its 32 hex digits, 6 of whose bits are fixed: under 128."""
    ids = [str(uuid.uuid4()) for _ in range(N)]
    report = analyse(ids)
    assert report.encoding == "hex"
    assert codes(ids) == {"session_id_low_entropy"}
    assert report.estimated_bits == pytest.approx(122, abs=1)


def test_nanoid_style_ids_count_every_character() -> None:
    """21 characters of a 64-letter alphabet, all random (not bytes): 126 bits, under 128."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
    ids = sample(lambda: "".join(secrets.choice(alphabet) for _ in range(21)))
    assert analyse(ids).capacity_bits == 126
    assert codes(ids) == {"session_id_short"}


def test_duplicates_fail() -> None:
    """An id issued twice is a failure whatever the statistics say."""
    ids = sample(lambda: secrets.token_urlsafe(32))
    ids[7] = ids[3]
    assert codes(ids) == {"session_id_duplicate"}
    assert analyse(ids).duplicates == 1


def test_few_samples_judge_length_only() -> None:
    """Under MIN_SAMPLES ids only format, length and duplicates are judged, with a warning."""
    ids = sample(lambda: secrets.token_urlsafe(32), MIN_SAMPLES - 1)
    report = analyse(ids)
    assert not report.statistics
    assert [(p.severity, p.code) for p in report.problems] == [("warn", "too_few_samples")]
    assert codes(sample(lambda: secrets.token_urlsafe(8), 5)) == {
        "session_id_short",
        "too_few_samples",
    }


def test_jwts_are_recognised_not_judged() -> None:
    """A JWT session cookie is no random id: the report says jwt and judges nothing."""
    ids = [jwt.encode({"sub": str(i), "iat": i}, "k" * 32, algorithm="HS256") for i in range(N)]
    report = analyse(ids)
    assert report.encoding == "jwt"
    assert report.payload == "a JWT"
    assert report.problems == ()
    assert report.describe() == [
        f"{N} ids, {N} distinct, {report.min_length}-{report.max_length} characters: each one "
        "a JWT, a signed payload, so no entropy is estimated"
    ]


@pytest.mark.parametrize("user", ["alice", "audit-bot"], ids=["padded", "unpadded"])
def test_signed_payloads_are_recognised_whatever_their_padding(user: str) -> None:
    """Starlette's cookie (itsdangerous: base64 JSON . timestamp . HMAC) is a signed payload
    whether its base64 ends in "=" or not: never "text" with duplicates, never a JWT."""
    signer = TimestampSigner(secrets.token_bytes(16))
    payload = base64.b64encode(json.dumps({"user": user}).encode())
    ids = [signer.sign(payload).decode() for _ in range(N)]
    report = analyse(ids)
    assert report.encoding == "signed"
    assert report.payload == "itsdangerous-signed JSON (payload.timestamp.signature)"
    assert report.distinct < N  # the same cookie within a second: counted, not judged
    assert {p.code for p in report.problems} == {"session_id_duplicate"}


def test_unknown_formats_are_estimated_with_a_warning() -> None:
    """A structured value that is no signed payload is judged per character, and says so."""
    ids = sample(lambda: f"v1:{secrets.token_hex(4)}:{secrets.token_urlsafe(27)}")
    report = analyse(ids)
    assert report.encoding == "text"
    assert report.payload is None
    assert "session_id_format_unknown" in codes(ids)
    assert report.constant_bits > 0


def test_quoted_and_url_encoded_values_are_normalised() -> None:
    """Cookie values in quotes or %-encoded are judged as what they encode."""
    ids = [f'"{base64.b64encode(secrets.token_bytes(32)).decode()}"' for _ in range(N)]
    encoded = [i.strip('"').replace("=", "%3D").replace("+", "%2B") for i in ids]
    assert analyse(ids).capacity_bits == 256
    assert analyse(encoded).capacity_bits == 256


def test_report_never_holds_an_id() -> None:
    """Nothing in the report or its description repeats an id."""
    ids = sample(lambda: secrets.token_urlsafe(32))
    report = analyse(ids)
    text = repr(report) + "\n".join(report.describe())
    assert not any(i in text for i in ids)


def test_chi2_survival_function_matches_known_values() -> None:
    """The exact chi-square tail agrees with tables."""
    assert chi2_sf(3.841, 1) == pytest.approx(0.05, abs=1e-4)
    assert chi2_sf(5.991, 2) == pytest.approx(0.05, abs=1e-4)
    assert chi2_sf(82.529, 63) == pytest.approx(0.05, abs=1e-3)
    assert chi2_sf(0.0, 5) == 1.0
    assert chi2_sf(1000.0, 10) < 1e-100
    with pytest.raises(ValueError, match="df"):
        chi2_sf(1.0, 0)


def test_bad_arguments_are_refused() -> None:
    """No ids, or an alpha outside (0, 1), is a ValueError."""
    with pytest.raises(ValueError, match="at least one"):
        analyse([])
    with pytest.raises(ValueError, match="alpha"):
        analyse(["abc"], alpha=0)


def test_empty_values_are_short_not_a_crash() -> None:
    """Empty cookie values carry nothing: too short (and issued more than once)."""
    assert codes([""] * 30) == {"session_id_short", "session_id_duplicate"}
