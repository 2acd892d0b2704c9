"""Handling of secrets that must never be shown again after creation."""

import hashlib


def key_hint(secret: str) -> str:
    """A masked hint like ``sk-…abcd``: enough to recognise a key, useless to use it."""
    if len(secret) <= 8:
        return "…" + secret[-2:] if len(secret) > 4 else "…"
    prefix = secret[:3]
    return f"{prefix}…{secret[-4:]}"


def digest_key(secret: str) -> str:
    """The SHA-256 hex digest under which a virtual key is stored and looked up."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
