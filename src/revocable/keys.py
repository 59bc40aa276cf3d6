"""Signing keys with a ``kid``, key rings for rotation, and the JWKS document.

EdDSA (Ed25519) is the default; ES256 and HS256 are options. A ring holds keys
oldest to newest: tokens are signed with the newest and verified with whichever
key their ``kid`` names, so a new key can be introduced (and an old one kept
for verification until its tokens expire) without logging anyone out.
The ``kid`` is the RFC 7638 JWK thumbprint of the public key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwt.algorithms import ECAlgorithm, OKPAlgorithm

from revocable.errors import ConfigurationError

__all__ = ["Algorithm", "KeyRing", "SigningKey"]

Algorithm = Literal["EdDSA", "ES256", "HS256"]
_PEM_BLOCK = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.+?-----END [A-Z ]*PRIVATE KEY-----", re.S
)
_PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One key: its algorithm, its ``kid``, and the secret material (never in a repr)."""

    algorithm: Algorithm
    kid: str
    private: _PrivateKey | bytes = field(repr=False)
    """The private key, or for HS256 the shared secret."""

    @classmethod
    def generate(cls, algorithm: Algorithm = "EdDSA") -> SigningKey:
        """A fresh key from the OS CSPRNG."""
        if algorithm == "EdDSA":
            return cls._of(ed25519.Ed25519PrivateKey.generate())
        if algorithm == "ES256":
            return cls._of(ec.generate_private_key(ec.SECP256R1()))
        if algorithm == "HS256":
            return cls.from_secret(secrets.token_bytes(32))
        raise ConfigurationError(f"unsupported algorithm {algorithm!r}: use EdDSA, ES256 or HS256")

    @classmethod
    def from_pem(cls, pem: bytes | str) -> SigningKey:
        """A private key from PKCS#8 PEM (Ed25519 or P-256)."""
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(f"not an unencrypted PEM private key: {exc}") from None
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return cls._of(key)
        if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
            return cls._of(key)
        raise ConfigurationError("only Ed25519 and P-256 (ES256) private keys are supported")

    @classmethod
    def from_secret(cls, secret: bytes) -> SigningKey:
        """An HS256 key from a shared secret of at least 32 bytes."""
        if not isinstance(secret, bytes) or len(secret) < 32:
            raise ConfigurationError("an HS256 secret needs at least 32 random bytes")
        kid = _b64(hashlib.sha256(b"revocable.hs256.kid\x00" + secret).digest()[:16])
        return cls("HS256", kid, secret)

    @classmethod
    def _of(cls, key: _PrivateKey) -> SigningKey:
        algorithm: Algorithm = "EdDSA" if isinstance(key, ed25519.Ed25519PrivateKey) else "ES256"
        return cls(algorithm, _thumbprint(_public_jwk(key.public_key())), key)

    @property
    def symmetric(self) -> bool:
        """HS256: the same secret signs and verifies, so it is never published."""
        return self.algorithm == "HS256"

    def verification_key(self) -> Any:
        """What PyJWT verifies with: the public key, or the HS256 secret."""
        if isinstance(self.private, bytes):
            return self.private
        return self.private.public_key()

    def public_jwk(self) -> dict[str, str]:
        """The public key as a JWK with ``kid``, ``alg`` and ``use``; HS256 has none."""
        if isinstance(self.private, bytes):
            raise ConfigurationError("an HS256 secret has no public form and is never published")
        jwk = _public_jwk(self.private.public_key())
        return {**jwk, "kid": self.kid, "alg": self.algorithm, "use": "sig"}

    def to_pem(self) -> bytes:
        """The private key as PKCS#8 PEM, for a file only its owner can read."""
        if isinstance(self.private, bytes):
            raise ConfigurationError("HS256 secrets are not PEM keys")
        return self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


class KeyRing:
    """Keys ordered oldest to newest: sign with the newest, verify with any by ``kid``."""

    def __init__(self, keys: Iterable[SigningKey]) -> None:
        self.keys: tuple[SigningKey, ...] = tuple(keys)
        if not self.keys:
            raise ConfigurationError("a key ring needs at least one key")
        self._by_kid = {key.kid: key for key in self.keys}
        if len(self._by_kid) != len(self.keys):
            raise ConfigurationError("two keys in the ring share a kid")

    @property
    def signing_key(self) -> SigningKey:
        """The newest key, which signs new tokens."""
        return self.keys[-1]

    def find(self, kid: object) -> SigningKey | None:
        """The key a token's ``kid`` names, if it is in this ring."""
        return self._by_kid.get(kid) if isinstance(kid, str) else None

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWKS document: every public key, never an HS256 secret."""
        return {"keys": [key.public_jwk() for key in self.keys if not key.symmetric]}

    @classmethod
    def from_pem_bundle(cls, bundle: bytes | str) -> KeyRing:
        """A ring from PEM private keys one after another (oldest first, the last signs),
        as an environment variable or a secrets manager holds them."""
        text = bundle.decode("ascii", "replace") if isinstance(bundle, bytes) else bundle
        blocks = _PEM_BLOCK.findall(text)
        if not blocks:
            raise ConfigurationError("no PEM private key found")
        return cls(SigningKey.from_pem(block) for block in blocks)

    def rotated(self, new: SigningKey, *, keep: int = 2) -> KeyRing:
        """A ring that signs with ``new`` and still verifies the ``keep`` newest old keys."""
        return KeyRing([*self.keys[-keep:], new] if keep > 0 else [new])

    def __repr__(self) -> str:
        return f"KeyRing(kids={[key.kid for key in self.keys]!r})"


def _public_jwk(public: Any) -> dict[str, str]:
    algorithm = OKPAlgorithm if isinstance(public, ed25519.Ed25519PublicKey) else ECAlgorithm
    jwk: dict[str, str] = algorithm.to_jwk(public, as_dict=True)
    return {k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y")}


def _thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638: SHA-256 of the required members in lexical order, no spaces."""
    required = {k: jwk[k] for k in sorted(jwk) if k in ("crv", "kty", "x", "y")}
    return _b64(hashlib.sha256(json.dumps(required, separators=(",", ":")).encode()).digest())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
