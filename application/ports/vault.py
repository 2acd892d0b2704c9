"""The credential vault: provider keys are stored only encrypted."""

from typing import Protocol


class CredentialVault(Protocol):
    def encrypt(self, secret: str) -> str:
        """Encrypt a provider key under the newest vault key; returns an opaque token."""
        ...

    def decrypt(self, token: str) -> str:
        """Decrypt a token written under any configured vault key.

        Raises ``VaultError`` (never revealing the secret) when no key can decrypt it.
        """
        ...

    def rotate(self, token: str) -> str:
        """Re-encrypt a token under the newest key."""
        ...

    def is_current(self, token: str) -> bool:
        """True when the newest key alone decrypts the token (rotation would change nothing)."""
        ...


class VaultError(Exception):
    """A token could not be decrypted with any configured key."""
