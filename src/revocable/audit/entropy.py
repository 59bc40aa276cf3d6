"""Session-id statistics: how many bits a sample of ids can carry and whether they look random.

No I/O: ``analyse`` takes the ids (in the order they were issued) and returns an
:class:`EntropyReport`. It never returns or prints an id.

What it measures, for N ids:

* **format**: the alphabet (decimal, hex, base64url, base64; anything else is
  "text" and judged roughly, per character), and the **capacity**: the bits
  the format can carry. For base64 that is the decoded length: 32 bytes are 43
  characters, and the last one carries only 4 bits (it can only be one of 16
  letters), so positions are judged by the bits they *can* carry, never as bias.
* **duplicates** (any is a failure: 200 ids of even 64 random bits never collide).
* **per-bit balance** (hex and base64): bits that never change are structure and
  carry nothing; bits that change but lean to 0 or 1 are bias. Plus one
  balance test over all varying bits together, which finds a slight bias spread
  over every bit.
* **per-position chi-square**: each character position's values against a
  uniform distribution over the values it can take, and the sum over all
  positions (a diffuse bias).
* **order**: ids read as numbers that rise (or fall) far more often than chance
  (the number of ascents in a random sequence has mean (N-1)/2 and variance
  (N+1)/12) are counters or timestamps.
* **estimated bits**: the capacity minus what the tests found: constant bits
  count 0, biased bits and positions their measured entropy.

Signed payloads (JWTs, itsdangerous values such as Starlette's and Flask's
session cookies; see ``signed``) are recognised by decoding them and judged not
at all: their encoding is "jwt" or "signed", their ``payload`` says what they
are, and only duplicates are counted. They are not random ids.

Every test runs at a family-wise error rate of ``alpha`` (1e-6 by default,
Bonferroni-split), so ids from a CSPRNG are flagged about once in a million
audits. Statistics can prove a generator weak, never strong: a seeded
Mersenne Twister passes every test here. That is why the check also demands
128 bits of *capacity*, and why ids must come from ``secrets``/``os.urandom``.
"""

from __future__ import annotations

import itertools
import math
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

from revocable.audit.signed import recognise

__all__ = [
    "DEFAULT_ALPHA",
    "MIN_SAMPLES",
    "EntropyReport",
    "Problem",
    "analyse",
    "chi2_sf",
]

Encoding = Literal["decimal", "hex", "base64url", "base64", "jwt", "signed", "text"]

MIN_SAMPLES = 20
"""Below this many ids only the format, length and duplicates are judged."""
DEFAULT_ALPHA = 1e-6

_B64URL = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
_B64 = string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/"
_B64URL_INDEX = {c: i for i, c in enumerate(_B64URL)}
_B64_INDEX = {c: i for i, c in enumerate(_B64)}
_HEX_LOWER = frozenset("0123456789abcdef")
_HEX_UPPER = frozenset("0123456789ABCDEF")
_DIGITS = frozenset(string.digits)


@dataclass(frozen=True)
class Problem:
    """Something wrong with the sample: ``fail`` for weak ids, ``warn`` for a weak judgement."""

    severity: Literal["fail", "warn"]
    code: str
    message: str


@dataclass(frozen=True)
class EntropyReport:
    """What ``analyse`` found. It holds figures only, never an id."""

    samples: int
    distinct: int
    encoding: Encoding
    min_length: int
    max_length: int
    capacity_bits: float
    estimated_bits: float
    constant_bits: float
    biased_bits: tuple[int, ...]
    biased_positions: tuple[int, ...]
    ones_fraction: float | None
    increasing_fraction: float | None
    statistics: bool
    problems: tuple[Problem, ...]
    payload: str | None = None
    """Encoding "jwt" or "signed": what the ids are (``SignedPayload.describe``)."""

    @property
    def duplicates(self) -> int:
        return self.samples - self.distinct

    def describe(self) -> list[str]:
        """The figures as short lines of evidence."""
        length = (
            str(self.min_length)
            if self.min_length == self.max_length
            else f"{self.min_length}-{self.max_length}"
        )
        if self.payload is not None:
            return [
                f"{self.samples} ids, {self.distinct} distinct, {length} characters: each one "
                f"{self.payload}, a signed payload, so no entropy is estimated"
            ]
        lines = [
            f"{self.samples} ids, {self.distinct} distinct, {self.encoding}, {length} characters",
            f"capacity {self.capacity_bits:.0f} bits; estimated {self.estimated_bits:.0f} bits",
        ]
        if self.statistics:
            lines.append(
                f"constant bits {self.constant_bits:.0f}; biased bits {len(self.biased_bits)}; "
                f"biased positions {len(self.biased_positions)}"
                + (
                    f"; ones {self.ones_fraction:.1%} of varying bits"
                    if self.ones_fraction is not None
                    else ""
                )
            )
        if self.increasing_fraction is not None:
            lines.append(f"each id greater than the previous one in {self.increasing_fraction:.0%}")
        return lines


