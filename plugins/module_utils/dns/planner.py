# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The DNS records a site needs, derived from its inventory (private to imip.server).

Pure Python (standard library only): used on the controller by the dns role's filter plugin
(imip.server.dns_zone_plan). Nothing here talks to the network. Records are dicts as described
in dns.records; the input is checked by dns.inputs, zone files are written by dns.zone_text.

plan() is a sequence of named steps: the input checked into one "site" dict, then one view at a
time (_view: the forward zone, _forward_records, and except outside the reverse zones,
_reverse_zones), each checked for conflicts and grouped into RRsets.

tsig_errors (from dns.inputs) is part of this module's interface: the filter dns_zone_plan
checks the TSIG key beside the plan, with both from here.
"""

from __future__ import annotations

import ipaddress

from ansible_collections.imip.server.plugins.module_utils.dns import inputs
from ansible_collections.imip.server.plugins.module_utils.dns.inputs import tsig_errors
from ansible_collections.imip.server.plugins.module_utils.dns.records import fqdn, normalize_value, reverse_name, reverse_zone
from ansible_collections.imip.server.plugins.module_utils.dns.zone_text import zone_body

__all__ = ["MAIL_SERVICES", "conflicts", "plan", "rrsets", "tsig_errors"]

# RFC 6186 / RFC 6764 services a site announces; (service, port, offered-by group key).
MAIL_SERVICES = (
    ("_submission._tcp", 587, "mail"),
    ("_imaps._tcp", 993, "mail"),
    ("_imap._tcp", 143, None),
    ("_pop3._tcp", 110, None),
    ("_pop3s._tcp", 995, None),
)


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
    entries = inputs.host_entries(hosts, domain, errors)
    nameservers = inputs.nameserver_names(nameservers, domain, errors)
    ptrs = inputs.ptr_entries(ptr_records, entries, errors)
    # The checked input, in the order its problems are reported.
    site = dict(
        domain=domain, origin=origin, entries=entries, nameservers=nameservers, ptrs=ptrs,
        nets=inputs.reverse_networks(reverse_networks, entries, ptrs, errors),
        extras=inputs.extra_records(extra_records, domain, ttl, errors),
        dkim_records=inputs.dkim_records(dkim, origin, errors),
        dmarc=inputs.dmarc_record(dmarc, dmarc_report_address, domain, errors),
        mail_hosts=mail_hosts, calendar_hosts=calendar_hosts, public_ipv4=public_ipv4, public_ipv6=public_ipv6,
        ttl=ttl, caldav_path=caldav_path, spf=spf, soa_timers=soa_timers,
        contact=fqdn(soa_contact or "hostmaster." + domain),
    )
    if errors:
        return {"errors": errors, "views": []}

    view_names = ["inside", "outside"] if views and public_ipv4 else ["default"]
    out = {"errors": [], "views": [_view(site, view, errors) for view in view_names]}
    if errors:
        return {"errors": sorted(set(errors)), "views": []}
    out["zone_files"] = [{"view": v["name"], "name": z["name"], "body": z["body"]}
                         for v in out["views"] for z in v["zones"]]
    return out


def _view(site, view, errors):
    """One view: its zones (the forward zone; the reverse zones except outside), its FCrDNS
    pairs (none outside) and RRsets; conflicts within a zone go to errors."""
    zones = [(site["domain"], _forward_records(site, view))]
    if view != "outside":
        zones += _reverse_zones(site)
    zlist = []
    for zname, recs in zones:
        errors.extend(conflicts(recs, zname))
        zlist.append({"name": zname, "records": recs,
                      "body": zone_body(zname, recs, site["nameservers"][0], site["contact"], site["ttl"],
                                        site["soa_timers"])})
    pairs = []
    if view != "outside":
        for e in site["entries"]:
            pairs += [{"name": e["fqdn"], "address": e[f]} for f in ("ipv4", "ipv6") if e.get(f)]
    sets = rrsets(zlist)
    flat = [{"name": r["name"], "type": r["type"], "value": v} for r in sets for v in r["values"]]
    return {"name": view, "zones": zlist, "fcrdns": pairs, "rrsets": sets, "records": flat}


def _rr(site, name, rtype, value):
    return {"name": fqdn(name), "type": rtype, "value": normalize_value(rtype, value), "ttl": site["ttl"]}


def _forward_records(site, view):
    """The domain's zone in one view: NS, addresses, mail, services, then the extra records."""
    recs = [_rr(site, site["origin"], "NS", n) for n in site["nameservers"]]
    recs += _address_records(site, view)
    recs += _mail_records(site)
    recs += _service_records(site)
    recs += [dict((k, v) for k, v in x.items() if k != "view") for x in site["extras"] if x["view"] in ("all", view)]
    return recs


