# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The dns role's input checked, one part at a time (private to imip.server).

Pure Python (standard library only), used on the controller by dns.planner and the filter
imip.server.dns_zone_plan. Each function takes the list `errors` and appends one message per
problem, naming the inventory variable and the offending item; nothing here raises for bad input.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re

from ansible_collections.imip.server.plugins.module_utils._names import is_label
from ansible_collections.imip.server.plugins.module_utils.dns.records import (
    HOSTNAME,
    RECORD_TYPES,
    absolutize,
    default_reverse_network,
    fqdn,
    in_domain,
    normalize_value,
    reverse_zone,
)

TSIG_ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1", "hmac-md5")


def tsig_errors(key, variable="imip_dns_tsig_key", required_by=None):
    """Problems with a TSIG key dict {name, algorithm, secret}; never quotes the secret.

    required_by: why a key is needed (e.g. "the nsupdate provider signs its updates with it");
    then an empty key is an error too.
    """
    if not key:
        if required_by:
            return ["%s is required (%s): give name, algorithm and secret; make one with "
                    "`tsig-keygen -a hmac-sha256 NAME` and keep the secret in Ansible Vault" % (variable, required_by)]
        return []
    if not isinstance(key, dict):
        return ["%s must be a dict with name, algorithm and secret" % variable]
    errors = []
    for field in ("name", "secret"):
        if not key.get(field):
            errors.append("%s.%s is missing%s" % (variable, field, " (%s)" % required_by if required_by else ""))
    algorithm = str(key.get("algorithm", "hmac-sha256")).lower()
    if algorithm not in TSIG_ALGORITHMS:
        errors.append("%s.algorithm %r is not one of %s" % (variable, algorithm, ", ".join(TSIG_ALGORITHMS)))
    if key.get("name") and not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", str(key["name"])):
        errors.append("%s.name %r is not a valid key name" % (variable, key["name"]))
    secret = key.get("secret")
    if secret:
        try:
            raw = base64.b64decode(str(secret).strip(), validate=True)
        except (binascii.Error, ValueError):
            raw = None
        if not raw:
            errors.append("%s.secret does not parse: it must be base64 (as `tsig-keygen` prints it)" % variable)
        elif base64.b64encode(raw).decode() != str(secret).strip():
            # Python decodes a last character whose spare bits are not zero; BIND refuses it
            # ("bad base64 encoding") only when named.conf is checked, after the zones were written.
            errors.append("%s.secret is not canonical base64: its last character before the padding carries bits "
                          "past the key's end, which BIND refuses; make one with `tsig-keygen`" % variable)
        elif len(raw) < 16:
            errors.append("%s.secret is too short (%d bytes; use `tsig-keygen` for at least 16)" % (variable, len(raw)))
    return errors


def host_entries(hosts, domain, errors):
    out = []
    for host in hosts:
        entry = {"host": host.get("host", host.get("fqdn")), "fqdn": fqdn(host["fqdn"])}
        if not in_domain(entry["fqdn"], domain):
            errors.append(
                "imip_host_fqdn of %s (%s) is outside imip_domain %s: use a name under %s"
                % (entry["host"], entry["fqdn"].rstrip("."), domain, domain))
            continue
        for family, var in (("ipv4", "imip_host_ipv4"), ("ipv6", "imip_host_ipv6")):
            if host.get(family):
                try:
                    addr = ipaddress.ip_address(str(host[family]))
                    if addr.version != (4 if family == "ipv4" else 6):
                        raise ValueError
                    entry[family] = str(addr)
                except ValueError:
                    errors.append("%s of %s (%s) is not an IPv%s address" % (var, entry["host"], host[family], family[-1]))
        out.append(entry)
    return out


def ptr_entries(ptr_records, entries, errors):
    """[{address, fqdn}] of the PTR records served for addresses that are not the site's hosts."""
    taken = {}
    for e in entries:
        for family in ("ipv4", "ipv6"):
            if e.get(family):
                taken[ipaddress.ip_address(e[family])] = e["host"]
    out = []
    for i, rec in enumerate(ptr_records or ()):
        label = "imip_dns_ptr_records[%d]" % i
        if not isinstance(rec, dict) or not rec.get("address") or not rec.get("name"):
            errors.append("%s needs an address and a name" % label)
            continue
        try:
            addr = ipaddress.ip_address(str(rec["address"]))
        except ValueError:
            errors.append("%s.address %s is not an IP address" % (label, rec["address"]))
            continue
        name = fqdn(str(rec["name"]))
        if not HOSTNAME.match(name.rstrip(".")):
            errors.append("%s.name %s is not a host name" % (label, rec["name"]))
            continue
        if addr in taken:
            errors.append("%s.address %s is already the address of host %s, which has its own PTR"
                          % (label, addr, taken[addr]))
            continue
        taken[addr] = label
        out.append({"label": label, "address": addr, "fqdn": name})
    return out


