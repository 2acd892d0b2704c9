"""Token usage, split into the categories providers bill differently."""

import msgspec

from domain.errors import InvalidValueError
from domain.money import add_fields


class TokenUsage(msgspec.Struct, frozen=True, kw_only=True):
    """Tokens of one call in **disjoint** billing categories.

    ``input`` is the uncached prompt, ``cached_input`` cache reads, ``cache_write``
    cache creation, ``output`` generated text and ``reasoning`` thinking tokens (billed as
    output, reported separately). Adapters map each provider's usage block onto these;
    the API's OpenAI-style totals are the properties below.
    """

    input: int = 0
    cached_input: int = 0
    cache_write: int = 0
    output: int = 0
    reasoning: int = 0

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            if getattr(self, name) < 0:
                raise InvalidValueError(f"token count {name} must not be negative")

    @property
    def prompt_tokens(self) -> int:
        """Every prompt token: uncached + cache reads + cache writes."""
        return self.input + self.cached_input + self.cache_write

    @property
    def completion_tokens(self) -> int:
        """Every generated token, thinking included."""
        return self.output + self.reasoning

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: "TokenUsage") -> "TokenUsage":
        return add_fields(self, other)


NO_USAGE = TokenUsage()
