"""Keys derived from ``TASKBOT_SECRET_KEY``: one seals stored secrets, another signs.

The operator's key is never used as a key itself: HKDF-SHA256 (RFC 5869) derives a Fernet key
for sealing (tokens at rest) and an HMAC-SHA256 key for signing (the sign-in cookie), under
distinct ``info`` labels, so neither can stand in for the other. ``TASKBOT_SECRET_KEY_OLD`` keeps
what was sealed or signed before a rotation readable; ``taskbot secrets rotate`` re-seals it.

A key is accepted when it plausibly holds 32 random bytes: at least 43 characters (the length of
``secrets.token_urlsafe(32)`` or ``openssl rand -base64 32`` without padding), or 64 when it is
all hex digits (``openssl rand -hex 32``), and none of the patterns of a made-up key (one
character repeated, a repeating unit, runs such as ``abcd`` or ``1234``, few distinct characters).
The key is used as the text it is, so any of these encodings works as it stands.

Imports ``cryptography`` only, so the backends, the web edge, the CLI and the settings share it;
and only once a key is used (10 MB that a taskbot without sign-in never needs).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import string
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

MAKE_ONE = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
MIN_LENGTH = 43  # 43 base64 characters carry 258 bits
MIN_HEX_LENGTH = 64  # 32 bytes as hex
MIN_DISTINCT = 10  # random hex of 64 has ≥ 12 in practice; made-up keys often fewer
MIN_BITS = 128.0  # the characters' own entropy over the whole key, a floor against repetition
SALT = b"taskbot/keys/v1"  # fixed and public (RFC 5869 §3.1); the key supplies the secrecy
SEAL_INFO = b"taskbot seal: fernet for stored tokens"
SIGN_INFO = b"taskbot sign: hmac-sha256 for cookies and states"


def key_problem(text: str) -> str | None:
    """Why ``text`` is not an acceptable secret key, or None when it is."""
    if not text.strip():
        return f"is blank; make a key with: {MAKE_ONE}"
    needed = MIN_HEX_LENGTH if all(c in string.hexdigits for c in text) else MIN_LENGTH
    if len(text) < needed:
        return (
            f"is too short ({len(text)} characters; at least {needed} are needed for 32 random "
            f"bytes); make a key with: {MAKE_ONE}"
        )
    if _looks_made_up(text):
        return f"does not look random (it has a pattern); make a key with: {MAKE_ONE}"
    return None


def _looks_made_up(text: str) -> bool:
    if len(set(text)) < MIN_DISTINCT:
        return True
    counts = Counter(text)
    bits = -sum(n * math.log2(n / len(text)) for n in counts.values())
    if bits < MIN_BITS:
        return True
    if any(all(text[i] == text[i + p] for i in range(len(text) - p)) for p in range(1, 17)):
        return True  # a unit repeated: "abc123abc123…"
    steps = sum(abs(ord(b) - ord(a)) <= 1 for a, b in zip(text, text[1:], strict=False))
    return steps * 2 > len(text)  # mostly runs or sequences: "aaaa…", "abcd…", "1234…"


def derive_key(secret: str, info: bytes) -> bytes:
    """32 bytes for one purpose, derived from the operator's key with HKDF-SHA256."""
    if not secret.strip():
        raise ValueError("the secret key is blank")
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=SALT, info=info)
    return hkdf.derive(secret.encode())


def _fernet(secret: str) -> Fernet:
    from cryptography.fernet import Fernet

    return Fernet(base64.urlsafe_b64encode(derive_key(secret, SEAL_INFO)))


def _legacy_fernet(secret: str) -> Fernet:
    """How tokens were sealed before HKDF (one SHA-256 of the key); read-only, until rotated."""
    from cryptography.fernet import Fernet

    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest()))


class UnreadableSecret(Exception):
    """A sealed value that neither the current nor the old key opens."""


class Keys:
    """Seal and sign with the current key; open and verify with the current or the old one."""

    def __init__(self, secret: str, old: str | None = None) -> None:
        from cryptography.fernet import InvalidToken, MultiFernet

        self._invalid = InvalidToken
        secrets = [secret, *([old] if old and old != secret else [])]
        current = [_fernet(s) for s in secrets]  # the first one seals
        legacy = [_legacy_fernet(s) for s in secrets]
        self._fernet = MultiFernet([*current, *legacy])
        self._signing = [derive_key(s, SIGN_INFO) for s in secrets]

    def seal(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except self._invalid:
            raise UnreadableSecret("sealed with a key taskbot no longer has") from None

    def reseal(self, sealed: str) -> str:
        """The same secret sealed with the current key (``taskbot secrets rotate``)."""
        try:
            return self._fernet.rotate(sealed.encode()).decode()
        except self._invalid:
            raise UnreadableSecret("sealed with a key taskbot no longer has") from None

    def mac(self, text: str) -> str:
        """An HMAC-SHA256 of ``text`` with the current signing key (URL- and cookie-safe)."""
        return _mac(self._signing[0], text)

    def check_mac(self, text: str, mac: str) -> bool:
        """Whether ``mac`` was made for ``text`` with the current or the old signing key."""
        return any(hmac.compare_digest(_mac(key, text), mac) for key in self._signing)


def _mac(key: bytes, text: str) -> str:
    digest = hmac.new(key, text.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")