def nameserver_names(nameservers, domain, errors):
    """The name servers as absolute names; an empty list is an error."""
    names = [fqdn(n) for n in nameservers]
    if not names:
        errors.append("imip_dns_nameservers is empty: name at least one name server of %s" % domain)
    return names


def reverse_networks(networks, entries, ptrs, errors):
    """The networks of the reverse zones: explicit, or the /24 (/64) of every host address."""
    nets = []
    explicit = bool(networks)
    for net in networks or ():
        try:
            reverse_zone(net)
            nets.append(ipaddress.ip_network(net, strict=False))
        except ValueError as exc:
            errors.append("imip_dns_reverse_networks: %s" % exc)
    for e in entries:
        _cover_host(e, nets, explicit, errors)
    for p in ptrs:
        if any(p["address"] in n for n in nets):
            continue
        if explicit:
            errors.append("%s.address %s lies outside every reverse zone in imip_dns_reverse_networks (%s)"
                          % (p["label"], p["address"], ", ".join(str(n) for n in nets)))
        else:
            nets.append(ipaddress.ip_network(default_reverse_network(p["address"])))
    return nets


def _cover_host(entry, nets, explicit, errors):
    """Each address of a host lies in a reverse network: one of the explicit ones (else an error),
    or its default network, added to nets."""
    for family, var in (("ipv4", "imip_host_ipv4"), ("ipv6", "imip_host_ipv6")):
        if family not in entry:
            continue
        addr = ipaddress.ip_address(entry[family])
        if any(addr in n for n in nets):
            continue
        if explicit:
            errors.append(
                "%s of %s (%s) lies outside every reverse zone in imip_dns_reverse_networks (%s): "
                "add its network there, or correct the address"
                % (var, entry["host"], addr, ", ".join(str(n) for n in nets)))
        else:
            nets.append(ipaddress.ip_network(default_reverse_network(addr)))


def extra_records(records, domain, ttl, errors):
    """[{name, type, value, ttl, view}] of imip_dns_extra_records, names and values checked."""
    extras = []
    for i, rec in enumerate(records or ()):
        extra = _extra_record("imip_dns_extra_records[%d]" % i, rec, domain, ttl, errors)
        if extra is not None:
            extras.append(extra)
    return extras


def _extra_record(label, rec, domain, ttl, errors):
    origin = fqdn(domain)
    try:
        rtype = str(rec["type"]).upper()
        name = str(rec.get("name", "@"))
        name = origin if name in ("@", "") else (fqdn(name) if name.endswith(".") else fqdn("%s.%s" % (name, domain)))
    except (KeyError, TypeError, AttributeError):
        errors.append("%s needs name, type and value" % label)
        return None
    if rtype not in RECORD_TYPES:
        errors.append("%s.type %s is not one of %s" % (label, rtype, ", ".join(RECORD_TYPES)))
        return None
    if not in_domain(name, domain):
        errors.append("%s.name %s is outside imip_domain %s" % (label, name.rstrip("."), domain))
        return None
    try:
        value = normalize_value(rtype, absolutize(rtype, rec["value"], domain))
    except (KeyError, ValueError):
        errors.append("%s.value %r is not valid %s data" % (label, rec.get("value"), rtype))
        return None
    view = rec.get("view", "all")
    if view not in ("all", "inside", "outside"):
        errors.append("%s.view must be all, inside or outside" % label)
        return None
    return {"name": name, "type": rtype, "value": value, "ttl": int(rec.get("ttl", ttl)), "view": view}


def dkim_records(dkim, origin, errors):
    """[(owner name, key record)] of imip_dns_dkim_records, selectors and records checked."""
    out = []
    for selector, value in sorted((dkim or {}).items()):
        if not is_label(str(selector)) or not str(value).startswith("v=DKIM1;"):
            errors.append("imip_dns_dkim_records: %r: %r is not a selector (a DNS label) with a DKIM key record "
                          "(v=DKIM1; k=rsa; p=...)" % (selector, str(value)[:20]))
            continue
        out.append(("%s._domainkey.%s" % (selector, origin), str(value)))
    return out


def dmarc_record(dmarc, dmarc_report_address, domain, errors):
    """The DMARC record, with rua=mailto: when a report address (in the domain) is given."""
    if dmarc_report_address:
        local, dummy, report_domain = str(dmarc_report_address).rpartition("@")
        if (not local or not HOSTNAME.match(report_domain) or not in_domain(fqdn(report_domain), domain)
                or any(c in local for c in ' ;,!<>"')):
            errors.append("imip_dns_dmarc_report_address %r is not an address in %s (a mailbox the site owns)"
                          % (dmarc_report_address, domain))
        elif dmarc:
            dmarc = "%s; rua=mailto:%s" % (dmarc.rstrip("; "), dmarc_report_address)
    return dmarc
