# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The two status modules as Ansible runs them (run_module): options in, checks out, never
changed, never failed by a check, bad options refused; and no test password, hash or server
echo of one in anything they print."""

from __future__ import annotations

from ansible_collections.imip.server.plugins.modules import outside_status_info, site_status_info

from ..common import DOVEADM, OTHER, PASSWORD, USER, ImapHandler, LocalServer, SmtpHandler, hash_parts
from ..status_common import (POSTGREY, RELAY_DENIED, DnsServer, MxHandler, Running, TlsHandler, certificates, closed_port,
                             server_context)


def by_id(run):
    return dict((c["id"], c) for c in run.result["checks"])


def test_the_site_module_checks_certificates_copies_and_logins(run_module, site, tmp_path):
    tmp, stores = site  # the incident: gateway-smtp holds another password
    ca, cert, key = certificates(tmp_path, ["cal.example.test"])
    with Running(TlsHandler, tls_context=server_context(cert, key)) as tls, \
            LocalServer(SmtpHandler, mechanisms="PLAIN", auth_code=235) as smtp, \
            LocalServer(ImapHandler, extra_caps="") as imap:
        probes = [dict(name="smtp-login", type="probe_smtp", host="127.0.0.1", port=smtp.port, username=USER, security="none"),
                  dict(name="imap-login", type="probe_imap", host="127.0.0.1", port=imap.port, username=USER, security="none")]
        run = run_module(site_status_info, dict(
            services=[dict(port=tls.port, service="IMAPS", unit="dovecot", tls="tls")], tls_names=["cal.example.test"],
            tls_ca_file=ca, parity_stores=stores + probes, parity_secret=PASSWORD, parity_address=USER,
            gateway=dict(command=str(tmp_path / "no-such-imip-gateway")), timeout=2.0, retries=1), check=True)
    assert run.rc == 0 and not run.failed and run.result["changed"] is False
    checks = by_id(run)
    assert checks["tls.%d" % tls.port]["status"] == "ok"
    assert checks["account.gateway-smtp"]["status"] == "fail"
    assert [checks["account." + s["name"]]["status"] for s in stores if s["name"] != "gateway-smtp"] == ["ok"] * 4
    assert checks["account.smtp-login"]["status"] == checks["account.imap-login"]["status"] == "ok"
    assert checks["gateway.queue"]["status"] == "unknown" and "is not installed" in checks["gateway.queue"]["message"]
    assert run.result["listeners"] == [{"port": tls.port, "proto": "tcp", "addresses": ["127.0.0.1"]}]
    # parity_secret is no_log: Ansible masks it in the invocation, and nothing else holds it
    forbidden = {PASSWORD, OTHER} | hash_parts((tmp / "users").read_text(encoding="utf-8")) | hash_parts(DOVEADM["SHA512-CRYPT"])
    for value in forbidden:
        assert value not in run.raw


def test_a_server_echoing_the_password_leaks_nothing(run_module, site):
    dummy, stores = site
    with LocalServer(SmtpHandler, mechanisms="PLAIN", auth_code=454, echo=True) as smtp:
        probe = dict(name="smtp-login", type="probe_smtp", host="127.0.0.1", port=smtp.port, username=USER, security="none")
        run = run_module(site_status_info, dict(parity_stores=stores + [probe], parity_secret=PASSWORD, retries=1))
        assert len(smtp.seen) == 2  # the undecided probe was asked again
    c = by_id(run)["account.smtp-login"]
    assert c["status"] == "unknown" and "Temporary authentication failure for %s/********" % USER in c["message"]
    assert PASSWORD not in run.raw


def test_site_module_bad_options_are_refused_before_anything_runs(run_module, site):
    dummy, stores = site
    assert "tls_names" in run_module(site_status_info, dict(services=[dict(port=993, service="IMAPS", tls="tls")])).result["msg"]
    assert "parity_secret is required" in run_module(site_status_info, dict(parity_stores=stores)).result["msg"]
    bad = run_module(site_status_info, dict(parity_stores=[dict(name="x", type="keychain")], parity_secret=PASSWORD))
    assert bad.failed and bad.result["msg"].startswith("parity_stores:")
    assert PASSWORD not in bad.raw


def outside_args(dns_port, mx_port, tcp_port, **kw):
    args = dict(domain="example.test", public_address="127.0.0.1", resolver="127.0.0.1",
                dns_records=[dict(name="example.test.", type="MX", value="10 cal.example.test.")],
                fcrdns=[dict(name="cal.example.test.", address="198.51.100.10")],
                ports=[dict(port=tcp_port), dict(port=closed_port())],
                smtp=dict(port=mx_port, helo="ext.external.test", sender="status-check-1@external.test",
                          invitation_recipient="calendar-invites+statuscheck@example.test",
                          ordinary_recipient="alice@example.test", relay_recipient="status-check-relay@external.test"),
                timeout=1.0, retries=1)
    args.update(kw)
    return args


def test_the_outside_module_asks_dns_the_ports_and_the_mx(run_module, monkeypatch):
    zone = {("example.test.", "MX"): ["10 cal.example.test."], ("cal.example.test.", "A"): ["198.51.100.10"]}
    rcpt = {"status-check-relay@external.test": RELAY_DENIED, "alice@example.test": POSTGREY}
    with DnsServer(zone) as dns, Running(MxHandler, rcpt=rcpt) as mx:
        # The module asks port 53 of its resolver; the test server listens elsewhere.
        from ansible_collections.imip.server.plugins.module_utils.dns import check as _dns_check
        real = _dns_check.Resolver.__init__
        monkeypatch.setattr(_dns_check.Resolver, "__init__",
                            lambda self, server, port=53, *a: real(self, server, dns.port, *a))
        run = run_module(outside_status_info, outside_args(dns.port, mx.port, mx.port), check=True)
        assert "DATA" not in " ".join(mx.seen)
    assert run.rc == 0 and not run.failed and run.result["changed"] is False
    checks = by_id(run)
    assert checks["dns.mx"]["status"] == "ok"
    assert checks["dns.fcrdns"]["status"] == "fail" and checks["dns.fcrdns"]["fix"][0].startswith("ask your provider")
    assert [checks[i]["status"] for i in ("mail.relay", "mail.greylisting.invitation", "mail.greylisting.ordinary")] == ["ok"] * 3
    assert [p["state"] for p in run.result["ports"]] == ["open", "refused"]
    assert run.result["resolver"] == "127.0.0.1"


def test_outside_module_refuses_udp_on_another_port(run_module):
    run = run_module(outside_status_info, dict(domain="example.test", public_address="127.0.0.1",
                                               ports=[dict(port=25, proto="udp")]))
    assert run.failed and run.result["msg"] == "ports: UDP is only tried for DNS (port 53), not 25"


def test_site_module_refuses_a_published_address_that_is_not_ipv6(run_module):
    bad = run_module(site_status_info, dict(outbound_ipv6=dict(published=["192.0.2.1"])))
    assert bad.failed and "outbound_ipv6.published: '192.0.2.1' is not an IPv6 address" in bad.result["msg"]