def _normalise(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return unquote(value) if "%" in value else value


def _strip_separators(values: list[str]) -> list[str]:
    """Hex grouped by dashes at fixed places (a UUID) is judged as its hex digits."""
    first = values[0]
    places = [i for i, c in enumerate(first) if c == "-"]
    if not places or any(
        len(v) != len(first) or [i for i, c in enumerate(v) if c == "-"] != places for v in values
    ):
        return values
    stripped = [v.replace("-", "") for v in values]
    chars = set("".join(stripped))
    return stripped if chars <= _HEX_LOWER or chars <= _HEX_UPPER else values


def _detect(values: Sequence[str]) -> Encoding:
    chars = set("".join(values))
    if chars <= _DIGITS:
        return "decimal"
    if chars <= _HEX_LOWER or chars <= _HEX_UPPER:
        return "hex"
    if chars <= set(_B64URL):
        return "base64url"
    stripped = {c for v in values for c in v.rstrip("=")}
    if stripped <= set(_B64):
        return "base64"
    return "text"


def _bits(values: Sequence[str], encoding: Encoding) -> tuple[list[int], int, int]:
    """Each id as an integer of ``width`` bits, the width, and bits per character."""
    if encoding == "hex":
        ints = [int(v, 16) for v in values]
        return ints, 4 * len(values[0]), 4
    if encoding == "decimal":
        # Judged as the binary number it is: the leading digits of a random binary
        # number printed in decimal are not uniform, which is format, not bias.
        ints = [int(v) for v in values]
        return ints, (10 ** len(values[0]) - 1).bit_length(), 4
    index = _B64URL_INDEX if encoding == "base64url" else _B64_INDEX
    per_char = 6
    ints = []
    for v in values:
        n = 0
        for c in v:
            n = n << 6 | index[c]
        ints.append(n)
    total = per_char * len(values[0])
    width = total - total % 8  # decoded bytes; the last character's low bits are padding
    tail = total - width
    if tail and any(n & ((1 << tail) - 1) for n in ints):
        width = total  # not bytes in base64 (e.g. nanoid): every character carries 6 bits
    else:
        ints = [n >> tail for n in ints]
    return ints, width, per_char


def _binary_entropy(p: float) -> float:
    if p <= 0.0 or p >= 1.0:
        return 0.0
    return -(p * math.log2(p) + (1 - p) * math.log2(1 - p))


def _miller_madow(counts: Counter[int] | Counter[str], n: int) -> float:
    h = -sum((c / n) * math.log2(c / n) for c in counts.values())
    return h + (len(counts) - 1) / (2 * n * math.log(2))


def _normal_two_sided(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2))


def chi2_sf(x: float, df: int) -> float:
    """P(X >= x) for a chi-square variable with ``df`` degrees of freedom (exact, no scipy)."""
    if df <= 0:
        raise ValueError("df must be positive")
    if x <= 0:
        return 1.0
    return _gamma_q(df / 2.0, x / 2.0)


def _gamma_q(s: float, x: float) -> float:
    """The regularised upper incomplete gamma function Q(s, x) (Numerical Recipes 6.2)."""
    log_front = -x + s * math.log(x) - math.lgamma(s)
    if x < s + 1.0:
        term = total = 1.0 / s
        a = s
        for _ in range(10_000):
            a += 1.0
            term *= x / a
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(log_front))
    tiny = 1e-300
    b = x + 1.0 - s
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - s)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return min(1.0, math.exp(log_front) * h)


@dataclass(frozen=True)
class _BitTests:
    fixed: frozenset[int] = frozenset()
    biased: tuple[int, ...] = ()
    estimate: float = math.inf
    ones_fraction: float | None = None
    diffuse: bool = False


