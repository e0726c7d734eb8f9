# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The status report from what each vantage point saw (private to imip.server; the filter
imip.server.status_report).

Runs on the controller over the registered results of site_status_info (one per site host) and
outside_status_info (the vantage host): it merges the two views of every public port into one
line, turns a host that did not answer into "?" lines for the checks it would have run, orders
the checks by heading and renders the text. docs/status.md describes the result.
"""

from __future__ import annotations

from ansible_collections.imip.server.plugins.module_utils._services import CATALOGUE
from ansible_collections.imip.server.plugins.module_utils.status import checks as sc
from ansible_collections.imip.server.plugins.module_utils.status import site as site_view

NO_VANTAGE = "no vantage host: add one to the `vantage` group to test from outside"
# How the report names the vantage point when the outside checks ran where ansible-playbook runs.
CONTROLLER = "this controller"


def services(groups, serves_dns=True):
    """[{port, proto, service, unit, tls, group, host}]: the site's public services (_services.CATALOGUE),
    each with the first host of its group; DNS only when the site serves it."""
    out = []
    for group, entry in CATALOGUE:
        hosts = groups.get(group) or []
        if hosts and (group != "dns_servers" or serves_dns):
            out.append(dict(entry, group=group, host=hosts[0]))
    return out


class ReportInputError(ValueError):
    """The report's input is not what check.yml hands over."""


def _failed_run(result):
    """Why a registered module result holds no checks (unreachable, failed, skipped), or None."""
    if result is None:
        return "it did not run"
    if not isinstance(result, dict):
        raise ReportInputError("a registered result must be a dict, got %s" % type(result).__name__)
    if result.get("unreachable"):
        return "could not be reached (%s)" % _short(result.get("msg") or "unreachable")
    if result.get("skipped"):
        return "skipped its checks"
    if result.get("failed") or "checks" not in result:
        return "could not run its checks (%s)" % _short(result.get("msg") or "no result")
    return None


def _short(msg):
    """The gist of Ansible's message about a host: its first line, without the boilerplate."""
    msg = str(msg).strip().splitlines()[0] if str(msg).strip() else "no message"
    for noise in ("Task failed: ", "Failed to connect to the host via ssh: "):
        msg = msg.replace(noise, "")
    return msg


def _placeholder(check_id, host, why):
    return sc.unknown(check_id, sc.heading_of(check_id), "%s %s" % (host, why),
                      fix="run the report again once %s answers" % host)


# ------------------------------------------------------------------------------ ports

def _port_label(service):
    return "%s (%d/%s)" % (service["service"], service["port"], service["proto"])


def port_check(service, public_address, listening, seen, vantage, site_why=None, outside_why=None):
    """One line per public port: the outside view (seen; None without one, outside_why says why)
    and what the site host listens on (listening: addresses; None when unknown, site_why says why)."""
    port, proto = service["port"], service["proto"]
    cid = "port.%d" % port if proto == "tcp" else "port.%d.%s" % (port, proto)
    host, unit = service["host"], service.get("unit") or service["service"]
    label = _port_label(service)
    exposure = None if listening is None else site_view.exposure(listening)
    should = "%s:%d/%s reachable from the internet, %s listening on all of %s's addresses" % (
        public_address, port, proto, unit, host)
    listens = ("%s listens on %s" % (host, ", ".join(listening))) if listening else \
        "what %s listens on is unknown (%s %s)" % (host, host, site_why or "did not report")

    if exposure == "none":
        outside = (" (from %s: %s)" % (vantage, seen["detail"])) if seen else ""
        return sc.fail(cid, sc.PORTS, "%s: nothing listens on %s port %d/%s%s" % (label, host, port, proto, outside), should,
                       ["%s is not running on %s: systemctl status %s; journalctl -u %s" % (unit, host, unit, unit),
                        "site.yml installs and starts it"])
    if exposure == "loopback":
        return sc.fail(cid, sc.PORTS, "%s: %s listens on %s only (loopback): nobody else can reach it"
                       % (label, host, ", ".join(listening)), should,
                       ["make %s listen on all addresses (the roles' templates do; run site.yml)" % unit])
    if seen is None:
        if not vantage:
            return sc.unknown(cid, sc.PORTS, "%s: %s; %s" % (label, NO_VANTAGE, listens),
                              fix="add a host outside the site to the `vantage` group")
        return sc.unknown(cid, sc.PORTS, "%s: %s %s; %s" % (label, vantage, outside_why or "did not report", listens))
    where = "%s:%d from %s" % (public_address, port, vantage)
    if seen["state"] == "open":
        return sc.ok(cid, sc.PORTS, "%s: %s answers" % (label, where))
    return sc.fail(cid, sc.PORTS, "%s: %s: %s, although %s" % (label, where, seen["detail"], listens), should,
                   ["the router's port forward or a firewall drops it: run site.yml (the firewall role opens %d/%s on %s "
                    "and forwards it on the gateway); compare `nft list ruleset` on both" % (port, proto, host)])


