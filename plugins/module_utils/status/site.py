# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The status checks seen from a site host (private to imip.server; the site_status_info module).

- listeners(): the addresses each public port listens on (from /proc/net), for the report's
  "reachable from outside, and not only on loopback" lines;
- tls_checks(): the certificate each TLS port serves, trusted, for its names, not expiring soon;
- outbound_ipv6_check(): outgoing mail over IPv6 only from a published address;
- account_checks(): each copy of the invitation password as the parity engine compared it.
The iMIP gateway's lines are in status/gateway.py.

Every function returns plain data or checks (status.checks) and never raises for what it
finds on the host.
"""

from __future__ import annotations

import ipaddress
import os
import time

from ansible_collections.imip.server.plugins.module_utils.status import checks as sc
from ansible_collections.imip.server.plugins.module_utils.status import probes

# ------------------------------------------------------------------------------ listeners

_PROC = {"tcp": ("tcp", "tcp6"), "udp": ("udp", "udp6")}
_LISTEN = {"tcp": "0A", "udp": "07"}


def _hex_address(text):
    """An address from /proc/net/*: IPv4 as one little-endian word, IPv6 as four."""
    raw = bytes.fromhex(text)
    words = [raw[i:i + 4][::-1] for i in range(0, len(raw), 4)]
    return str(ipaddress.ip_address(b"".join(words)))


def parse_proc_net(text, proto):
    """{port: sorted addresses} of the sockets listening (tcp) or bound (udp) in one file."""
    found = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4 or fields[3] != _LISTEN[proto] or not fields[2].endswith(":0000"):
            continue
        address, port = fields[1].rsplit(":", 1)
        found.setdefault(int(port, 16), set()).add(_hex_address(address))
    return found


def listeners(ports, root="/proc/net"):
    """[{port, proto, addresses}] for the wanted [{port, proto}], from the host's socket tables."""
    tables = {}
    for proto, files in _PROC.items():
        merged = {}
        for name in files:
            try:
                with open(os.path.join(root, name)) as handle:
                    text = handle.read()
            except OSError:
                continue
            for port, addresses in parse_proc_net(text, proto).items():
                merged.setdefault(port, set()).update(addresses)
        tables[proto] = merged
    return [{"port": int(p["port"]), "proto": p["proto"],
             "addresses": sorted(tables.get(p["proto"], {}).get(int(p["port"]), ()))} for p in ports]


def exposure(addresses):
    """How a port listens: "all" (a wildcard or a non-loopback address), "loopback", or "none"."""
    if not addresses:
        return "none"
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if ip.is_unspecified or not (ip.is_loopback or ip.is_link_local):
            return "all"
    return "loopback"


def connect_address(addresses):
    """Where this host reaches its own listener: loopback when the port listens there."""
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if ip.is_unspecified or (ip.is_loopback and ip.version == 4):
            return "127.0.0.1"
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if ip.version == 4 and not ip.is_link_local:
            return address
    return "127.0.0.1"


# ------------------------------------------------------------------------------ outgoing mail over IPv6

OUTBOUND_IPV6 = "mail.outbound_ipv6"


def parse_if_inet6(text):
    """The host's IPv6 addresses that are routable on the internet, from /proc/net/if_inet6
    (one line per address: 32 hex digits, interface index, prefix length, scope, flags, name).
    Unique local (fc00::/7), link-local and documentation addresses do not count."""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 6 or len(fields[0]) != 32:
            continue
        ip = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
        if ip.is_global and str(ip) not in found:
            found.append(str(ip))
    return found


def global_ipv6_addresses(path="/proc/net/if_inet6"):
    """parse_if_inet6 of the host's table; [] when the kernel has no IPv6."""
    try:
        with open(path) as handle:
            return parse_if_inet6(handle.read())
    except OSError:
        return []


def outbound_ipv6_check(addresses, protocols, preference, published):
    """Whether mail can leave this host from an IPv6 address that the site does not publish
    (large providers refuse or junk mail from an address without PTR, outside the SPF record).
    addresses: the host's global IPv6 addresses; protocols, preference: Postfix's inet_protocols
    and smtp_address_preference; published: the addresses the dns role publishes for the host
    (AAAA and PTR; the SPF record's mx covers them)."""
    published = set(str(ipaddress.ip_address(a)) for a in published if a)
    protocols = [x.strip() for x in str(protocols).replace(",", " ").split()]
    if not addresses:
        return sc.ok(OUTBOUND_IPV6, sc.MAIL, "outgoing mail leaves over IPv4: this host has no global IPv6 address")
    if "all" not in protocols and "ipv6" not in protocols:
        return sc.ok(OUTBOUND_IPV6, sc.MAIL, "outgoing mail leaves over IPv4 only (Postfix inet_protocols = %s)"
                     % ", ".join(protocols))
    unpublished = [a for a in addresses if a not in published]
    if not unpublished:
        how = "may leave over" if preference != "ipv4" else "prefers IPv4 to"
        hint = "" if preference != "ipv4" else ": imip_mail_outbound_ipv6: true would use it"
        return sc.ok(OUTBOUND_IPV6, sc.MAIL, "outgoing mail %s IPv6 from %s, which the site publishes (AAAA and PTR, "
                     "in SPF through mx)%s" % (how, ", ".join(addresses), hint))
    if preference == "ipv4":
        return sc.ok(OUTBOUND_IPV6, sc.MAIL, "outgoing mail prefers IPv4 (smtp_address_preference = ipv4): this host's "
                     "IPv6 address %s has no AAAA and PTR of the site, so mail leaves from it only to a server "
                     "without an IPv4 address" % ", ".join(unpublished))
    return sc.fail(
        OUTBOUND_IPV6, sc.MAIL, "outgoing mail may leave over IPv6 from %s, which the site does not publish (no PTR, "
        "outside the SPF record; Postfix smtp_address_preference = %s): large providers refuse or junk such mail"
        % (", ".join(unpublished), preference),
        "mail leaves from addresses with a PTR that names the mail host and a place in the SPF record",
        ["imip_mail_outbound_ipv6: false on the mail host (Postfix then prefers IPv4), and run site.yml",
         "or publish the address: imip_host_ipv6 of the mail host; the dns role writes its AAAA and, where it serves "
         "the reverse zone, its PTR (else ask the provider for PTR <address> -> <mail host>)"])


# ------------------------------------------------------------------------------ TLS

def _name_matches(name, pattern):
    name, pattern = name.lower().rstrip("."), pattern.lower().rstrip(".")
    if pattern.startswith("*."):
        return "." in name and name.split(".", 1)[1] == pattern[2:]
    return name == pattern


def tls_check(endpoint, names, min_days, seen, now):
    """The check of one TLS port from what served_certificate() saw."""
    port = endpoint["port"]
    cid = "tls.%d" % port
    label = "%s (port %d)" % (endpoint.get("service") or "TLS", port)
    fix_renew = ["run site.yml: the tls role renews certificates (imip_tls_renew_days) and reloads the services "
                 "that use them; a certificate you supply yourself (imip_tls_certificate_pem) you renew yourself"]
    if seen["state"] != probes.OPEN:
        return sc.unknown(cid, sc.TLS, "could not read the certificate of %s at %s: %s"
                          % (label, endpoint["address"], seen["detail"]),
                          fix="the port lines above say whether the service is listening")
    missing = [n for n in names if not any(_name_matches(n, p) for p in seen["names"])]
    days = None if seen["not_after_epoch"] is None else (seen["not_after_epoch"] - now) / 86400.0
    should = "a certificate trusted by this host, for %s, valid for more than %d days" % (", ".join(names), min_days)
    if not seen["verified"]:
        detail = seen["verify_error"]
        if seen["names"]:
            detail += "; it is for %s, valid until %s" % (", ".join(seen["names"]), seen["not_after"])
        return sc.fail(cid, sc.TLS, "%s serves a certificate this host does not trust: %s" % (label, detail), should,
                       ["if the site CA issued it, trust the CA on every host (imip_tls_ca_trust_enabled) "
                        "or let the tls role issue a new one: run site.yml"] + fix_renew[:1])
    if missing:
        return sc.fail(cid, sc.TLS, "%s serves a certificate for %s, not for %s"
                       % (label, ", ".join(seen["names"]), ", ".join(missing)), should,
                       ["add the names to imip_tls_names (imip_tls_extra_names) and run site.yml"])
    if days is not None and days < min_days:
        state = "expired on" if days < 0 else "expires in %.0f days, on" % days
        return sc.fail(cid, sc.TLS, "the certificate of %s %s %s" % (label, state, seen["not_after"]), should, fix_renew)
    return sc.ok(cid, sc.TLS, "%s: trusted certificate for %s, valid until %s (%.0f days)"
                 % (label, ", ".join(names), seen["not_after"], days))


def tls_checks(endpoints, names, min_days, timeout, retries, cafile=None, now=None):
    """One check per TLS endpoint [{port, protocol: smtp|tls, service, address}]."""
    now = time.time() if now is None else now

    def one(ep):
        seen = probes.served_certificate(ep["address"], ep["port"], ep["protocol"], names[0], timeout, retries,
                                         cafile=cafile)
        return tls_check(ep, names, min_days, seen, now)

    return sc.in_parallel([lambda ep=ep: sc.guarded("tls.%d" % ep["port"], sc.TLS, one, ep) for ep in endpoints])


# ------------------------------------------------------------------------------ the invitation account

def _account_fix(store):
    if store["type"] == "passwd_file":
        return ["the mail role writes this hash from imip_invitation_password: "
                "`ansible-playbook -i INVENTORY site.yml --check --diff` shows the rehash, then run site.yml"]
    if store["type"] in ("probe_smtp", "probe_imap"):
        return ["the server checks the password against the account's hash: put the hash right (see the "
                "dovecot-passwd-file line; site.yml does it), or update imip_invitation_password if the new "
                "password is the one you want, then run site.yml"]
    return ["the invitation_account role rewrites this copy: `ansible-playbook -i INVENTORY site.yml --check --diff` "
            "names it, then run site.yml"]


def account_checks(stores, address):
    """One check per store of the invitation password (password_parity_info's `stores`)."""
    out = []
    for store in stores:
        cid = "account.%s" % store["name"]
        if store["status"] == "match":
            out.append(sc.ok(cid, sc.ACCOUNT, "%s: %s" % (store["name"], store["msg"])))
        elif store["status"] == "error":
            out.append(sc.unknown(cid, sc.ACCOUNT, "%s: could not be compared: %s" % (store["name"], store["msg"]),
                                  fix="run with become (the copies are readable by root only), and see the port lines"))
        else:
            what = "does not exist" if store["status"] == "missing" else "disagrees"
            out.append(sc.fail(cid, sc.ACCOUNT, "%s %s: %s" % (store["name"], what, store["msg"]),
                               "%s holds the invitation password of %s (imip_invitation_password)" % (store["name"], address),
                               _account_fix(store)))
    return out


def run_parity(run_engine, retries):
    """run_engine() -> result of _parity.run; run again while a probe could not be decided
    (a timeout or a refused connection), so that a slow server counts only after retries."""
    result = run_engine()
    for dummy in range(int(retries)):
        if not any(s["status"] == "error" and s["type"].startswith("probe_") for s in result["stores"]):
            break
        time.sleep(0.5)
        result = run_engine()
    return result
