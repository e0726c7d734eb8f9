# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Zone files as text: lines, bodies with a SERIAL placeholder, serials (private to imip.server).

Pure Python (standard library only), used on the controller by the dns role's filters.
"""

from __future__ import annotations

import datetime
import re

from ansible_collections.imip.server.plugins.module_utils.dns.records import fqdn


def relative(name, origin):
    """Owner name relative to the zone origin, as written in a zone file."""
    name, origin = fqdn(name), fqdn(origin)
    if name == origin:
        return "@"
    return name[: -len(origin) - 1]


def zone_line(record, origin=None, default_ttl=None):
    """One zone-file line; absolute owner unless an origin is given."""
    owner = relative(record["name"], origin) if origin else fqdn(record["name"])
    ttl = record.get("ttl")
    ttl_text = "" if ttl is None or ttl == default_ttl else " %d" % int(ttl)
    return "%s%s IN %s %s" % (owner, ttl_text, record["type"], record["value"])


def zone_body(zone, records, primary_ns, contact, ttl, soa_timers):
    """The zone file after the header, with the serial as the placeholder SERIAL."""
    origin = fqdn(zone)
    refresh, retry, expire, minimum = soa_timers
    lines = [
        "$ORIGIN %s" % origin,
        "$TTL %d" % ttl,
        "@ IN SOA %s %s (" % (fqdn(primary_ns), contact),
        "    SERIAL ; serial",
        "    %d %d %d %d )" % (refresh, retry, expire, minimum),
    ]
    seen = set()
    for rec in sorted(records, key=_sort_key(origin)):
        line = zone_line(rec, origin, ttl)
        if line not in seen:
            seen.add(line)
            lines.append(line)
    return "\n".join(lines) + "\n"


def _sort_key(origin):
    order = {"NS": 0, "MX": 1, "TXT": 2, "A": 3, "AAAA": 4, "CNAME": 5, "SRV": 6, "PTR": 7, "CAA": 8}

    def key(rec):
        name = rec["name"]
        apex = name != fqdn(origin)
        labels = tuple(reversed(name.split(".")))
        return (apex, labels, order.get(rec["type"], 9), rec["value"])

    return key


_SERIAL_IN_FILE = re.compile(r"^(\s+)(\d+)( ; serial)$", re.M)


def next_serial(current_text, body, today=None):
    """(serial, changed) for a zone body with SERIAL placeholder, given the installed file.

    The serial changes only when the body changes: the installed file's serial is kept when the
    rest is equal; otherwise max(old + 1, YYYYMMDD00) (RFC 1912 2.2 style), or YYYYMMDD00 new.
    """
    today = today or datetime.date.today()
    base = int(today.strftime("%Y%m%d")) * 100
    old = None
    rest = None
    if current_text:
        match = _SERIAL_IN_FILE.search(current_text)
        if match:
            old = int(match.group(2))
            rest = current_text[:match.start(2)] + "SERIAL" + current_text[match.end(2):]
    installed_body = _strip_header(rest) if rest is not None else None
    if old is not None and installed_body.rstrip() == body.rstrip():
        return old, False
    if old is None:
        return base, True
    return max(old + 1, base) % (2 ** 32), True


def _strip_header(text):
    """The zone file without its leading comment lines (the ansible_managed header)."""
    lines = text.splitlines(True)
    while lines and lines[0].startswith(";"):
        lines.pop(0)
    return "".join(lines)
