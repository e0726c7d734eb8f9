# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The checks seen from outside: what DNS must hold (from the dns role's own planner), asked of a
real UDP DNS server on 127.0.0.1; the public ports; and the three mail checks from SMTP replies
as Postfix and postgrey give them."""

from __future__ import annotations

import pytest

from ansible_collections.imip.server.plugins.module_utils.dns import check as _dns_check
from ansible_collections.imip.server.plugins.module_utils.dns import planner as _dns_records
from ansible_collections.imip.server.plugins.module_utils.status import outside
from ansible_collections.imip.server.plugins.module_utils.status import probes

from ...status_common import POSTGREY, RELAY_DENIED, DnsServer, MxHandler, Running, closed_port

HOSTS = [{"host": "gw", "fqdn": "gw.example.test", "ipv4": "198.51.100.130", "ipv6": ""},
         {"host": "ns1", "fqdn": "ns1.example.test", "ipv4": "198.51.100.131", "ipv6": ""},
         {"host": "cal", "fqdn": "cal.example.test", "ipv4": "198.51.100.132", "ipv6": ""}]


def lab_plan(public="198.51.100.10"):
    return _dns_records.plan(domain="example.test", hosts=HOSTS, nameservers=["ns1.example.test"],
                             mail_hosts=["cal.example.test"], calendar_hosts=["cal.example.test"],
                             public_ipv4=public, views=bool(public))


def test_behind_nat_the_internet_must_see_the_outside_view():
    expected = outside.dns_expectations(lab_plan(), "example.test", ["cal.example.test"])
    assert expected["errors"] == []
    assert expected["fcrdns"] == [{"name": "cal.example.test.", "address": "198.51.100.10"}]
    rrsets = sorted(set((r["name"], r["type"]) for r in expected["records"]))
    assert ("example.test.", "MX") in rrsets and ("_caldavs._tcp.example.test.", "SRV") in rrsets
    assert ("_caldavs._tcp.example.test.", "TXT") in rrsets and ("_dmarc.example.test.", "TXT") in rrsets
    assert all(t in ("MX", "SRV", "TXT") for dummy, t in rrsets)  # no A, NS, PTR: FCrDNS covers the mail host
    assert expected["expected_ids"][:3] == ["dns.fcrdns", "dns.mx", "dns.srv._caldav._tcp"]
    assert "dns.txt" in expected["expected_ids"] and "dns.txt._dmarc" in expected["expected_ids"]


def test_without_nat_the_only_view_and_the_hosts_own_address():
    expected = outside.dns_expectations(lab_plan(public=""), "example.test", ["cal.example.test"])
    assert expected["fcrdns"] == [{"name": "cal.example.test.", "address": "198.51.100.132"}]


@pytest.mark.parametrize("name,rtype,check_id", [
    ("example.test.", "MX", "dns.mx"), ("example.test", "TXT", "dns.txt"), ("_dmarc.example.test.", "TXT", "dns.txt._dmarc"),
    ("_caldavs._tcp.Example.Test.", "SRV", "dns.srv._caldavs._tcp")])
def test_check_ids_are_relative_to_the_domain(name, rtype, check_id):
    assert outside.dns_check_id(name, rtype, "example.test") == check_id


def outside_zone(ptr=True):
    """What the lab's internet answers once it is right (ext serves the PTR as the provider)."""
    zone = {("cal.example.test.", "A"): ["198.51.100.10"]}
    for record in outside.dns_expectations(lab_plan(), "example.test", ["cal.example.test"])["records"]:
        zone.setdefault((record["name"], record["type"]), []).append(record["value"])
    if ptr:
        zone[("10.100.51.198.in-addr.arpa.", "PTR")] = ["cal.example.test."]
    return zone


def run_dns(zone, **kw):
    expected = outside.dns_expectations(lab_plan(), "example.test", ["cal.example.test"])
    with DnsServer(zone) as server:
        resolver = _dns_check.Resolver("127.0.0.1", server.port, timeout=1, retries=1)
        checks = outside.dns_checks(_dns_check, resolver, expected["records"], expected["fcrdns"], "example.test", "127.0.0.1")
    assert [c["id"] for c in checks] == expected["expected_ids"]
    return dict((c["id"], c) for c in checks)


