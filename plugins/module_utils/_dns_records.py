# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The DNS records a site needs, derived from its inventory (private to imip.server).

Pure Python (standard library only): used on the controller by the dns role's filter plugin
and on managed hosts by dns_check_info. Nothing here talks to the network.

A record is a dict ``{"name": "cal.example.test.", "type": "A", "value": "198.51.100.132",
"ttl": 3600}``; names and name-valued data are absolute (trailing dot), values are in canonical
presentation format (the way dnspython's ``to_text()`` prints them; TXT and CAA text escaped to
ASCII), so zone files are plain ASCII. Whether a server holds them is decided by comparing
parsed records, not this text (_dns_check).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import ipaddress
import re

from ansible_collections.imip.server.plugins.module_utils._dkim_keys import SELECTOR as DKIM_SELECTOR

TSIG_ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1", "hmac-md5")
RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "SRV", "PTR", "NS", "CAA")
# RFC 6186 / RFC 6764 services a site announces; (service, port, offered-by group key).
MAIL_SERVICES = (
    ("_submission._tcp", 587, "mail"),
    ("_imaps._tcp", 993, "mail"),
    ("_imap._tcp", 143, None),
    ("_pop3._tcp", 110, None),
    ("_pop3s._tcp", 995, None),
)
_SOA_RE = re.compile(r"^(@\s+\d+\s+IN\s+SOA\s+\S+\s+\S+\s+\()\s*(\d+)(\s*;\s*serial)\s*$", re.M)


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
        i += 1
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
        strings.append(bytes(buf))
    return strings


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


def _host_entries(hosts, domain, errors):
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


def _ptr_entries(ptr_records, entries, errors):
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


