"""The address guard: webhooks reach only public addresses unless the operator allows more."""

import ipaddress

import pytest

from replyd.functions.ssrf import AddressGuard, BlockedAddress, is_public

NOT_PUBLIC = [
    "127.0.0.1",
    "127.8.9.10",
    "10.0.0.5",
    "172.16.3.4",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "64:ff9b::a00:1",
    "2001:db8::1",
    "::7f00:1",  # IPv4-compatible 127.0.0.1
    "::a00:1",
    "::a9fe:a9fe",
    "::ffff:0:7f00:1",  # IPv4-translated (SIIT) 127.0.0.1
    "::ffff:0:a00:1",
    "::ffff:0:a9fe:a9fe",
    "64:ff9b:1::",  # local-use NAT64, first to last, whatever it carries
    "64:ff9b:1::7f00:1",
    "64:ff9b:1:5db8:d822::",
    "64:ff9b:1:ffff:ffff:ffff:ffff:ffff",
]
PUBLIC = [
    "93.184.216.34",
    "1.1.1.1",
    "2606:4700:4700::1111",
    "::ffff:93.184.216.34",
    "64:ff9b::5db8:d822",
    "::5db8:d822",  # IPv4-compatible and SIIT forms of a public address
    "::ffff:0:5db8:d822",
    "64:ff9b:0:ffff:ffff:ffff:ffff:ffff",  # just outside local-use NAT64, on either side
    "64:ff9b:2::",
]


@pytest.mark.parametrize("text", NOT_PUBLIC)
def test_internal_and_reserved_addresses_are_not_public(text: str) -> None:
    assert not is_public(ipaddress.ip_address(text))


@pytest.mark.parametrize("text", PUBLIC)
def test_internet_addresses_are_public(text: str) -> None:
    assert is_public(ipaddress.ip_address(text))


def dns(table: dict[str, list[str]]) -> AddressGuard:
    async def lookup(host: str, port: int) -> list[str]:
        return table[host]

    return AddressGuard(lookup=lookup)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "169.254.169.254",
        "::1",
        "::ffff:127.0.0.1",
        "::7f00:1",
        "::ffff:0:7f00:1",
        "64:ff9b:1::1",
    ],
)
async def test_a_name_resolving_to_an_internal_address_is_refused(address: str) -> None:
    with pytest.raises(BlockedAddress, match=address):
        await dns({"hooks.example.com": [address]}).resolve("hooks.example.com", 443)


async def test_one_internal_address_among_public_ones_is_enough_to_refuse() -> None:
    guard = dns({"mixed.example.com": ["93.184.216.34", "10.0.0.7"]})
    with pytest.raises(BlockedAddress):
        await guard.resolve("mixed.example.com", 443)


async def test_a_public_name_resolves_to_the_address_to_connect_to() -> None:
    assert await dns({"shop.example.com": ["93.184.216.34"]}).resolve("shop.example.com", 443) == "93.184.216.34"


async def test_allowed_networks_and_hosts_open_exactly_themselves() -> None:
    guard = AddressGuard.from_setting("127.0.0.0/8, hooks.internal , 10.9.0.0/16")
    assert guard.allowed_hosts == frozenset({"hooks.internal"})
    assert await guard.resolve("127.0.0.1", 80) == "127.0.0.1"
    assert await guard.resolve("10.9.1.1", 80) == "10.9.1.1"
    with pytest.raises(BlockedAddress):
        await guard.resolve("10.8.1.1", 80)
    with pytest.raises(BlockedAddress):  # the IPv4-mapped form is not in an IPv4 network
        await guard.resolve("::ffff:10.8.1.1", 80)


async def test_localhost_is_refused_by_name_through_real_resolution() -> None:
    with pytest.raises(BlockedAddress):
        await AddressGuard().resolve("localhost", 80)


async def test_an_unresolvable_name_is_refused() -> None:
    with pytest.raises(BlockedAddress, match="cannot resolve"):
        await AddressGuard().resolve("no-such-host.invalid", 80)
