"""Provider API keys at rest: Fernet, with a key derived from settings.FIELD_ENCRYPTION_SECRET."""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


@lru_cache(maxsize=4)
def _fernet(secret: str) -> Fernet:
    key = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"promptyard",
        info=b"provider api keys",
    ).derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_secret(raw: str) -> str:
    return _fernet(settings.FIELD_ENCRYPTION_SECRET).encrypt(raw.encode()).decode()


def decrypt_secret(token: str) -> str:
    try:
        return _fernet(settings.FIELD_ENCRYPTION_SECRET).decrypt(token.encode()).decode()
    except InvalidToken:
        # The encryption secret changed: the key cannot be recovered, it must be entered again.
        return ""