def _bit_tests(ints: Sequence[int], width: int, level: float) -> _BitTests:
    """Per-bit balance, and one balance test over all varying bits together."""
    n = len(ints)
    fixed: set[int] = set()
    biased: list[int] = []
    estimate = 0.0
    varying = total_ones = 0
    for i in range(width):
        shift = width - 1 - i
        ones = sum((v >> shift) & 1 for v in ints)
        if ones in (0, n):
            fixed.add(i)  # structure, not bias: it carries nothing
            continue
        varying += 1
        total_ones += ones
        if _normal_two_sided((2 * ones - n) / math.sqrt(n)) < level:
            biased.append(i)
            estimate += _binary_entropy(ones / n)
        else:
            estimate += 1.0
    if not varying:
        return _BitTests(frozenset(fixed), tuple(biased), estimate)
    z = (2 * total_ones - n * varying) / math.sqrt(n * varying)
    return _BitTests(
        frozenset(fixed),
        tuple(biased),
        estimate,
        total_ones / (n * varying),
        _normal_two_sided(z) < level,
    )


@dataclass(frozen=True)
class _PositionTests:
    biased: tuple[int, ...] = ()
    estimate: float = math.inf
    constant: int = 0
    diffuse: bool = False


def _position_tests(
    values: Sequence[str],
    ints: Sequence[int] | None,
    bit_width: int,
    per_char: int,
    fixed: frozenset[int],
    level: float,
) -> _PositionTests:
    """Chi-square per character position, and over all positions together.

    With ``ints`` (hex, base64, decimal) a position's categories are the values of
    the bits it carries, minus those that never change: a restricted position (a
    UUID's version digit, base64's last character) is judged by what it can carry,
    not as bias. Otherwise the categories are the characters seen there.
    """
    n = len(values)
    biased: list[int] = []
    estimate = 0.0
    chi_total, df_total = 0.0, 0
    constant = 0
    for j in range(len(values[0])):
        counts: Counter[int] | Counter[str]
        if ints is not None:
            first = per_char * j
            here = [i for i in range(first, min(first + per_char, bit_width)) if i not in fixed]
            if not here:
                constant += 1
                continue
            shifts = [bit_width - 1 - i for i in here]
            counts = Counter(sum(((v >> s) & 1) << k for k, s in enumerate(shifts)) for v in ints)
            categories = 1 << len(here)
            carried = float(len(here))
        else:
            counts = Counter(v[j] for v in values)
            categories = len(counts)
            carried = math.log2(categories) if categories > 1 else 0.0
        if len(counts) == 1:
            constant += 1
            continue
        chi = sum(c * c for c in counts.values()) / (n / categories) - n
        chi_total += chi
        df_total += categories - 1
        if chi2_sf(chi, categories - 1) < level:
            biased.append(j)
            estimate += min(carried, _miller_madow(counts, n))
        else:
            estimate += carried
    diffuse = df_total > 0 and chi2_sf(chi_total, df_total) < level
    return _PositionTests(tuple(biased), estimate, constant, diffuse)


def _order_test(ints: Sequence[int], level: float) -> tuple[float, bool]:
    """The share of ids greater than the one before, and whether the order is no accident.

    The ascents of a random sequence of n values have mean (n-1)/2 and variance (n+1)/12.
    """
    n = len(ints)
    ascents = sum(1 for a, b in itertools.pairwise(ints) if b > a)
    descents = sum(1 for a, b in itertools.pairwise(ints) if b < a)
    z = (max(ascents, descents) - (n - 1) / 2) / math.sqrt((n + 1) / 12)
    return ascents / (n - 1), _normal_two_sided(z) < level


