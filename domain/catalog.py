"""The providers the platform talks to."""

from enum import StrEnum


class Provider(StrEnum):
    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"
    FIREWORKS = "fireworks"
    FAKE = "fake"  # a local fake speaking OpenAI's format, for demos and benchmarks