def test_a_right_zone_passes_every_dns_check():
    checks = run_dns(outside_zone())
    assert set(c["status"] for c in checks.values()) == {"ok"}
    assert checks["dns.fcrdns"]["message"] == "cal.example.test -> 198.51.100.10 -> cal.example.test: forward and reverse DNS agree"


def test_a_missing_ptr_says_to_ask_the_provider():
    c = run_dns(outside_zone(ptr=False))["dns.fcrdns"]
    assert c["status"] == "fail"
    assert c["message"] == "PTR of 198.51.100.10 is missing, not cal.example.test"
    assert c["fix"] == ["ask your provider to set PTR 198.51.100.10 \u2192 cal.example.test (the reverse zone "
                        "10.100.51.198.in-addr.arpa belongs to whoever owns the address)"]


def test_a_wrong_ptr_says_what_it_is_and_to_ask_the_provider():
    zone = outside_zone()
    zone[("10.100.51.198.in-addr.arpa.", "PTR")] = ["host-10.provider.test."]
    c = run_dns(zone)["dns.fcrdns"]
    assert c["status"] == "fail" and "PTR of 198.51.100.10 is host-10.provider.test., not cal.example.test" in c["message"]
    assert c["fix"][0].startswith("ask your provider to set PTR 198.51.100.10 \u2192 cal.example.test")


def test_a_wrong_mx_names_the_lines_to_change():
    zone = outside_zone()
    zone[("example.test.", "MX")] = ["10 old-mail.example.test."]
    c = run_dns(zone)["dns.mx"]
    assert c["status"] == "fail" and c["message"] == "example.test MX is 10 old-mail.example.test."
    assert c["should"] == "example.test MX is 10 cal.example.test."
    assert c["fix"][1:] == ["  add: example.test. 3600 IN MX 10 cal.example.test.",
                            "  remove: example.test. 3600 IN MX 10 old-mail.example.test."]


def test_a_missing_srv_is_missing():
    zone = outside_zone()
    del zone[("_caldavs._tcp.example.test.", "SRV")]
    c = run_dns(zone)["dns.srv._caldavs._tcp"]
    assert c["status"] == "fail" and c["message"] == "_caldavs._tcp.example.test SRV is missing"


def test_a_resolver_that_never_answers_makes_every_dns_check_unknown():
    expected = outside.dns_expectations(lab_plan(), "example.test", ["cal.example.test"])
    resolver = _dns_check.Resolver("127.0.0.1", closed_port(), timeout=0.2, retries=0)
    checks = outside.dns_checks(_dns_check, resolver, expected["records"], expected["fcrdns"], "example.test", "127.0.0.1")
    assert set(c["status"] for c in checks) == {"unknown"}


def test_a_system_resolver_from_resolv_conf(tmp_path):
    conf = tmp_path / "resolv.conf"
    conf.write_text("# from DHCP\nsearch example.test\nnameserver 198.51.100.20\nnameserver 10.255.255.53\n")
    assert outside.system_resolver(str(conf)) == "198.51.100.20"
    assert outside.system_resolver(str(tmp_path / "none")) is None


# ------------------------------------------------------------------------------ ports


def test_ports_are_tried_at_once_and_udp_by_a_dns_query():
    import dns.message  # pylint: disable=import-outside-toplevel
    import dns.query  # pylint: disable=import-outside-toplevel
    with DnsServer({("example.test.", "SOA"): ["ns1.example.test. hostmaster.example.test. 1 3600 900 1209600 300"]}) as server:
        seen = outside.port_observations("127.0.0.1", [{"port": closed_port(), "proto": "tcp"}, {"port": server.port, "proto": "udp"}],
                                         1.0, 1, lambda port: outside.udp_dns_answer(dns.query, dns.message, "127.0.0.1", port,
                                                                                     "example.test", 1.0, 1))
    assert [s["state"] for s in seen] == ["refused", "open"]


