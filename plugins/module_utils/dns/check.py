# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""DNS checks from a resolver's point of view, with the fix for each failure (private to imip.server).

Each check returns {"check", "name", "type", "status", "is", "should", "fix", "message"} with
status "ok", "fail" or "unknown". A timeout is retried and ends as "unknown" ("could not
determine"), never as a pass or a fail. Needs dnspython.

Expected and answered records are compared as records, both parsed by dnspython (rdata
equality: the canonical wire form, so name case, trailing dots, quoting and escapes of TXT and
CAA text, and non-ASCII bytes do not matter), never as text; the text in reports and fixes is
dnspython's canonical presentation format on both sides.
"""

from __future__ import annotations

from ansible_collections.imip.server.plugins.module_utils.dns.records import fqdn, normalize_value, reverse_name
from ansible_collections.imip.server.plugins.module_utils.dns.zone_text import zone_line

try:
    import dns.exception
    import dns.flags
    import dns.message
    import dns.name
    import dns.query
    import dns.rcode
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype

    HAS_DNSPYTHON = True
    DNSPYTHON_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the module
    HAS_DNSPYTHON = False
    DNSPYTHON_ERROR = exc

SYMBOL = {"ok": "\u2713", "fail": "\u2716", "unknown": "?"}


class Undetermined(Exception):
    """The resolver did not answer usably (timeout, SERVFAIL, refused)."""


def parse(rtype, value):
    """An expected value as the record dnspython makes of it (names absolute).

    The value is in zone-file presentation format, with the planner's conventions
    (normalize_value of dns/records.py): a TXT value without quotes is one text, names may lack the
    trailing dot. ValueError when it does not parse.
    """
    presentation = normalize_value(rtype, value)
    try:
        return dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.from_text(rtype), presentation,
                                   origin=dns.name.root, relativize=False)
    except dns.exception.DNSException as exc:
        raise ValueError("%s %r does not parse: %s" % (rtype, value, exc))


def text(record):
    """A record's data in canonical presentation format (absolute names)."""
    return record.to_text(origin=None)


class Resolver(object):
    """Asks one server (address, port) directly, with retries on timeouts."""

    def __init__(self, server, port=53, timeout=2.0, retries=2, source=None):
        self.server = server
        self.port = int(port)
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.source = source
        self.cache = {}

    def query(self, name, rtype):
        """The set of records (dnspython rdata) at name/type; empty when none exist."""
        key = (fqdn(name), rtype.upper())
        if key not in self.cache:
            self.cache[key] = self._query(*key)
        return self.cache[key]

    def _query(self, name, rtype):
        request = dns.message.make_query(name, rtype)
        last = None
        for _attempt in range(self.retries + 1):
            try:
                response = dns.query.udp(request, self.server, port=self.port, timeout=self.timeout,
                                         source=self.source)
                if response.flags & dns.flags.TC:
                    response = dns.query.tcp(request, self.server, port=self.port, timeout=self.timeout,
                                             source=self.source)
            except dns.exception.Timeout:
                last = "no answer from %s port %d within %gs (%d tries)" % (
                    self.server, self.port, self.timeout, self.retries + 1)
                continue
            except (OSError, dns.exception.DNSException) as exc:
                last = "query to %s port %d failed: %s" % (self.server, self.port, exc)
                continue
            rcode = response.rcode()
            if rcode == dns.rcode.NXDOMAIN:
                return set()
            if rcode != dns.rcode.NOERROR:
                last = "%s answered %s for %s %s" % (self.server, dns.rcode.to_text(rcode), name, rtype)
                continue
            values = set()
            wanted = dns.rdatatype.from_text(rtype)
            for rrset in response.answer:
                if rrset.rdtype == wanted and rrset.name.to_text().lower() == name.lower():
                    values.update(rrset)
            return values
        raise Undetermined(last)


def _result(check, name, rtype, status, is_, should, fix=None, message=""):
    return {"check": check, "name": name.rstrip("."), "type": rtype, "status": status,
            "is": sorted(is_) if isinstance(is_, (set, list, tuple)) else is_,
            "should": sorted(should) if isinstance(should, (set, list, tuple)) else should,
            "fix": fix or [], "message": message}


def check_rrset(resolver, name, rtype, expected, ttl=3600):
    """The RRset at name/type must equal the expected values (presentation format), compared as
    parsed records."""
    name = fqdn(name)
    should = set(parse(rtype, v) for v in expected)
    should_text = sorted(text(r) for r in should)
    label = "%s %s" % (name.rstrip("."), rtype)
    try:
        found = resolver.query(name, rtype)
    except Undetermined as exc:
        return _result("record", name, rtype, "unknown", [], should_text, message="could not determine %s: %s" % (label, exc))
    found_text = sorted(text(r) for r in found)
    if found == should:
        return _result("record", name, rtype, "ok", found_text, should_text, message="%s is right" % label)
    missing = sorted(text(r) for r in should - found)
    extra = sorted(text(r) for r in found - should)
    fix = ["add: " + zone_line({"name": name, "type": rtype, "value": v, "ttl": ttl}) for v in missing]
    fix += ["remove: " + zone_line({"name": name, "type": rtype, "value": v, "ttl": ttl}) for v in extra]
    if not found:
        msg = "%s is missing; it should be %s" % (label, ", ".join(should_text))
    else:
        msg = "%s is %s; it should be %s" % (label, ", ".join(found_text), ", ".join(should_text))
    return _result("record", name, rtype, "fail", found_text, should_text, fix, msg)


def check_fcrdns(resolver, name, address, address_owner="us", ttl=3600):
    """Forward-confirmed reverse DNS: name -> address, address -> PTR name, PTR name -> address."""
    name = fqdn(name)
    rtype = "AAAA" if ":" in address else "A"
    address = normalize_value(rtype, address)
    rev = reverse_name(address)
    label = "%s <-> %s" % (name.rstrip("."), address)
    try:
        forward = resolver.query(name, rtype)
        ptrs = resolver.query(rev, "PTR")
    except Undetermined as exc:
        return _result("fcrdns", name, rtype, "unknown", [], [address, name],
                       message="could not determine %s: %s" % (label, exc))
    forward_text = sorted(text(r) for r in forward)
    ptr_text = sorted(text(r) for r in ptrs)
    problems, fix = [], []
    if parse(rtype, address) not in forward:
        problems.append("%s %s is %s, not %s" % (name.rstrip("."), rtype, ", ".join(forward_text) or "missing", address))
        fix.append("add: " + zone_line({"name": name, "type": rtype, "value": address, "ttl": ttl}))
    # The PTR name must be the name itself (which leads back to the address, checked above).
    if parse("PTR", name) not in ptrs:
        problems.append("PTR of %s is %s, not %s" % (address, ", ".join(ptr_text) or "missing", name.rstrip(".")))
        fix.append("add: " + zone_line({"name": rev, "type": "PTR", "value": name, "ttl": ttl}))
        fix += ["remove: " + zone_line({"name": rev, "type": "PTR", "value": p, "ttl": ttl}) for p in ptr_text]
        ptr_ok = False
    else:
        ptr_ok = True
    is_ = {"forward": forward_text, "ptr": ptr_text}
    should = {"forward": [address], "ptr": [name]}
    if not problems:
        return _result("fcrdns", name, rtype, "ok", is_, should, message="%s: forward and reverse agree" % label)
    msg = "; ".join(problems)
    if address_owner != "us" and not ptr_ok:
        msg += ("; the reverse zone of %s belongs to %s, not to this site: ask them to set the PTR"
                % (address, address_owner))
    return _result("fcrdns", name, rtype, "fail", is_, should, fix, msg)


def run_checks(resolver, records=(), fcrdns=(), ttl=3600):
    """Group expected records into RRsets, check each, then every FCrDNS pair."""
    rrsets = {}
    for rec in records:
        key = (fqdn(rec["name"]), rec["type"].upper())
        rrsets.setdefault(key, []).append(rec["value"])
    results = [check_rrset(resolver, name, rtype, values, ttl) for (name, rtype), values in sorted(rrsets.items())]
    for pair in fcrdns:
        results.append(check_fcrdns(resolver, pair["name"], pair["address"], pair.get("address_owner", "us"), ttl))
    return results


def summary(results):
    counts = {s: sum(1 for r in results if r["status"] == s) for s in ("ok", "fail", "unknown")}
    report = []
    for r in results:
        report.append("%s %s" % (SYMBOL[r["status"]], r["message"]))
        report += ["    %s" % f for f in r["fix"]]
    return counts, report