def analyse(
    ids: Sequence[str], *, min_bits: int = 128, alpha: float = DEFAULT_ALPHA
) -> EntropyReport:
    """Judge a sample of session ids, given in the order the server issued them."""
    if not ids:
        raise ValueError("analyse needs at least one id")
    if not 0 < alpha < 1:
        raise ValueError("alpha is a probability between 0 and 1")
    values = [_normalise(v) for v in ids]
    n = len(values)
    distinct = len(set(values))
    lengths = [len(v) for v in values]
    min_length, max_length = min(lengths), max(lengths)
    problems: list[Problem] = []
    if distinct < n:
        problems.append(
            Problem("fail", "session_id_duplicate", f"{n - distinct} of {n} ids were issued twice")
        )
    signed = [recognise(v) for v in values]
    if all(s is not None for s in signed):
        kinds = {s.kind for s in signed if s is not None}
        described = {s.describe() for s in signed if s is not None}
        return EntropyReport(
            samples=n,
            distinct=distinct,
            encoding="jwt" if kinds == {"JWT"} else "signed",
            min_length=min_length,
            max_length=max_length,
            capacity_bits=0.0,
            estimated_bits=0.0,
            constant_bits=0.0,
            biased_bits=(),
            biased_positions=(),
            ones_fraction=None,
            increasing_fraction=None,
            statistics=False,
            problems=tuple(problems),
            payload=described.pop() if len(described) == 1 else "a signed payload (mixed)",
        )

    values = _strip_separators(values)
    encoding = _detect(values)
    if encoding == "base64":
        values = [v.rstrip("=") for v in values]
    if min_length != max_length:
        if encoding in ("decimal", "hex"):
            values = [v.rjust(max_length, "0") for v in values]  # numbers: pad, keep the order
        else:
            values = [v[:min_length] for v in values]
    width = len(values[0])

    ints: list[int] | None = None
    bit_width = 0
    per_char = 0
    if encoding in ("hex", "base64url", "base64") and width:
        ints, bit_width, per_char = _bits(values, encoding)
        capacity = float(bit_width)
    elif encoding == "decimal" and width:
        ints, bit_width, per_char = _bits(values, encoding)
        capacity = width * math.log2(10)
    else:
        alphabet = len(set("".join(values)))
        capacity = width * math.log2(alphabet) if alphabet > 1 else 0.0

    statistics = n >= MIN_SAMPLES
    estimated, constant = capacity, 0.0
    bits = _BitTests()
    positions = _PositionTests()
    increasing: float | None = None
    sequential = False
    if statistics:
        binary = ints is not None and per_char > 0
        level = alpha / ((bit_width if binary else 0) + width + 3)  # Bonferroni
        if ints is not None and binary:
            bits = _bit_tests(ints, bit_width, level)
            constant = float(len(bits.fixed))
        positions = _position_tests(
            values, ints if binary else None, bit_width, per_char, bits.fixed, level
        )
        if not binary and width:  # characters, not bits: a constant position loses its share
            constant = positions.constant * capacity / width
        estimated = min(capacity, bits.estimate, positions.estimate)
        if ints is not None and n > 2:
            increasing, sequential = _order_test(ints, level)
    biased_bits, biased_positions = bits.biased, positions.biased
    diffuse = bits.diffuse or positions.diffuse

    if capacity < min_bits:
        problems.append(
            Problem(
                "fail",
                "session_id_short",
                f"ids carry at most {capacity:.0f} bits ({width} {encoding} characters); "
                f"at least {min_bits} are needed",
            )
        )
    elif statistics and estimated < min_bits:
        problems.append(
            Problem(
                "fail",
                "session_id_low_entropy",
                f"only about {estimated:.0f} of {capacity:.0f} bits vary at random "
                f"({constant:.0f} never change); at least {min_bits} are needed",
            )
        )
    if sequential:
        problems.append(
            Problem(
                "fail",
                "session_id_sequential",
                f"ids rise or fall in order ({increasing:.0%} greater than the previous one): "
                "a counter or a timestamp, predictable",
            )
        )
    if biased_bits or biased_positions or diffuse:
        problems.append(
            Problem(
                "fail",
                "session_id_biased",
                f"not uniformly random: {len(biased_bits)} biased bits, "
                f"{len(biased_positions)} biased character positions"
                + (", overall imbalance" if diffuse else ""),
            )
        )
    if encoding == "text":
        problems.append(
            Problem(
                "warn",
                "session_id_format_unknown",
                "the cookie is not plain hex, base64 or decimal (a signed or structured "
                "value?); its bits are estimated per character, roughly",
            )
        )
    if not statistics:
        problems.append(
            Problem(
                "warn",
                "too_few_samples",
                f"only {n} ids sampled; bias and order need at least {MIN_SAMPLES}",
            )
        )
    return EntropyReport(
        samples=n,
        distinct=distinct,
        encoding=encoding,
        min_length=min_length,
        max_length=max_length,
        capacity_bits=capacity,
        estimated_bits=estimated,
        constant_bits=constant,
        biased_bits=tuple(biased_bits),
        biased_positions=tuple(biased_positions),
        ones_fraction=bits.ones_fraction,
        increasing_fraction=increasing,
        statistics=statistics,
        problems=tuple(problems),
    )
