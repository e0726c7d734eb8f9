# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The rules behind the facts several roles share (the imip.server.site_facts role).

Each rule lives here once: a host's DNS name, what an IPv4 address and a network may look like
(a domain name and a mail address are rules of _names.py). The roles and the validation play
(playbooks/validate.yml) call them through the filters in plugins/filter/site_facts.py. A predicate returns None for a
good value, else the reason in a few words, so that every message names the same rule the same way.
"""

from __future__ import annotations

import ipaddress

from ansible_collections.imip.server.plugins.module_utils import _names


def host_fqdn(host, variables):
    """A host's DNS name: its imip_host_fqdn, else <inventory name>.<its imip_domain>.

    variables: that host's variables (hostvars[host]). None when neither is known.
    """
    name = variables.get("imip_host_fqdn")
    if name:
        return str(name).rstrip(".")
    domain = variables.get("imip_domain")
    if not domain:
        return None
    return "%s.%s" % (host, str(domain).rstrip("."))


def invalid_mail_addresses(addresses):
    """The addresses that are not mail addresses the site accepts (_names.mail_address_problem), in
    the order given."""
    return [address for address in addresses if not _names.is_mail_address(address)]


def ipv4_problem(address):
    """None for an IPv4 address in dotted-quad form, else why not."""
    if not isinstance(address, str):
        return "not an IPv4 address: a %s, not a string" % type(address).__name__
    try:
        ipaddress.IPv4Address(address)
    except ValueError as exc:
        return "not an IPv4 address: %s" % exc
    return None


def parse_address_or_network(text, version=None):
    """An ipaddress network for an address ('192.0.2.1' -> /32) or a network.

    Raises ValueError with a message saying what is wrong. Host bits in a network are an error
    (192.0.2.1/24 is ambiguous: the address, or the network it lies in?); so are IPv6 zone
    indexes ('fe80::1%eth0'), which nft does not take.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("is neither an IPv4 nor an IPv6 address or network")
    text = text.strip()
    if "%" in text:
        raise ValueError("carries an IPv6 zone index (%...), which nftables does not take")
    try:
        if "/" in text:
            net = ipaddress.ip_network(text, strict=False)
            if net.network_address != ipaddress.ip_address(text.split("/", 1)[0]):
                raise ValueError("has host bits set: write the network %s, or the address alone" % net)
        else:
            net = ipaddress.ip_network(ipaddress.ip_address(text))
    except ValueError as exc:
        if "host bits" in str(exc):
            raise
        raise ValueError("is neither an IPv4 nor an IPv6 address or network")
    if version is not None and net.version != version:
        raise ValueError("is not an IPv%d %s" % (version, "network" if "/" in text else "address"))
    return net


def network_problem(network):
    """None for an IPv4 or IPv6 address or network (the rule of parse_address_or_network), else why not."""
    try:
        parse_address_or_network(network)
    except ValueError as exc:
        return str(exc)
    return None
