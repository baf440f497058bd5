"""Encryption at rest of stored secrets: webhook signing secrets today; supplier keys, store
tokens and AI provider keys as those apps arrive (`core.fields.EncryptedTextField`).

Fernet (AES-128-CBC with HMAC-SHA256, from `cryptography`) under MultiFernet:
`FIELD_ENCRYPTION_KEYS` lists keys newest first. Values are encrypted with the first and
decrypted with any of them, so a key is rotated by putting a new one first, running
`manage.py rotate_field_encryption`, then removing the old one. Without the setting the key
is derived from `SECRET_KEY` (fine for development; a deployment check warns).
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from core.exceptions import UndecryptableSecret


def derived_key(secret_key: str) -> str:
    """A Fernet key derived from `secret_key` (HKDF-SHA256, fixed purpose label)."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"field-encryption")
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode())).decode()


def configured_keys() -> tuple[str, ...]:
    """The keys in use, newest first."""
    keys = tuple(key.strip() for key in settings.FIELD_ENCRYPTION_KEYS if key.strip())
    return keys or (derived_key(settings.SECRET_KEY),)


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key))
        except ValueError as error:
            raise ImproperlyConfigured(
                f"FIELD_ENCRYPTION_KEYS: key {position} is not a Fernet key (32 url-safe "
                'base64-encoded bytes; make one with `python -c "from cryptography.fernet '
                'import Fernet; print(Fernet.generate_key().decode())"`).'
            ) from error
    return MultiFernet(fernets)


def encrypt(plaintext: str) -> str:
    """The Fernet token (ASCII) of `plaintext` under the newest key."""
    return _fernet(configured_keys()).encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """The plaintext of a stored token; UndecryptableSecret if no configured key opens it."""
    try:
        return _fernet(configured_keys()).decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise UndecryptableSecret(
            "A stored secret cannot be decrypted with any key in FIELD_ENCRYPTION_KEYS "
            "(was a key removed before `manage.py rotate_field_encryption` ran?)."
        ) from error


def check_keys() -> None:
    """Raise ImproperlyConfigured when a configured key is malformed."""
    _fernet(configured_keys())