def port_checks(services, public_address, sites, outside, vantage, outside_why=None):
    """outside: outside_status_info's result, or None (no vantage host, or it did not report)."""
    observations = {}
    for seen in (outside or {}).get("ports") or []:
        observations[(int(seen["port"]), seen["proto"])] = seen
    out = []
    for service in services:
        site = sites.get(service["host"]) or {"why": "it is not a host of this run"}
        listening = None
        for entry in site.get("listeners") or []:
            if int(entry["port"]) == int(service["port"]) and entry["proto"] == service["proto"]:
                listening = entry["addresses"]
        if listening is None and "listeners" in site:
            listening = []
        seen = observations.get((int(service["port"]), service["proto"]))
        cid = "port.%d" % service["port"] if service["proto"] == "tcp" else "port.%d.%s" % (service["port"], service["proto"])
        out.append(sc.guarded(cid, sc.PORTS, port_check, service, public_address, listening, seen, vantage,
                              site.get("why"), outside_why))
    return out


# ------------------------------------------------------------------------------ the report

def build(data):
    """The report (see docs/status.md) from check.yml's data:

    services         [{port, proto, service, unit, host}]: the public ports, the site host behind each
    public_address
    site_results     {host: its registered site_status_info result, or None}
    site_expected    {host: [the ids of its checks]} (the "?" lines when it did not answer)
    vantage          the vantage host's name, or empty
    vantage_is_controller  true when the outside checks ran on the controller (no vantage group)
    outside_result   its registered outside_status_info result, or None
    outside_expected [the ids of its checks]
    roundtrip        {"requested", "results": [{"host", "result": a registered result or None}] of its steps,
                      "expected": [ids], "why": the "?" lines' reason, "seconds": {name: float or None}}
    """
    for key in ("services", "public_address", "site_results"):
        if key not in data:
            raise ReportInputError("the report's input has no %r" % key)
    checks, sites = _site_checks(data)
    vantage = data.get("vantage") or None
    # The round trip's attendee steps ran on the outside point too (with an IMAP mailbox).
    renamed = {}
    if vantage and data.get("vantage_is_controller"):
        renamed = {vantage: CONTROLLER}
        vantage = CONTROLLER  # the headings and the port lines say where the outside checks ran
    outside_checks, outside_result, outside_why = _outside_checks(data, vantage)
    checks += outside_checks
    checks += [dict(c, host=vantage) for c in port_checks(data["services"], data["public_address"], sites,
                                                          outside_result, vantage, outside_why)]
    roundtrip = data.get("roundtrip") or {}
    checks += _roundtrip(roundtrip, renamed)
    report = finish(checks, vantage, bool(roundtrip.get("requested")))
    if roundtrip.get("requested"):
        report["roundtrip_seconds"] = dict((k, v) for k, v in (roundtrip.get("seconds") or {}).items() if v is not None)
    return report


