"""Handling of secrets that must never be shown again after creation."""

import hashlib
import hmac


def key_hint(secret: str) -> str:
    """A masked hint like ``sk-…abcd``: enough to recognise a key, useless to use it."""
    if len(secret) <= 8:
        return "…" + secret[-2:] if len(secret) > 4 else "…"
    prefix = secret[:3]
    return f"{prefix}…{secret[-4:]}"


def digest_key(secret: str) -> str:
    """The SHA-256 hex digest under which a virtual key is stored and looked up."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def same_digest(a: str, b: str) -> bool:
    """Constant-time comparison of two digests."""
    return hmac.compare_digest(a.encode("ascii"), b.encode("ascii"))
