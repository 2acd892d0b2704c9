"""Which addresses the service may call out to: provider ``api_base`` URLs and webhook URLs.

An operator-supplied URL is a request the server makes on the operator's behalf: pointed
at a loopback, private or cloud-metadata address it would reach what the operator cannot
(server-side request forgery), and a stored provider key would travel with it. The rule
lives here, pure; the application checks it when a URL is stored (resolving the host
through its ``HostResolver`` port) and the HTTP adapters enforce it again on every
connection, against the addresses actually connected to.
"""

import ipaddress
from enum import StrEnum

import msgspec

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Instance-metadata endpoints (AWS IMDS and its IPv6 twin, ECS/EKS credential agents, Alibaba,
# Oracle). Never a legitimate target, in any environment: blocked even where private
# addresses are allowed.
METADATA_ADDRESSES: frozenset[IpAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.170.23",
        "fd00:ec2::254",
        "fd00:ec2::23",
        "100.100.100.200",
        "192.0.0.192",
    )
)
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressKind(StrEnum):
    """Why an address is not a public one (the order of the checks, most specific first)."""

    METADATA = "cloud metadata"
    LOOPBACK = "loopback"
    UNSPECIFIED = "unspecified"
    LINK_LOCAL = "link-local"
    MULTICAST = "multicast"
    UNIQUE_LOCAL = "unique-local"
    PRIVATE = "private"
    RESERVED = "reserved"  # shared (100.64/10), documentation, benchmarking, 240/4, …


def embedded_ipv4(address: IpAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, NAT64, 6to4, Teredo client), if any:
    ``::ffff:127.0.0.1`` reaches loopback as surely as ``127.0.0.1`` does."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def classify(address: IpAddress) -> AddressKind | None:
    """None for a public (globally routable) unicast address, else what it is."""
    inner = embedded_ipv4(address)
    if inner is not None:
        inner_kind = classify(inner)
        # a mapped address is that IPv4 host; a tunnel (NAT64, 6to4, Teredo) is also judged itself
        if inner_kind is not None or (isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped):
            return inner_kind
    if address in METADATA_ADDRESSES:
        return AddressKind.METADATA
    if address.is_loopback:
        return AddressKind.LOOPBACK
    if address.is_unspecified:
        return AddressKind.UNSPECIFIED
    if address.is_link_local:
        return AddressKind.LINK_LOCAL
    if address.is_multicast:
        return AddressKind.MULTICAST
    if isinstance(address, ipaddress.IPv6Address) and address in _UNIQUE_LOCAL:
        return AddressKind.UNIQUE_LOCAL
    if address.is_private:
        return AddressKind.PRIVATE
    if not address.is_global or address.is_reserved:
        return AddressKind.RESERVED
    return None


def parse_address(text: str) -> IpAddress | None:
    """An IP literal (``[…]`` brackets and an IPv6 zone allowed), or None for a host name."""
    candidate = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return ipaddress.ip_address(candidate)
    except ValueError:
        return None


class AddressPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Where outbound calls may go.

    ``require_https``: only ``https`` URLs (production). ``allow_private``: loopback,
    private, link-local, unique-local and other non-public addresses may be called
    (development, tests, or an operator who opted in); cloud-metadata addresses never.
    """

    require_https: bool
    allow_private: bool

    @classmethod
    def for_environment(cls, *, production: bool, allow_private: bool) -> "AddressPolicy":
        """Production: https only, public addresses only unless ``allow_private``; elsewhere
        http and private addresses stay allowed (tests and the fake provider use them)."""
        return cls(require_https=production, allow_private=allow_private or not production)

    @property
    def resolves_names(self) -> bool:
        """Whether storing a URL needs its host resolved (only metadata addresses are
        refused otherwise, and those are checked on every connection anyway)."""
        return not self.allow_private

    def scheme_problem(self, scheme: str) -> str | None:
        """Why a URL scheme is refused, or None."""
        scheme = scheme.lower()
        if scheme == "https" or (scheme == "http" and not self.require_https):
            return None
        return "must be an https URL" if self.require_https else "must be an http(s) URL"

    def address_problem(self, address: IpAddress) -> str | None:
        """Why calling ``address`` is refused (e.g. "resolves to a private address"), or None."""
        kind = classify(address)
        if kind is None or (self.allow_private and kind is not AddressKind.METADATA):
            return None
        article = "an" if str(kind)[0] in "aeiou" else "a"
        return f"resolves to {article} {kind} address"


# Development and tests: http and private addresses allowed; only cloud metadata refused.
DEVELOPMENT_POLICY = AddressPolicy(require_https=False, allow_private=True)
