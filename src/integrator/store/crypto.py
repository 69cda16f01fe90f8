"""AES-GCM encryption of secret fields, with keys that can be rotated.

A sealed value is ``v1:<key id>:<base64(nonce + ciphertext)>``. The associated data binds the
ciphertext to its account, resource and field, so a sealed value copied to another resource or
field fails to decrypt instead of leaking.

``INTEGRATOR_SECRET_KEY`` may hold several comma-separated keys: the first encrypts, all decrypt,
which is how a key is rotated (add the new key first, re-save, drop the old one).
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_PREFIX = "v1"


class SecretDecryptError(Exception):
    """A sealed value could not be opened (wrong key, or moved to another field)."""


def _key_bytes(text: str) -> bytes:
    """Accept a urlsafe-base64 32-byte key; derive one from any other string with SHA-256."""
    text = text.strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        if len(raw) == 32:
            return raw
    except ValueError:
        pass
    return hashlib.sha256(text.encode()).digest()


class Cipher:
    """Seals and opens secret values with the configured keys."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one secret key is required")
        self._keys: dict[str, AESGCM] = {}
        self._current = ""
        for i, text in enumerate(keys):
            raw = _key_bytes(text)
            kid = hashlib.sha256(raw).hexdigest()[:8]
            self._keys[kid] = AESGCM(raw)
            if i == 0:
                self._current = kid

    @classmethod
    def from_setting(cls, setting: str) -> Cipher:
        return cls([k for k in setting.split(",") if k.strip()])

    def seal(self, plaintext: bytes, aad: str) -> str:
        nonce = os.urandom(12)
        sealed = self._keys[self._current].encrypt(nonce, plaintext, aad.encode())
        return f"{_PREFIX}:{self._current}:{base64.b64encode(nonce + sealed).decode()}"

    def open(self, sealed: str, aad: str) -> bytes:
        try:
            prefix, kid, body = sealed.split(":", 2)
            if prefix != _PREFIX or kid not in self._keys:
                raise SecretDecryptError("sealed with an unknown key")
            raw = base64.b64decode(body)
            return self._keys[kid].decrypt(raw[:12], raw[12:], aad.encode())
        except (ValueError, InvalidTag) as exc:
            raise SecretDecryptError("cannot open sealed value") from exc


def load_or_create_key_file(path: Path) -> str:
    """Read the key file, creating it (mode 0600, 32 random bytes) on first start."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key
