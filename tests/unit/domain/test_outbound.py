"""The outbound address rule: what counts as public, and what each environment allows."""

import ipaddress

import pytest

from domain.outbound import AddressKind, AddressPolicy, classify, parse_address

PRODUCTION = AddressPolicy.for_environment(production=True, allow_private=False)
PRODUCTION_PRIVATE_OK = AddressPolicy.for_environment(production=True, allow_private=True)
DEVELOPMENT = AddressPolicy.for_environment(production=False, allow_private=False)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", AddressKind.LOOPBACK),
        ("::1", AddressKind.LOOPBACK),
        ("10.1.2.3", AddressKind.PRIVATE),
        ("172.16.0.1", AddressKind.PRIVATE),
        ("192.168.1.1", AddressKind.PRIVATE),
        ("169.254.169.254", AddressKind.METADATA),
        ("169.254.170.2", AddressKind.METADATA),
        ("fd00:ec2::254", AddressKind.METADATA),
        ("100.100.100.200", AddressKind.METADATA),
        ("169.254.1.1", AddressKind.LINK_LOCAL),
        ("fe80::1", AddressKind.LINK_LOCAL),
        ("fc00::1", AddressKind.UNIQUE_LOCAL),
        ("fd12:3456::1", AddressKind.UNIQUE_LOCAL),
        ("224.0.0.1", AddressKind.MULTICAST),
        ("ff02::1", AddressKind.MULTICAST),
        ("0.0.0.0", AddressKind.UNSPECIFIED),
        ("::", AddressKind.UNSPECIFIED),
        ("100.64.0.1", AddressKind.RESERVED),  # carrier-grade NAT, shared address space
        # IPv6 forms that carry an IPv4 address are judged by it
        ("::ffff:127.0.0.1", AddressKind.LOOPBACK),
        ("::ffff:169.254.169.254", AddressKind.METADATA),
        ("64:ff9b::a9fe:a9fe", AddressKind.METADATA),  # NAT64 of 169.254.169.254
        ("2002:0a00:0001::1", AddressKind.PRIVATE),  # 6to4 of 10.0.0.1
    ],
)
def test_non_public_addresses_are_recognised(address: str, kind: AddressKind) -> None:
    assert classify(ipaddress.ip_address(address)) is kind


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_public(address: str) -> None:
    assert classify(ipaddress.ip_address(address)) is None


def test_production_refuses_every_non_public_address() -> None:
    assert PRODUCTION.address_problem(ipaddress.ip_address("10.0.0.1")) == "resolves to a private address"
    assert PRODUCTION.address_problem(ipaddress.ip_address("::1")) == "resolves to a loopback address"
    assert PRODUCTION.address_problem(ipaddress.ip_address("8.8.8.8")) is None


def test_allowing_private_addresses_never_allows_cloud_metadata() -> None:
    for policy in (PRODUCTION_PRIVATE_OK, DEVELOPMENT):
        assert policy.address_problem(ipaddress.ip_address("10.0.0.1")) is None
        assert policy.address_problem(ipaddress.ip_address("127.0.0.1")) is None
        assert policy.address_problem(ipaddress.ip_address("169.254.169.254")) == "resolves to a cloud metadata address"


def test_https_is_required_in_production_only() -> None:
    assert PRODUCTION.scheme_problem("http") == "must be an https URL"
    assert PRODUCTION_PRIVATE_OK.scheme_problem("http") == "must be an https URL"
    assert PRODUCTION.scheme_problem("HTTPS") is None
    assert DEVELOPMENT.scheme_problem("http") is None
    assert DEVELOPMENT.scheme_problem("ftp") == "must be an http(s) URL"


def test_only_a_strict_policy_needs_names_resolved() -> None:
    assert PRODUCTION.resolves_names
    assert not PRODUCTION_PRIVATE_OK.resolves_names and not DEVELOPMENT.resolves_names


def test_ip_literals_are_parsed_with_or_without_brackets() -> None:
    assert parse_address("[fd00:ec2::254]") == ipaddress.ip_address("fd00:ec2::254")
    assert parse_address("127.0.0.1") == ipaddress.ip_address("127.0.0.1")
    assert parse_address("api.openai.com") is None