def test_a_udp_port_nobody_answers_on():
    import dns.message  # pylint: disable=import-outside-toplevel
    import dns.query  # pylint: disable=import-outside-toplevel
    seen = outside.udp_dns_answer(dns.query, dns.message, "127.0.0.1", closed_port(), "example.test", 0.3, 1)
    assert seen["state"] in ("refused", "timeout")  # ICMP port unreachable, or nothing at all


# ------------------------------------------------------------------------------ mail

SMTP = {"address": "198.51.100.10", "port": 25, "sender": "status-check-1a2b@external.test",
        "relay_recipient": "status-check-relay@external.test", "invitation_recipient": "calendar-invites+statuscheck@example.test",
        "ordinary_recipient": "alice@example.test", "greylisting": True}


def session(relay=RELAY_DENIED, invitation="250 2.1.5 Ok", ordinary=POSTGREY, **kw):
    with Running(MxHandler, rcpt={SMTP["relay_recipient"]: relay, SMTP["invitation_recipient"]: invitation,
                                  SMTP["ordinary_recipient"]: ordinary}, **kw) as mx:
        seen = probes.smtp_envelope("127.0.0.1", mx.port, "ext.external.test", SMTP["sender"],
                                    [SMTP["relay_recipient"], SMTP["invitation_recipient"], SMTP["ordinary_recipient"]], 2.0, 1)
    return seen


def mail(seen, **smtp):
    return dict((c["id"], c) for c in outside.mail_checks(seen, dict(SMTP, **smtp), "ext.external.test"))


def test_a_right_mx_passes_all_three():
    checks = mail(session())
    assert [checks[k]["status"] for k in ("mail.relay", "mail.greylisting.invitation", "mail.greylisting.ordinary")] == ["ok"] * 3
    assert "Relay access denied" in checks["mail.relay"]["message"]


def test_an_open_relay_is_a_failure_with_the_fix():
    c = mail(session(relay="250 2.1.5 Ok"))["mail.relay"]
    assert c["status"] == "fail" and c["message"].startswith("OPEN RELAY")
    assert "reject_unauth_destination" in c["fix"][0]


def test_greylisted_replies_are_a_failure():
    c = mail(session(invitation=POSTGREY.replace("alice@", "calendar-invites+statuscheck@")))["mail.greylisting.invitation"]
    assert c["status"] == "fail" and c["message"].startswith("replies to invitations are greylisted")
    assert "whitelist_recipients.local" in c["fix"][0]


def test_refused_replies_are_a_failure():
    c = mail(session(invitation="550 5.1.1 <calendar-invites+statuscheck@example.test>: Recipient address rejected: "
                                "User unknown in virtual mailbox table"))["mail.greylisting.invitation"]
    assert c["status"] == "fail" and "recipient_delimiter" in c["fix"][0]


def test_greylisting_not_in_effect_is_a_failure():
    c = mail(session(ordinary="250 2.1.5 Ok"))["mail.greylisting.ordinary"]
    assert c["status"] == "fail" and c["message"].startswith("greylisting is not in effect")


def test_greylisting_switched_off_accepts_at_once():
    c = mail(session(ordinary="250 2.1.5 Ok"), greylisting=False)["mail.greylisting.ordinary"]
    assert c["status"] == "ok" and "imip_mail_greylisting_enabled: false" in c["message"]


def test_an_unknown_ordinary_address_cannot_test_greylisting():
    c = mail(session(ordinary="550 5.1.1 <alice@example.test>: Recipient address rejected: User unknown"))["mail.greylisting.ordinary"]
    assert c["status"] == "unknown" and "imip_check_greylisting_recipient" in c["fix"][0]


def test_no_conversation_makes_all_three_unknown():
    seen = probes.smtp_envelope("127.0.0.1", closed_port(), "ext", SMTP["sender"], [SMTP["relay_recipient"]], 1.0, 1)
    checks = mail(seen)
    assert set(c["status"] for c in checks.values()) == {"unknown"}
    assert "connection refused" in checks["mail.relay"]["message"]


def test_a_refused_sender_makes_all_three_unknown():
    checks = mail(session(mail_reply="553 5.7.1 this is an address of this server"))
    assert set(c["status"] for c in checks.values()) == {"unknown"}
    assert "MAIL FROM:<status-check-1a2b@external.test> was answered 553" in checks["mail.relay"]["message"]
