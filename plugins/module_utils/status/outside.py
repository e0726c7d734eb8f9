# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The status checks seen from outside the site (private to imip.server; outside_status_info).

- dns_checks(): MX, SRV, TXT and forward-confirmed reverse DNS as the vantage host's resolver
  answers them (records compared by dns/check.py);
- port_observations(): whether each public port of the public address answers (the report
  merges them with what the site host listens on);
- mail_checks(): one SMTP conversation with the MX that never sends mail: relaying refused, the
  invitation address's +TOKEN form accepted at once, an ordinary address greylisted.
"""

from __future__ import annotations

from ansible_collections.imip.server.plugins.module_utils.status import checks as sc
from ansible_collections.imip.server.plugins.module_utils.status import probes
from ansible_collections.imip.server.plugins.module_utils.dns.records import reverse_name

# ------------------------------------------------------------------------------ DNS


def system_resolver(path="/etc/resolv.conf"):
    """The first name server of resolv.conf, or None."""
    try:
        with open(path) as handle:
            for line in handle:
                fields = line.split()
                if len(fields) >= 2 and fields[0] == "nameserver":
                    return fields[1]
    except OSError:
        return None
    return None


def dns_expectations(plan, domain, mail_hosts):
    """What the internet must see, from the dns_zone_plan filter's plan: {"errors", "records"
    (the domain's MX, SRV and TXT records), "fcrdns" (each mail host with its public address)}."""
    views = plan.get("views") or []
    view = next((v for v in views if v.get("name") == "outside"), views[0] if views else {})
    domain = domain.rstrip(".").lower()

    def in_domain(name):
        name = name.rstrip(".").lower()
        return name == domain or name.endswith("." + domain)

    records = [dict(name=r["name"], type=r["type"], value=r["value"]) for r in view.get("records") or []
               if r["type"] in ("MX", "SRV", "TXT") and in_domain(r["name"])]
    addresses = {}
    for r in view.get("records") or []:
        if r["type"] in ("A", "AAAA"):
            addresses.setdefault(r["name"].rstrip(".").lower(), r["value"])
    fcrdns = [dict(name=h.rstrip(".") + ".", address=addresses[h.rstrip(".").lower()])
              for h in mail_hosts if h.rstrip(".").lower() in addresses]
    return {"errors": list(plan.get("errors") or []), "records": records, "fcrdns": fcrdns,
            "expected_ids": expected_dns_ids(records, fcrdns, domain)}


def dns_check_id(name, rtype, domain):
    """dns.mx, dns.txt (at the apex), dns.srv._caldavs._tcp, dns.txt._dmarc, ..."""
    name, domain = name.rstrip(".").lower(), domain.rstrip(".").lower()
    if name == domain:
        return "dns.%s" % rtype.lower()
    if name.endswith("." + domain):
        name = name[:-len(domain) - 1]
    return "dns.%s.%s" % (rtype.lower(), name)


def fcrdns_check_id(index, total, name):
    return "dns.fcrdns" if total == 1 else "dns.fcrdns.%s" % name.rstrip(".").lower()


_TYPE_ORDER = {"MX": 0, "SRV": 1, "TXT": 2}


def expected_dns_ids(records, fcrdns, domain):
    """The ids dns_checks() will return for these inputs, in its order (for the "no vantage
    host" lines of the report)."""
    ids = [fcrdns_check_id(i, len(fcrdns), p["name"]) for i, p in enumerate(fcrdns)]
    rrsets = sorted(set((_TYPE_ORDER.get(r["type"].upper(), 9), r["name"].rstrip(".").lower() + ".", r["type"].upper())
                        for r in records))
    return ids + [dns_check_id(name, rtype, domain) for dummy, name, rtype in rrsets]


def _record_check(result, domain, where):
    cid = dns_check_id(result["name"], result["type"], domain)
    if result["status"] == "ok":
        return sc.ok(cid, sc.DNS, "%s: %s" % (result["message"], ", ".join(result["is"])))
    if result["status"] == "unknown":
        return sc.unknown(cid, sc.DNS, "%s (resolver %s)" % (result["message"], where),
                          fix="check that the vantage host's resolver answers; the check is tried again on every run")
    label = "%s %s" % (result["name"], result["type"])
    what = ("%s is missing" % label) if not result["is"] else ("%s is %s" % (label, ", ".join(result["is"])))
    return sc.fail(cid, sc.DNS, what, "%s is %s" % (label, ", ".join(result["should"])),
                   ["change the zone of %s (site.yml does, with the dns role; at another DNS provider, there):" % domain]
                   + ["  " + f for f in result["fix"]])


def _fcrdns_check(result, pair, cid, where):
    name, address = pair["name"].rstrip("."), pair["address"]
    if result["status"] == "ok":
        return sc.ok(cid, sc.DNS, "%s -> %s -> %s: forward and reverse DNS agree" % (name, address, name))
    if result["status"] == "unknown":
        return sc.unknown(cid, sc.DNS, "%s (resolver %s)" % (result["message"], where),
                          fix="check that the vantage host's resolver answers; the check is tried again on every run")
    fix = []
    if address not in result["is"]["forward"]:
        fix.append("publish %s A %s in your zone (the dns role does: run site.yml; "
                   "with another DNS provider add it there)" % (name, address))
    if [p.rstrip(".") for p in result["is"]["ptr"]] != [name]:
        fix.append("ask your provider to set PTR %s \u2192 %s (the reverse zone %s belongs to whoever owns the address)"
                   % (address, name, reverse_name(address).rstrip(".")))
    return sc.fail(cid, sc.DNS, result["message"].split("; the reverse zone")[0],
                   "%s has the address %s, and %s the PTR %s: mail servers check this before they accept mail"
                   % (name, address, address, name), fix)


def dns_checks(dns_check, resolver, records, fcrdns, domain, where):
    """dns_check: the dns.check module (needs dnspython); resolver: its Resolver."""
    out = []
    for index, pair in enumerate(fcrdns):
        cid = fcrdns_check_id(index, len(fcrdns), pair["name"])
        result = dns_check.check_fcrdns(resolver, pair["name"], pair["address"], "the provider")
        out.append(sc.guarded(cid, sc.DNS, _fcrdns_check, result, pair, cid, where))
    results = sorted(dns_check.run_checks(resolver, records, []), key=lambda r: (_TYPE_ORDER.get(r["type"], 9), r["name"]))
    return out + [sc.guarded(dns_check_id(r["name"], r["type"], domain), sc.DNS, _record_check, r, domain, where)
                  for r in results]


def dns_unknown(records, fcrdns, domain, why, fix):
    return [sc.unknown(cid, sc.DNS, why, fix=fix) for cid in expected_dns_ids(records, fcrdns, domain)]


# ------------------------------------------------------------------------------ ports


def udp_dns_answer(dns_query, dns_message, address, port, name, timeout, retries):
    """Does a DNS server answer a UDP query for name's SOA? As tcp_connect's observation."""
    request = dns_message.make_query(name, "SOA")
    tries = 0
    for dummy in range(int(retries) + 1):
        tries += 1
        try:
            dns_query.udp(request, address, port=int(port), timeout=timeout)
            return {"state": probes.OPEN, "detail": "answers DNS queries over UDP", "tries": tries}
        except OSError as exc:
            if isinstance(exc, ConnectionRefusedError):
                return {"state": probes.REFUSED, "detail": "port unreachable (ICMP)", "tries": tries}
            if not sc.is_timeout(exc):
                return {"state": probes.ERROR, "detail": str(exc), "tries": tries}
        except Exception as exc:  # pylint: disable=broad-except  # dns.exception.Timeout and friends
            if type(exc).__name__ != "Timeout":
                return {"state": probes.ERROR, "detail": "%s: %s" % (type(exc).__name__, exc), "tries": tries}
    return {"state": probes.TIMEOUT, "detail": "no answer over UDP within %gs (%d tries)" % (timeout, tries), "tries": tries}


def port_observations(address, ports, timeout, retries, udp_probe=None):
    """[{port, proto, state, detail}] for each {port, proto} of the public address."""
    def one(item):
        if item["proto"] == "udp":
            seen = udp_probe(item["port"]) if udp_probe else {"state": probes.ERROR, "detail": "no UDP probe for this port"}
        else:
            seen = probes.tcp_connect(address, item["port"], timeout, retries)
        return dict(port=int(item["port"]), proto=item["proto"], state=seen["state"], detail=seen["detail"])

    # At once: a port that drops packets costs (retries + 1) timeouts, and several may.
    return sc.in_parallel([lambda item=item: one(item) for item in ports])


# ------------------------------------------------------------------------------ mail


def _code(reply):
    return reply["code"] if reply else None


def _said(reply):
    return "%d %s" % (reply["code"], reply["text"]) if reply else "no answer"


def mail_checks(session, smtp, where):
    """relay, greylisting of the invitation address and of an ordinary one, from one
    smtp_envelope() session. smtp: the options (address, port, recipients, greylisting)."""
    target = "%s:%d" % (smtp["address"], smtp["port"])
    ids = ("mail.relay", "mail.greylisting.invitation", "mail.greylisting.ordinary")
    if session["state"] != probes.OPEN or _code(session["banner"]) != 220 or _code(session["mail"]) != 250:
        if session["state"] != probes.OPEN:
            why = session["detail"]
        elif _code(session["banner"]) != 220:
            why = "the server's greeting was %s" % _said(session["banner"])
        else:
            why = "MAIL FROM:<%s> was answered %s" % (smtp["sender"], _said(session["mail"]))
        return [sc.unknown(cid, sc.MAIL, "could not test from %s: SMTP with %s: %s" % (where, target, why),
                           fix="see the port 25 line") for cid in ids]
    rcpt = session["rcpt"]
    return [sc.guarded(ids[0], sc.MAIL, _relay, rcpt.get(smtp["relay_recipient"]), smtp, where),
            sc.guarded(ids[1], sc.MAIL, _invitation, rcpt.get(smtp["invitation_recipient"]), smtp),
            sc.guarded(ids[2], sc.MAIL, _ordinary, rcpt.get(smtp.get("ordinary_recipient") or ""), smtp)]


def _relay(reply, smtp, where):
    rcpt = smtp["relay_recipient"]
    code = _code(reply)
    if code is not None and 500 <= code < 600:
        return sc.ok("mail.relay", sc.MAIL, "no open relay: RCPT TO:<%s> from %s was refused (%s)" % (rcpt, where, _said(reply)))
    if code is not None and 200 <= code < 300:
        return sc.fail("mail.relay", sc.MAIL, "OPEN RELAY: the MX accepts RCPT TO:<%s> (another domain) from %s without a login (%s)"
                       % (rcpt, where, _said(reply)),
                       "relaying only for logged-in clients and mynetworks (RCPT TO another domain refused with 5xx)",
                       ["keep smtpd_relay_restrictions ending in reject_unauth_destination and imip_mail_mynetworks "
                        "to the host itself; run site.yml (the mail role writes both)"])
    return sc.unknown("mail.relay", sc.MAIL, "could not decide: RCPT TO:<%s> was answered %s" % (rcpt, _said(reply)))


def _invitation(reply, smtp):
    rcpt = smtp["invitation_recipient"]
    code = _code(reply)
    if code == 250:
        return sc.ok("mail.greylisting.invitation", sc.MAIL, "replies are not held: RCPT TO:<%s> accepted at once (%s)"
                     % (rcpt, _said(reply)))
    should = "RCPT TO:<%s> accepted at once (250), as the replies to invitations are" % rcpt
    if code is not None and 400 <= code < 500 and "greylist" in reply["text"].lower():
        return sc.fail("mail.greylisting.invitation", sc.MAIL, "replies to invitations are greylisted: RCPT TO:<%s> got %s"
                       % (rcpt, _said(reply)), should,
                       ["the mail role puts imip_invitation_address in postgrey's whitelist_recipients.local "
                        "(it also matches +TOKEN): run site.yml"])
    if code is not None and 500 <= code < 600:
        return sc.fail("mail.greylisting.invitation", sc.MAIL, "replies to invitations are refused: RCPT TO:<%s> got %s"
                       % (rcpt, _said(reply)), should,
                       ["the invitation account must exist and Postfix must split +TOKEN (recipient_delimiter = +): run site.yml"])
    return sc.unknown("mail.greylisting.invitation", sc.MAIL, "could not decide: RCPT TO:<%s> was answered %s" % (rcpt, _said(reply)))


def _ordinary(reply, smtp):
    rcpt = smtp.get("ordinary_recipient")
    cid = "mail.greylisting.ordinary"
    if not rcpt:
        return sc.unknown(cid, sc.MAIL, "no ordinary local address to try (the mail host has no imip_mail_users)",
                          fix="set imip_check_greylisting_recipient to an existing address that is not whitelisted")
    code, enabled = _code(reply), smtp["greylisting"]
    greylisted = code is not None and 400 <= code < 500 and "greylist" in reply["text"].lower()
    if enabled and greylisted:
        return sc.ok(cid, sc.MAIL, "greylisting works: RCPT TO:<%s> from a new sender was greylisted (%s)" % (rcpt, _said(reply)))
    if not enabled and code == 250:
        return sc.ok(cid, sc.MAIL, "greylisting is off (imip_mail_greylisting_enabled: false): RCPT TO:<%s> accepted at once" % rcpt)
    if code is not None and 500 <= code < 600:
        return sc.unknown(cid, sc.MAIL, "cannot test greylisting: RCPT TO:<%s> was refused (%s)" % (rcpt, _said(reply)),
                          fix="set imip_check_greylisting_recipient to an existing address that is not whitelisted")
    if enabled and code == 250:
        return sc.fail(cid, sc.MAIL, "greylisting is not in effect: RCPT TO:<%s> from a new sender was accepted at once (%s)"
                       % (rcpt, _said(reply)),
                       "a new sender greylisted (450) for an ordinary address, as imip_mail_greylisting_enabled asks",
                       ["run site.yml (the mail role puts postgrey into smtpd_recipient_restrictions)",
                        "if postgrey runs, the vantage host may be whitelisted: see /etc/postgrey/whitelist_clients* "
                        "and postgrey's auto-whitelisting of clients"])
    if not enabled and greylisted:
        return sc.fail(cid, sc.MAIL, "mail is greylisted although imip_mail_greylisting_enabled is false: %s" % _said(reply),
                       "RCPT TO:<%s> accepted at once" % rcpt, ["run site.yml (the mail role removes postgrey from Postfix)"])
    return sc.unknown(cid, sc.MAIL, "could not decide: RCPT TO:<%s> was answered %s" % (rcpt, _said(reply)))