def plan(domain, hosts, nameservers, mail_hosts=(), calendar_hosts=(), public_ipv4=None, public_ipv6=None,
         views=True, reverse_networks=(), extra_records=(), ttl=3600, caldav_path="/", spf="v=spf1 mx -all",
         dmarc="v=DMARC1; p=quarantine", soa_contact=None, soa_timers=(3600, 900, 1209600, 300),
         ptr_records=(), dkim=None, dmarc_report_address=""):
    """Every zone of a site per view, or the list of input errors.

    hosts: [{host, fqdn, ipv4, ipv6}] (inside addresses). mail_hosts / calendar_hosts /
    nameservers: host FQDNs. public_ipv4: the NAT address; with views=True the "outside" view
    shows it for every host and has no reverse zones (the public PTR is the address owner's).
    ptr_records: [{address, name}] PTRs for addresses that are not the site's hosts, in the
    reverse zones (what an address provider serves for its customers' addresses).
    dkim: {selector: key record} published as TXT at <selector>._domainkey (with mail hosts).
    dmarc_report_address: where receivers send DMARC aggregate reports (rua=mailto:), an address in
    the domain (a mailbox the site owns; another domain would have to authorize it, RFC 7489 7.1).
    Returns {"errors": [...], "views": [{"name", "zones": [{"name", "records", "body"}]}]}.
    """
    errors = []
    domain = fqdn(domain).rstrip(".")
    origin = fqdn(domain)
    entries = _host_entries(hosts, domain, errors)
    by_fqdn = {e["fqdn"]: e for e in entries}
    nameservers = [fqdn(n) for n in nameservers]
    if not nameservers:
        errors.append("imip_dns_nameservers is empty: name at least one name server of %s" % domain)

    ptrs = _ptr_entries(ptr_records, entries, errors)

    # Reverse networks: explicit, or the /24 (/64) of every host address.
    nets = []
    explicit = bool(reverse_networks)
    for net in reverse_networks or ():
        try:
            reverse_zone(net)
            nets.append(ipaddress.ip_network(net, strict=False))
        except ValueError as exc:
            errors.append("imip_dns_reverse_networks: %s" % exc)
    for e in entries:
        for family, var in (("ipv4", "imip_host_ipv4"), ("ipv6", "imip_host_ipv6")):
            if family not in e:
                continue
            addr = ipaddress.ip_address(e[family])
            if any(addr in n for n in nets):
                continue
            if explicit:
                errors.append(
                    "%s of %s (%s) lies outside every reverse zone in imip_dns_reverse_networks (%s): "
                    "add its network there, or correct the address"
                    % (var, e["host"], addr, ", ".join(str(n) for n in nets)))
            else:
                nets.append(ipaddress.ip_network(default_reverse_network(addr)))
    for p in ptrs:
        if any(p["address"] in n for n in nets):
            continue
        if explicit:
            errors.append("%s.address %s lies outside every reverse zone in imip_dns_reverse_networks (%s)"
                          % (p["label"], p["address"], ", ".join(str(n) for n in nets)))
        else:
            nets.append(ipaddress.ip_network(default_reverse_network(p["address"])))

    # Extra records: validated names and values.
    extras = []
    for i, rec in enumerate(extra_records or ()):
        label = "imip_dns_extra_records[%d]" % i
        try:
            rtype = str(rec["type"]).upper()
            name = str(rec.get("name", "@"))
            name = origin if name in ("@", "") else (fqdn(name) if name.endswith(".") else fqdn("%s.%s" % (name, domain)))
        except (KeyError, TypeError, AttributeError):
            errors.append("%s needs name, type and value" % label)
            continue
        if rtype not in RECORD_TYPES:
            errors.append("%s.type %s is not one of %s" % (label, rtype, ", ".join(RECORD_TYPES)))
            continue
        if not in_domain(name, domain):
            errors.append("%s.name %s is outside imip_domain %s" % (label, name.rstrip("."), domain))
            continue
        try:
            value = normalize_value(rtype, absolutize(rtype, rec["value"], domain))
        except (KeyError, ValueError):
            errors.append("%s.value %r is not valid %s data" % (label, rec.get("value"), rtype))
            continue
        view = rec.get("view", "all")
        if view not in ("all", "inside", "outside"):
            errors.append("%s.view must be all, inside or outside" % label)
            continue
        extras.append({"name": name, "type": rtype, "value": value, "ttl": int(rec.get("ttl", ttl)), "view": view})

    dkim_records = []
    for selector, value in sorted((dkim or {}).items()):
        if not DKIM_SELECTOR.match(str(selector)) or not str(value).startswith("v=DKIM1;"):
            errors.append("imip_dns_dkim_records: %r: %r is not a selector (a DNS label) with a DKIM key record "
                          "(v=DKIM1; k=rsa; p=...)" % (selector, str(value)[:20]))
            continue
        dkim_records.append(("%s._domainkey.%s" % (selector, origin), str(value)))

    if dmarc_report_address:
        local, dummy, report_domain = str(dmarc_report_address).rpartition("@")
        if (not local or not HOSTNAME.match(report_domain) or not in_domain(fqdn(report_domain), domain)
                or any(c in local for c in ' ;,!<>"')):
            errors.append("imip_dns_dmarc_report_address %r is not an address in %s (a mailbox the site owns)"
                          % (dmarc_report_address, domain))
        elif dmarc:
            dmarc = "%s; rua=mailto:%s" % (dmarc.rstrip("; "), dmarc_report_address)

    if errors:
        return {"errors": errors, "views": []}

    def rr(name, rtype, value):
        return {"name": fqdn(name), "type": rtype, "value": normalize_value(rtype, value), "ttl": ttl}

    def forward(view):
        recs = [rr(origin, "NS", n) for n in nameservers]
        for e in entries:
            if view == "outside":
                if public_ipv4:
                    recs.append(rr(e["fqdn"], "A", public_ipv4))
                if public_ipv6 or e.get("ipv6"):
                    recs.append(rr(e["fqdn"], "AAAA", public_ipv6 or e["ipv6"]))
            else:
                if e.get("ipv4"):
                    recs.append(rr(e["fqdn"], "A", e["ipv4"]))
                if e.get("ipv6"):
                    recs.append(rr(e["fqdn"], "AAAA", e["ipv6"]))
        for i, host in enumerate(mail_hosts):
            recs.append(rr(origin, "MX", "%d %s" % (10 * (i + 1), fqdn(host))))
        if mail_hosts and spf:
            recs.append(rr(origin, "TXT", spf))
        if mail_hosts and dmarc:
            recs.append(rr("_dmarc." + origin, "TXT", dmarc))
        if mail_hosts:
            recs += [rr(name, "TXT", value) for name, value in dkim_records]
        cal = fqdn(calendar_hosts[0]) if calendar_hosts else None
        recs.append(rr("_caldavs._tcp." + origin, "SRV", "0 1 443 %s" % cal if cal else "0 0 0 ."))
        if cal:
            recs.append(rr("_caldavs._tcp." + origin, "TXT", "path=%s" % caldav_path))
        recs.append(rr("_caldav._tcp." + origin, "SRV", "0 0 0 ."))
        mail = fqdn(mail_hosts[0]) if mail_hosts else None
        for service, port, offered in MAIL_SERVICES:
            target = mail if offered == "mail" else None
            recs.append(rr("%s.%s" % (service, origin), "SRV", "0 1 %d %s" % (port, target) if target else "0 0 0 ."))
        recs += [dict((k, v) for k, v in x.items() if k != "view") for x in extras if x["view"] in ("all", view)]
        return recs

    def reverse_zones():
        zones = []
        for net in nets:
            zname = reverse_zone(net)
            recs = [rr(zname, "NS", n) for n in nameservers]
            for e in entries:
                for family in ("ipv4", "ipv6"):
                    if e.get(family) and ipaddress.ip_address(e[family]) in net:
                        recs.append(rr(reverse_name(e[family]), "PTR", e["fqdn"]))
            recs += [rr(reverse_name(p["address"]), "PTR", p["fqdn"]) for p in ptrs if p["address"] in net]
            zones.append((zname.rstrip("."), recs))
        return zones

    view_names = ["inside", "outside"] if views and public_ipv4 else ["default"]
    contact = fqdn(soa_contact or "hostmaster." + domain)
    out = {"errors": [], "views": []}
    for view in view_names:
        zones = [(domain, forward(view))]
        if view != "outside":
            zones += reverse_zones()
        zlist = []
        for zname, recs in zones:
            errors += conflicts(recs, zname)
            zlist.append({"name": zname, "records": recs,
                          "body": zone_body(zname, recs, nameservers[0], contact, ttl, soa_timers)})
        pairs = []
        if view != "outside":
            for e in entries:
                pairs += [{"name": e["fqdn"], "address": e[f]} for f in ("ipv4", "ipv6") if e.get(f)]
        sets = rrsets(zlist)
        flat = [{"name": r["name"], "type": r["type"], "value": v} for r in sets for v in r["values"]]
        out["views"].append({"name": view, "zones": zlist, "fcrdns": pairs, "rrsets": sets, "records": flat})
    if errors:
        return {"errors": sorted(set(errors)), "views": []}
    out["zone_files"] = [{"view": v["name"], "name": z["name"], "body": z["body"]}
                         for v in out["views"] for z in v["zones"]]
    return out


def rrsets(zones, skip=("NS",)):
    """[{zone, name, type, values}] per RRset, as RFC 2136 updates and checks use them."""
    out = []
    for zone in zones:
        grouped = {}
        for rec in zone["records"]:
            if rec["type"] in skip:
                continue
            grouped.setdefault((rec["name"], rec["type"]), []).append(rec["value"])
        for (name, rtype), values in sorted(grouped.items()):
            out.append({"zone": zone["name"], "name": name, "type": rtype, "values": sorted(set(values))})
    return out


def conflicts(records, zone):
    """CNAME beside other data at one name (RFC 1034 3.6.2), and glue-less oddities."""
    errors = []
    types = {}
    for rec in records:
        types.setdefault(rec["name"], []).append(rec["type"])
    for name, found in sorted(types.items()):
        if "CNAME" in found and len(found) > 1:
            others = sorted(set(t for t in found if t != "CNAME")) or ["a second CNAME"]
            errors.append(
                "imip_dns_extra_records: CNAME at %s conflicts with its %s record(s) in zone %s "
                "(a name with a CNAME can have no other data, RFC 1034 3.6.2)"
                % (name.rstrip("."), ", ".join(others), zone))
    return errors


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
