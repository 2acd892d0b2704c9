"""The client's address as far as we can trust it: ``X-Forwarded-For`` only from our own proxies.

Each proxy appends the address it received the request from, so the list reads
client, proxy1, proxy2 (left to right) and only its right end was written by proxies we
run. Walking it from the right, past every hop in ``TRUSTED_PROXIES``, the first other
hop is the client: whatever a client put further left it could have made up.
"""

import ipaddress
from collections.abc import Iterable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(spec: str) -> tuple[Network, ...]:
    """``TRUSTED_PROXIES``: comma-separated IPs or CIDRs; raises ``ValueError`` on a bad entry."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip())


def client_address(peer: str | None, forwarded_for: Iterable[str], trusted: Sequence[Network]) -> str:
    """The address to hold the request's client to.

    ``peer`` is the direct TCP peer; ``forwarded_for`` the ``X-Forwarded-For`` header
    values in the order received. They are read only when the peer is a trusted proxy.
    """
    address = peer or "unknown"
    if not trusted or not _is_trusted(address, trusted):
        return address
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        if _parse(hop) is None:
            # Not an address: no proxy of ours wrote it. Hold the request to the hop that
            # passed it on, which a client cannot choose.
            return address
        address = hop
        if not _is_trusted(hop, trusted):
            return hop
    return address  # every hop is one of ours: the left-most is as close to the client as we know


def _parse(text: str) -> Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _is_trusted(text: str, trusted: Sequence[Network]) -> bool:
    parsed = _parse(text)
    if parsed is None:
        return False
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    return any(parsed.version == net.version and parsed in net for net in trusted)
