# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The rules behind the facts several roles share (the imip.server.site_facts role).

Each rule lives here once: a host's DNS name, what a domain name, an IPv4 address, a network and
a mail address of the site may look like. The roles and the validation play (playbooks/validate.yml)
call them through the filters in plugins/filter/site_facts.py. A predicate returns None for a
good value, else the reason in a few words, so that every message names the same rule the same way.
"""

from __future__ import annotations

import ipaddress
import re

# A mail address the roles accept: lower-case letters, digits, '.', '_' and '-' in the local part
# (no '+': it is the recipient delimiter of the token addresses; no ':': the passwd-file separator),
# and a domain of at least two labels.
_LOCAL = r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9_-])?"
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
MAIL_ADDRESS = re.compile(r"^%s@%s(?:\.%s)+$" % (_LOCAL, _LABEL, _LABEL))


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
    """The addresses (compared in lower case) that break the rule, in the order given."""
    return [address for address in addresses
            if not isinstance(address, str) or not MAIL_ADDRESS.match(address.lower())]


_LABEL_CHARACTERS = re.compile(r"^[a-z0-9-]+$")


def domain_problem(name):
    """None for a domain name the site can use (letters, digits and hyphens in labels of 1-63
    characters, at least two labels, no trailing dot), else why not."""
    if not isinstance(name, str) or not name:
        return "not a domain name: empty"
    if name.endswith("."):
        return "not a domain name: ends with a dot (write it without)"
    if len(name) > 253:
        return "not a domain name: longer than 253 characters"
    labels = name.lower().split(".")
    if len(labels) < 2:
        return "not a domain name: one label only (a domain has at least two, e.g. example.org)"
    for label in labels:
        if not label:
            return "not a domain name: empty label"
        if len(label) > 63:
            return "not a domain name: label %r is longer than 63 characters" % label
        if not _LABEL_CHARACTERS.match(label):
            return "not a domain name: label %r has a character other than a-z, 0-9 and '-'" % label
        if label.startswith("-") or label.endswith("-"):
            return "not a domain name: label %r starts or ends with '-'" % label
    if labels[-1].isdigit():
        return "not a domain name: the last label is a number"
    return None


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


def mail_address_problem(address):
    """None for a mail address the roles accept (the rule of invalid_mail_addresses), else why not."""
    if not isinstance(address, str) or "@" not in address:
        return "not a mail address: no '@'"
    local, domain = address.lower().rsplit("@", 1)
    problem = domain_problem(domain)
    if problem:
        return "not a mail address: its domain is " + problem
    if not MAIL_ADDRESS.match(address.lower()):
        return ("not a mail address the site accepts: the local part %r may hold only a-z, 0-9, '.', '_' "
                "and '-' (no '+')" % local)
    return None
