# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""DNS records as data: names, values in canonical presentation format (private to imip.server).

Pure Python (standard library only): used on the controller by the dns role's filter plugin
(through dns.planner) and on managed hosts by dns_check_info (through dns.check). Nothing here
talks to the network.

A record is a dict ``{"name": "cal.example.test.", "type": "A", "value": "198.51.100.132",
"ttl": 3600}``; names and name-valued data are absolute (trailing dot), values are in canonical
presentation format (the way dnspython's ``to_text()`` prints them; TXT and CAA text escaped to
ASCII), so zone files are plain ASCII. Whether a server holds them is decided by comparing
parsed records, not this text (dns.check).
"""

from __future__ import annotations

import ipaddress
import re

RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "SRV", "PTR", "NS", "CAA")


def fqdn(name):
    """An absolute, lower-case name with its trailing dot."""
    name = str(name).strip().lower()
    return name if name.endswith(".") else name + "."


def in_domain(name, domain):
    name, domain = fqdn(name), fqdn(domain)
    return name == domain or name.endswith("." + domain)


_ESCAPE_DECIMAL = re.compile(r"\\([0-9]{3})")
# A host name a PTR may point at: letter/digit/'-' labels (and '_'), at least two.
HOSTNAME = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9])?)+$")


def txt_strings(text):
    """A TXT value's character-strings, as bytes.

    Quoted presentation format (`"v=spf1 -all"`, `"a" "b"`, `"say \\"hi\\""`, `"gr\\195\\188n"`) is
    parsed as a zone file has it; anything else is one text, UTF-8 encoded and cut every 255 bytes
    (so `v=spf1 mx -all` is one string, not three). ValueError for a broken quoted value.
    """
    text = str(text).strip()
    if not text.startswith('"'):
        raw = text.encode("utf-8")
        return [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]
    strings, i = [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        if text[i] != '"':
            raise ValueError("text outside the quotes: %r" % text[i:])
        raw, i = _quoted_string(text, i + 1)
        strings.append(raw)
    return strings


def _quoted_string(text, i):
    """(bytes, position after the closing quote) of the quoted string whose text starts at i."""
    buf = bytearray()
    while True:
        if i >= len(text):
            raise ValueError("a quoted string is not closed")
        char = text[i]
        if char == '"':
            i += 1
            break
        if char == "\\":
            decimal = _ESCAPE_DECIMAL.match(text, i)
            if decimal:
                if int(decimal.group(1)) > 255:
                    raise ValueError("\\%s is not a byte" % decimal.group(1))
                buf.append(int(decimal.group(1)))
                i += 4
                continue
            if i + 1 >= len(text):
                raise ValueError("a quoted string ends in a backslash")
            char = text[i + 1]
            i += 1
        buf += char.encode("utf-8")
        i += 1
    if len(buf) > 255:
        raise ValueError("a quoted string is longer than 255 bytes")
    return bytes(buf), i


def escape(raw):
    """Bytes as a zone file writes them between quotes, exactly as dnspython's to_text() does:
    printable ASCII as is, quote and backslash escaped, every other byte as \\DDD. Zone files
    stay ASCII, and a record's text is the same whether we or the resolver print it."""
    out = []
    for byte in bytearray(raw):
        if byte in (0x22, 0x5C):
            out.append("\\" + chr(byte))
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append("\\%03d" % byte)
    return "".join(out)


def txt_value(text):
    """TXT data in canonical presentation format: quoted strings of at most 255 bytes."""
    return " ".join('"%s"' % escape(chunk) for chunk in txt_strings(text))


_CAA = re.compile(r"^(\d+)\s+([A-Za-z0-9]+)\s+(.+)$", re.S)


def caa_value(text):
    """CAA data (RFC 8659) in canonical presentation format: `0 issue "letsencrypt.org"`; the value
    may be written without quotes (`0 issue letsencrypt.org`, as BIND accepts it)."""
    match = _CAA.match(str(text).strip())
    if not match or int(match.group(1)) > 255:
        raise ValueError("CAA is FLAGS (0-255) TAG VALUE, e.g. 0 issue \"letsencrypt.org\"")
    value = match.group(3).strip()
    if value.startswith('"'):
        strings = txt_strings(value)
        if len(strings) != 1:
            raise ValueError("a CAA value is one string")
        raw = strings[0]
    elif any(c.isspace() for c in value):
        raise ValueError("a CAA value with spaces must be quoted")
    else:
        raw = value.encode("utf-8")
    return '%d %s "%s"' % (int(match.group(1)), match.group(2), escape(raw))


def normalize_value(rtype, value):
    """Presentation format, name-valued fields absolute, as dnspython's to_text() prints."""
    rtype = rtype.upper()
    value = str(value).strip()
    if rtype in ("CNAME", "PTR", "NS"):
        return fqdn(value)
    if rtype == "MX":
        pref, host = value.split()
        return "%d %s" % (int(pref), "." if host == "." else fqdn(host))
    if rtype == "SRV":
        prio, weight, port, target = value.split()
        return "%d %d %d %s" % (int(prio), int(weight), int(port), "." if target == "." else fqdn(target))
    if rtype == "TXT":
        return txt_value(value)
    if rtype == "CAA":
        return caa_value(value)
    if rtype == "A":
        return str(ipaddress.IPv4Address(value))
    if rtype == "AAAA":
        return str(ipaddress.IPv6Address(value))
    return value


def absolutize(rtype, value, domain):
    """Name-valued fields written relative to the domain ("cal") made absolute ("cal.example.test.")."""
    rtype, value = rtype.upper(), str(value).strip()
    fields = value.split()
    pos = {"CNAME": 0, "PTR": 0, "NS": 0, "MX": 1, "SRV": 3}.get(rtype)
    if pos is None or len(fields) <= pos or fields[pos].endswith("."):
        return value
    fields[pos] = "%s.%s." % (fields[pos], fqdn(domain).rstrip("."))
    return " ".join(fields)


def reverse_name(address):
    return ipaddress.ip_address(address).reverse_pointer + "."


def reverse_zone(network):
    """The reverse zone of an octet- (IPv4) or nibble- (IPv6) aligned network."""
    net = ipaddress.ip_network(network, strict=False)
    step = 8 if net.version == 4 else 4
    if net.prefixlen % step or net.prefixlen == 0:
        raise ValueError("%s: prefix length must be a multiple of %d (and not 0) for a reverse zone" % (network, step))
    labels = net.network_address.reverse_pointer.split(".")
    host_labels = (net.max_prefixlen - net.prefixlen) // step
    return ".".join(labels[host_labels:]) + "."


def default_reverse_network(address):
    """/24 for IPv4, /64 for IPv6."""
    addr = ipaddress.ip_address(address)
    return str(ipaddress.ip_network("%s/%d" % (addr, 24 if addr.version == 4 else 64), strict=False))
