"""Which address a login is held to: X-Forwarded-For counts only when our own proxy sent it."""

from pathlib import Path

import pytest

from entrypoints.http.client_address import client_address, parse_networks
from entrypoints.settings import SettingsError, load_settings

PROXIES = parse_networks("10.0.0.0/8, 192.168.1.5, fd00::/8")


def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() -> None:
    assert client_address("203.0.113.7", ["1.2.3.4"], PROXIES) == "203.0.113.7"
    assert client_address("10.1.2.3", ["1.2.3.4"], ()) == "10.1.2.3"  # nothing trusted by default
    assert client_address(None, ["1.2.3.4"], PROXIES) == "unknown"


def test_the_right_most_untrusted_hop_is_the_client() -> None:
    # A client may put anything on the left; our proxies appended the rest.
    assert client_address("10.0.0.2", ["6.6.6.6, 203.0.113.7"], PROXIES) == "203.0.113.7"
    assert client_address("10.0.0.2", ["6.6.6.6, 203.0.113.7, 10.9.9.9"], PROXIES) == "203.0.113.7"
    assert client_address("192.168.1.5", ["6.6.6.6", "203.0.113.7, 10.9.9.9"], PROXIES) == "203.0.113.7"
    assert client_address("fd00::1", ["2001:db8::7"], PROXIES) == "2001:db8::7"
    assert client_address("::ffff:10.0.0.2", ["203.0.113.7"], PROXIES) == "203.0.113.7"


def test_hops_that_are_all_ours_or_not_addresses_never_let_the_client_choose() -> None:
    assert client_address("10.0.0.2", [], PROXIES) == "10.0.0.2"
    assert client_address("10.0.0.2", ["10.0.0.3, 10.0.0.4"], PROXIES) == "10.0.0.3"
    assert client_address("10.0.0.2", ["203.0.113.7, made-up"], PROXIES) == "10.0.0.2"
    assert client_address("10.0.0.2", ["made-up, 10.0.0.9"], PROXIES) == "10.0.0.9"


def test_trusted_proxies_are_read_from_the_environment(tmp_path: Path) -> None:
    assert load_settings({"DATA_DIR": str(tmp_path)}).trusted_proxies == ()
    settings = load_settings({"DATA_DIR": str(tmp_path), "TRUSTED_PROXIES": "10.0.0.0/8,127.0.0.1"})
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "127.0.0.1/32"]
    with pytest.raises(SettingsError, match="TRUSTED_PROXIES"):
        load_settings({"DATA_DIR": str(tmp_path), "TRUSTED_PROXIES": "10.0.0.0/8,proxy.internal"})
