"""The credential vault on Fernet: the first key encrypts, every key decrypts (MultiFernet).

Decryptions are remembered by ciphertext (in this process's memory only, a bounded
number), so the call path, which needs its credential's key on every call, decrypts each
stored key once: a changed key is a new ciphertext.
"""

import functools
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from application.ports.vault import VaultError


class FernetVault:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one Fernet key is required")
        try:
            fernets = [Fernet(k.strip().encode("ascii")) for k in keys]
        except (ValueError, TypeError):  # never echo the key material
            raise ValueError("a configured Fernet key is malformed (expect 32 url-safe base64 bytes)") from None
        self._newest = fernets[0]
        self._fernet = MultiFernet(fernets)
        self._remembered = functools.lru_cache(maxsize=1024)(self._decrypt)

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode("ascii")

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        return self._remembered(token)

    def _decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise VaultError("a stored credential cannot be decrypted with the configured keys") from None

    def rotate(self, token: str) -> str:
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise VaultError("a stored credential cannot be decrypted with the configured keys") from None

    def is_current(self, token: str) -> bool:
        try:
            self._newest.decrypt(token.encode("ascii"))
        except InvalidToken:
            return False
        return True
