"""Checking a URL before it is stored: scheme, credentials in the URL, and where its host
resolves to now (through a scripted resolver: no DNS in unit tests)."""

import pytest

from application.ports.network import HostResolutionError
from application.services._outbound import OutboundUrlCheck
from domain.errors import InvalidValueError
from domain.outbound import AddressPolicy

PRODUCTION = AddressPolicy.for_environment(production=True, allow_private=False)


class ScriptedResolver:
    """Answers from a table; records what it was asked."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, int]] = []

    async def resolve(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        if host not in self.answers:
            raise HostResolutionError(f"{host!r} could not be resolved")
        return self.answers[host]


def production(answers: dict[str, list[str]] | None = None) -> tuple[OutboundUrlCheck, ScriptedResolver]:
    resolver = ScriptedResolver(answers or {})
    return OutboundUrlCheck(policy=PRODUCTION, resolver=resolver), resolver


async def refused(check: OutboundUrlCheck, url: str) -> str:
    with pytest.raises(InvalidValueError) as caught:
        await check(url, field="api_base")
    return caught.value.detail


async def test_a_public_https_host_is_accepted_and_normalised() -> None:
    check, resolver = production({"llm.example.com": ["93.184.216.34", "2606:2800:220:1::248"]})
    assert await check("https://llm.example.com/v1/", field="api_base") == "https://llm.example.com/v1"
    assert resolver.asked == [("llm.example.com", 443)]


async def test_a_host_name_resolving_to_a_private_address_is_refused() -> None:
    check, _ = production({"internal.example.com": ["10.0.0.5"]})
    assert await refused(check, "https://internal.example.com/v1") == "api_base resolves to a private address"


async def test_one_private_answer_among_public_ones_is_enough_to_refuse() -> None:
    check, _ = production({"mixed.example.com": ["93.184.216.34", "169.254.169.254"]})
    assert await refused(check, "https://mixed.example.com:8443") == "api_base resolves to a cloud metadata address"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://llm.example.com/v1", "must be an https URL"),
        ("https://127.0.0.1/v1", "resolves to a loopback address"),
        ("https://169.254.169.254/latest", "resolves to a cloud metadata address"),
        ("https://[fd00:ec2::254]/", "resolves to a cloud metadata address"),
        ("https://[::ffff:10.0.0.1]/", "resolves to a private address"),
        ("https://[::1]:8443/", "resolves to a loopback address"),
        ("https://0.0.0.0/", "resolves to an unspecified address"),
        ("https://user:s3cret@llm.example.com/", "must not carry a user name or password"),
        ("ftp://llm.example.com/", "must be an http(s) URL"),
        ("https:///v1", "must be an http(s) URL"),
        ("https://llm.example.com:99999/", "must be an http(s) URL"),
        ("https://nowhere.example.com/", "has a host name that does not resolve"),
    ],
)
async def test_production_refuses(url: str, reason: str) -> None:
    check, _ = production({"llm.example.com": ["93.184.216.34"]})
    assert await refused(check, url) == f"api_base {reason}"  # the reason, never the URL


async def test_private_addresses_can_be_allowed_but_not_metadata_nor_http() -> None:
    resolver = ScriptedResolver({})
    check = OutboundUrlCheck(policy=AddressPolicy.for_environment(production=True, allow_private=True))
    assert await check("https://10.0.0.5:8000/v1", field="api_base") == "https://10.0.0.5:8000/v1"
    assert await check("https://vllm.internal/v1", field="api_base") == "https://vllm.internal/v1"
    assert await refused(check, "https://169.254.169.254/") == "api_base resolves to a cloud metadata address"
    assert await refused(check, "http://10.0.0.5/") == "api_base must be an https URL"
    assert resolver.asked == []


async def test_development_allows_http_and_loopback_without_resolving() -> None:
    check = OutboundUrlCheck()  # names are not resolved: no resolver needed
    assert await check("http://127.0.0.1:9999/v1", field="url") == "http://127.0.0.1:9999/v1"
    assert await check("http://localhost:9999", field="url") == "http://localhost:9999"
    with pytest.raises(InvalidValueError, match="url resolves to a cloud metadata address"):
        await check("http://169.254.169.254/", field="url")


def test_a_strict_policy_without_a_resolver_is_a_wiring_error() -> None:
    with pytest.raises(ValueError, match="needs a resolver"):
        OutboundUrlCheck(policy=PRODUCTION)