def _address_records(site, view):
    """A and AAAA of every host: outside, the public addresses (IPv6: the host's own without one)."""
    recs = []
    public_ipv4, public_ipv6 = site["public_ipv4"], site["public_ipv6"]
    for e in site["entries"]:
        if view == "outside":
            if public_ipv4:
                recs.append(_rr(site, e["fqdn"], "A", public_ipv4))
            if public_ipv6 or e.get("ipv6"):
                recs.append(_rr(site, e["fqdn"], "AAAA", public_ipv6 or e["ipv6"]))
        else:
            if e.get("ipv4"):
                recs.append(_rr(site, e["fqdn"], "A", e["ipv4"]))
            if e.get("ipv6"):
                recs.append(_rr(site, e["fqdn"], "AAAA", e["ipv6"]))
    return recs


def _mail_records(site):
    """MX per mail host; with mail hosts, SPF, DMARC and the DKIM keys."""
    origin, mail_hosts = site["origin"], site["mail_hosts"]
    recs = [_rr(site, origin, "MX", "%d %s" % (10 * (i + 1), fqdn(host))) for i, host in enumerate(mail_hosts)]
    if mail_hosts and site["spf"]:
        recs.append(_rr(site, origin, "TXT", site["spf"]))
    if mail_hosts and site["dmarc"]:
        recs.append(_rr(site, "_dmarc." + origin, "TXT", site["dmarc"]))
    if mail_hosts:
        recs += [_rr(site, name, "TXT", value) for name, value in site["dkim_records"]]
    return recs


def _service_records(site):
    """SRV (and CalDAV's path TXT) of RFC 6764 and RFC 6186: a service the site does not offer
    gets the "not offered" target `.`."""
    origin, calendar_hosts, mail_hosts = site["origin"], site["calendar_hosts"], site["mail_hosts"]
    cal = fqdn(calendar_hosts[0]) if calendar_hosts else None
    recs = [_rr(site, "_caldavs._tcp." + origin, "SRV", "0 1 443 %s" % cal if cal else "0 0 0 .")]
    if cal:
        recs.append(_rr(site, "_caldavs._tcp." + origin, "TXT", "path=%s" % site["caldav_path"]))
    recs.append(_rr(site, "_caldav._tcp." + origin, "SRV", "0 0 0 ."))
    mail = fqdn(mail_hosts[0]) if mail_hosts else None
    for service, port, offered in MAIL_SERVICES:
        target = mail if offered == "mail" else None
        recs.append(_rr(site, "%s.%s" % (service, origin), "SRV", "0 1 %d %s" % (port, target) if target else "0 0 0 ."))
    return recs


def _reverse_zones(site):
    """[(zone name, records)] of every reverse network: NS, the hosts' PTRs, then ptr_records."""
    zones = []
    for net in site["nets"]:
        zname = reverse_zone(net)
        recs = [_rr(site, zname, "NS", n) for n in site["nameservers"]]
        for e in site["entries"]:
            for family in ("ipv4", "ipv6"):
                if e.get(family) and ipaddress.ip_address(e[family]) in net:
                    recs.append(_rr(site, reverse_name(e[family]), "PTR", e["fqdn"]))
        recs += [_rr(site, reverse_name(p["address"]), "PTR", p["fqdn"]) for p in site["ptrs"] if p["address"] in net]
        zones.append((zname.rstrip("."), recs))
    return zones


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
