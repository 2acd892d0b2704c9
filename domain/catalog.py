"""The providers the platform knows, and what names a provider.

A target or a credential names its provider by a ``ProviderName``: one of the four
``Provider``s below in production, or a name the running instance adds on top (the
adapters' ``fake`` demo provider). Which names are accepted is decided where they enter,
against the providers the instance offers (``application/services/_providers.py``): the
domain holds no list of its own to keep in step.
"""

from enum import StrEnum
from typing import TypeAlias


class Provider(StrEnum):
    """The LLM providers whose wire formats, price lists and key shapes the platform knows."""

    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"
    FIREWORKS = "fireworks"


ProviderName: TypeAlias = str
"""A provider's name as stored and sent (a ``Provider`` member is one)."""