def _site_checks(data):
    """(the site hosts' checks, each with its host; {host: {"listeners"} or {"why"}})."""
    checks, sites = [], {}
    for host, result in sorted(data["site_results"].items()):
        why = _failed_run(result)
        if why:
            checks += [dict(_placeholder(cid, host, why), host=host) for cid in (data.get("site_expected") or {}).get(host) or []]
            sites[host] = {"why": why}
        else:
            checks += [dict(c, host=host) for c in result["checks"]]
            sites[host] = {"listeners": result.get("listeners") or []}
    return checks, sites


def _outside_checks(data, vantage):
    """(the outside point's checks, its result when it reported or None, why it did not)."""
    if not vantage:
        return [dict(sc.unknown(cid, sc.heading_of(cid), NO_VANTAGE, fix="add a host outside the site to the `vantage` group"),
                     host=None) for cid in data.get("outside_expected") or []], None, None
    why = _failed_run(data.get("outside_result"))
    if why:
        return [dict(_placeholder(cid, vantage, why), host=vantage) for cid in data.get("outside_expected") or []], None, why
    return [dict(c, host=vantage) for c in data["outside_result"]["checks"]], data["outside_result"], None


WORSE = {sc.OK: 0, sc.UNKNOWN: 1, sc.FAIL: 2}


def _roundtrip(data, renamed=None):
    """The round trip's lines in the expected order, "?" with the reason for a step that did not report."""
    if not data.get("requested"):
        return []
    found, why = _roundtrip_found(data.get("results") or [], renamed or {})
    why = why or data.get("why") or "the round trip stopped before this step"
    out = []
    for cid in data.get("expected") or []:
        out.append(found.pop(cid, None) or dict(sc.unknown(cid, sc.heading_of(cid), why), host=None))
    return out + list(found.values())


def _roundtrip_found(results, renamed):
    """({check id: the worst line the steps reported}, why the round trip broke off or None)."""
    found = {}
    for step in results:
        host, result = step.get("host") or None, step.get("result")
        host = renamed.get(host, host)
        if isinstance(result, dict) and result.get("failed"):
            return found, "a step on %s %s" % (host, _failed_run(result))  # the first broken step says why
        if isinstance(result, dict) and not _failed_run(result):
            for c in result["checks"]:
                # Two steps may report one id (a failure, then the outcome): the worst stays.
                if c["id"] not in found or WORSE[c["status"]] > WORSE[found[c["id"]]["status"]]:
                    found[c["id"]] = dict(c, host=host)
    return found, None


def finish(checks, vantage, roundtrip):
    """Order by heading (stable inside one), count, render."""
    order = dict((h, i) for i, h in enumerate(sc.HEADINGS))
    checks = sorted(checks, key=lambda c: order.get(c["heading"], len(order)))
    counted = sc.counts(checks)
    return {
        "ok": counted[sc.FAIL] == 0,
        "counts": counted,
        "failed": [c["id"] for c in checks if c["status"] == sc.FAIL],
        "vantage": vantage,
        "roundtrip": roundtrip,
        "checks": checks,
        "lines": render(checks, counted),
    }


def render(checks, counted):
    lines, heading = [], None
    for c in checks:
        if c["heading"] != heading:
            heading = c["heading"]
            hosts = sorted(set(x["host"] for x in checks if x["heading"] == heading and x.get("host")))
            lines += ([""] if lines else []) + ["%s%s" % (heading, (" (%s)" % ", ".join(hosts)) if hosts else "")]
        lines.append("  %s %s" % (sc.SYMBOL[c["status"]], c["message"]))
        if c["status"] != sc.OK:
            if c.get("should"):
                lines.append("      should be: %s" % c["should"])
            for number, fix in enumerate(c.get("fix") or []):
                lines.append("      %s %s" % ("fix:" if number == 0 else "    ", fix))
    lines += ["", "%d checks: %d %s, %d %s, %d %s" % (
        len(checks), counted[sc.OK], sc.SYMBOL[sc.OK], counted[sc.FAIL], sc.SYMBOL[sc.FAIL],
        counted[sc.UNKNOWN], sc.SYMBOL[sc.UNKNOWN])]
    return lines
