"""Field encryption for personal data at rest (GB/T 39786: SM4; integrity and blind indexes: HMAC-SM3).

One small interface, :class:`FieldCipher`, so a deployment can swap keys or move to a KMS. Ciphertexts
carry a key id so keys can rotate: old values stay readable while new ones use the new key.
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_PREFIX = "sm4gcm"
_DEV_KEY = hashlib.sha256(b"yima-dev-only-key").digest()[:16]


class DecryptError(ValueError):
    pass


class FieldCipher:
    def __init__(self, keys: dict[str, bytes], active_key_id: str) -> None:
        for kid, key in keys.items():
            if len(key) != 16:
                raise ValueError(f"SM4 key {kid!r} must be 16 bytes")
        if active_key_id not in keys:
            raise ValueError("active key id not among the keys")
        self._keys = keys
        self._active = active_key_id

    @classmethod
    def from_hex(cls, key_hex: str) -> FieldCipher:
        """One key from configuration; empty = the development key (never use it in production)."""
        key = bytes.fromhex(key_hex) if key_hex else _DEV_KEY
        return cls({"k1": key}, "k1")

    @property
    def active_key_id(self) -> str:
        """The id of the key new ciphertexts and HMACs use (recorded where a value must be checked later)."""
        return self._active

    def encrypt(self, plaintext: str, *, context: str = "") -> str:
        nonce = os.urandom(12)
        enc = Cipher(algorithms.SM4(self._keys[self._active]), modes.GCM(nonce)).encryptor()
        # The context (e.g. collection + field) is authenticated, so a ciphertext can't be moved elsewhere.
        enc.authenticate_additional_data(context.encode())
        ct = enc.update(plaintext.encode()) + enc.finalize()
        blob = base64.urlsafe_b64encode(nonce + ct + enc.tag).decode()
        return f"{_PREFIX}:{self._active}:{blob}"

    def decrypt(self, token: str, *, context: str = "") -> str:
        try:
            prefix, kid, blob = token.split(":", 2)
            raw = base64.urlsafe_b64decode(blob)
            key = self._keys[kid]
        except (ValueError, KeyError) as exc:
            raise DecryptError("not a ciphertext of this cipher") from exc
        if prefix != _PREFIX:
            raise DecryptError("unknown ciphertext format")
        nonce, ct, tag = raw[:12], raw[12:-16], raw[-16:]
        dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
        dec.authenticate_additional_data(context.encode())
        try:
            return (dec.update(ct) + dec.finalize()).decode()
        except InvalidTag as exc:
            raise DecryptError("ciphertext was altered or the key is wrong") from exc

    def blind_index(self, value: str, *, context: str = "", key_id: str | None = None) -> str:
        """HMAC-SM3 of a value: lets us find equal values (a phone, an ID number) without storing them.

        ``key_id`` picks an older key (to check a value made before a rotation); default the active key.
        An unknown key id raises :class:`KeyError`.
        """
        h = hmac.HMAC(self._keys[key_id or self._active], hashes.SM3())
        h.update(context.encode() + b"\x00" + value.encode())
        return h.finalize().hex()
