"""Which addresses captures may reach."""

from __future__ import annotations

import ipaddress

import pytest

from service.errors import Blocked
from service.netpolicy import NetworkPolicy
from service.urls import parse_target_url

DEFAULT = NetworkPolicy()


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
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
        "fd00:ec2::254",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::",
        "64:ff9b::a9fe:a9fe",
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo wrapping 127.0.0.1
    ],
)
def test_non_public_addresses_are_refused_by_default(address):
    assert not DEFAULT.is_allowed(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address):
    assert DEFAULT.is_allowed(ipaddress.ip_address(address))


def test_allow_networks_lift_the_block_for_listed_ranges_only():
    policy = NetworkPolicy(allow=(ipaddress.ip_network("127.0.0.0/8"),))
    assert policy.is_allowed(ipaddress.ip_address("127.0.0.2"))
    assert not policy.is_allowed(ipaddress.ip_address("10.0.0.1"))


def test_deny_networks_win_over_everything():
    policy = NetworkPolicy(allow=(ipaddress.ip_network("0.0.0.0/0"),), deny=(ipaddress.ip_network("8.8.8.0/24"),))
    assert not policy.is_allowed(ipaddress.ip_address("8.8.8.8"))
    assert not policy.is_allowed(ipaddress.ip_address("::ffff:8.8.8.8"))


def test_check_resolves_names_and_refuses_any_bad_address():
    with pytest.raises(Blocked):
        DEFAULT.check(parse_target_url("http://localhost:8080/", max_length=100))
    with pytest.raises(Blocked):
        DEFAULT.check(parse_target_url("http://0x7f000001/", max_length=100))


def test_unresolvable_names_are_blocked_like_private_ones():
    with pytest.raises(Blocked):
        DEFAULT.check(parse_target_url("http://no-such-host.invalid/", max_length=100))
