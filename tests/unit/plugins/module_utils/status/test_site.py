# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The site host's checks: listening addresses read from /proc/net text (as the lab's hosts
print it), certificates judged from what a TLS port served (real servers on 127.0.0.1), the
password copies as the parity engine reports them, and outgoing mail over IPv6 (the gateway's
lines: test_gateway.py)."""

from __future__ import annotations

import pytest

from ansible_collections.imip.server.plugins.module_utils.status import site

from ...status_common import Running, TlsHandler, certificates, closed_port, server_context

# /proc/net/tcp and udp of the lab's ns1 and cal (named on its own address and loopback; sshd,
# Postfix on all addresses; a connection that is not listening).
TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3709151 1 0000000036dcf73e 100 0 0 10 0
   1: 836433C6:0035 00000000:0000 0A 00000000:00000000 00:00000000 00000000   102        0 3736393 1 00000000cf0f877f 100 0 0 10 0
   3: 0100007F:0035 00000000:0000 0A 00000000:00000000 00:00000000 00000000   102        0 3736388 1 00000000e1533cca 100 0 0 10 0
   4: 0100007F:03E1 00000000:0000 0A 00000000:00000000 00:00000000 00000000   102        0 3736388 1 00000000e1533cca 100 0 0 10 0
   5: 846433C6:0019 146433C6:C350 01 00000000:00000000 00:00000000 00000000   102        0 3736388 1 00000000e1533cca 100 0 0 10 0
"""
TCP6 = """\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:0035 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   102        0 3736396 1
   1: 00000000000000000000000000000000:0019 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   102        0 3736396 1
"""
UDP = """\
   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
 7646: 836433C6:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   102        0 3736390 2 000000002b60478e 0
"""


@pytest.fixture
def proc(tmp_path):
    for name, text in (("tcp", TCP), ("tcp6", TCP6), ("udp", UDP)):
        (tmp_path / name).write_text(text)
    return str(tmp_path)


def test_listening_addresses_come_from_the_socket_tables(proc):
    found = site.listeners([{"port": 53, "proto": "tcp"}, {"port": 53, "proto": "udp"}, {"port": 25, "proto": "tcp"},
                            {"port": 993, "proto": "tcp"}, {"port": 443, "proto": "tcp"}], root=proc)
    assert found == [
        {"port": 53, "proto": "tcp", "addresses": ["127.0.0.1", "198.51.100.131", "::1"]},
        {"port": 53, "proto": "udp", "addresses": ["198.51.100.131"]},
        {"port": 25, "proto": "tcp", "addresses": ["::"]},  # the established connection is not a listener
        {"port": 993, "proto": "tcp", "addresses": ["127.0.0.1"]},
        {"port": 443, "proto": "tcp", "addresses": []},
    ]


@pytest.mark.parametrize("addresses,exposure,connect", [
    (["0.0.0.0", "::"], "all", "127.0.0.1"),
    (["127.0.0.1", "198.51.100.131", "::1"], "all", "127.0.0.1"),
    (["198.51.100.131"], "all", "198.51.100.131"),
    (["127.0.0.1", "::1"], "loopback", "127.0.0.1"),
    (["fe80::1%eth0", "::1"], "loopback", "127.0.0.1"),
    ([], "none", "127.0.0.1"),
])
def test_how_a_port_listens_and_where_the_host_reaches_it(addresses, exposure, connect):
    assert site.exposure(addresses) == exposure
    assert site.connect_address(addresses) == connect


# ------------------------------------------------------------------------------ TLS

NAMES = ["cal.example.test"]


def endpoint(port):
    return {"port": port, "protocol": "tls", "service": "IMAPS", "address": "127.0.0.1"}


def one_tls_check(tmp_path, names, min_days=14, days=90, **cert):
    ca, cert_file, key = certificates(tmp_path, cert.get("served", ["cal.example.test"]), days=days,
                                      start_days=cert.get("start_days", -1))
    with Running(TlsHandler, tls_context=server_context(cert_file, key)) as server:
        return site.tls_checks([endpoint(server.port)], names, min_days, 2.0, 1, cafile=ca)[0]


def test_a_good_certificate_passes(tmp_path):
    c = one_tls_check(tmp_path, NAMES)
    assert c["status"] == "ok" and c["id"].startswith("tls.")
    assert "trusted certificate for cal.example.test, valid until" in c["message"]


def test_a_certificate_expiring_within_the_limit_fails_with_the_date(tmp_path):
    c = one_tls_check(tmp_path, NAMES, days=10)
    assert c["status"] == "fail" and "expires in" in c["message"] and "days, on" in c["message"]
    assert "renews certificates" in c["fix"][0]


def test_a_certificate_missing_a_name_fails_naming_it(tmp_path):
    c = one_tls_check(tmp_path, ["cal.example.test", "mail.example.test"])
    assert c["status"] == "fail"
    assert c["message"].endswith("serves a certificate for cal.example.test, not for mail.example.test")
    assert "imip_tls_names" in c["fix"][0]


def test_a_wildcard_certificate_covers_a_name(tmp_path):
    c = one_tls_check(tmp_path, ["cal.example.test", "mail.example.test"], served=["cal.example.test", "*.example.test"])
    assert c["status"] == "ok"


def test_an_expired_certificate_fails_as_untrusted_with_its_date(tmp_path):
    c = one_tls_check(tmp_path, NAMES, days=-2, start_days=-60)
    assert c["status"] == "fail" and "does not trust" in c["message"] and "expired" in c["message"]
    assert "valid until" in c["message"]  # the date, read from the certificate itself


def test_a_port_that_does_not_answer_is_unknown_not_failed():
    c = site.tls_checks([endpoint(closed_port())], NAMES, 14, 1.0, 1)[0]
    assert c["status"] == "unknown" and "connection refused" in c["message"]


def test_the_limit_is_the_option(tmp_path):
    c = one_tls_check(tmp_path, NAMES, min_days=100, days=90)
    assert c["status"] == "fail"


# ------------------------------------------------------------------------------ the invitation account

STORES = [
    {"name": "keychain-smtp", "type": "keychain", "status": "match", "writable": True, "changed": False, "msg": "holds the password"},
    {"name": "dovecot-passwd-file", "type": "passwd_file", "status": "drift", "writable": False, "changed": False,
     "msg": "the hash of /etc/dovecot/imip.passwd user calendar-invites@example.test (line 2) does not verify the password"},
    {"name": "smtp-login", "type": "probe_smtp", "status": "drift", "writable": False, "changed": False,
     "msg": "SMTP cal.example.test:587 as calendar-invites@example.test rejects the password"},
    {"name": "keychain-imap", "type": "keychain", "status": "missing", "writable": True, "changed": False,
     "msg": "systemd_creds item /etc/credstore.encrypted/imip-gateway.imap.cred does not exist"},
    {"name": "imap-login", "type": "probe_imap", "status": "error", "writable": False, "changed": False,
     "msg": "IMAP cal.example.test:993: cannot connect: connection refused"},
]


def test_each_copy_of_the_password_is_one_line_with_who_fixes_it():
    checks = {c["id"]: c for c in site.account_checks(STORES, "calendar-invites@example.test")}
    assert list(checks) == ["account.keychain-smtp", "account.dovecot-passwd-file", "account.smtp-login",
                            "account.keychain-imap", "account.imap-login"]
    assert checks["account.keychain-smtp"]["status"] == "ok"
    drift = checks["account.dovecot-passwd-file"]
    assert drift["status"] == "fail" and drift["message"].startswith("dovecot-passwd-file disagrees: the hash of")
    assert "the mail role writes this hash" in drift["fix"][0] and "--check --diff" in drift["fix"][0]
    assert "calendar-invites@example.test" in drift["should"]
    assert "dovecot-passwd-file line" in checks["account.smtp-login"]["fix"][0]
    assert checks["account.keychain-imap"]["message"].startswith("keychain-imap does not exist")
    assert "invitation_account role rewrites" in checks["account.keychain-imap"]["fix"][0]
    assert checks["account.imap-login"]["status"] == "unknown"


def test_a_probe_that_could_not_decide_is_asked_again():
    runs = [{"stores": [STORES[4]]}, {"stores": [dict(STORES[4], status="match", msg="accepts the password")]}]
    result = site.run_parity(lambda: runs.pop(0), 2)
    assert result["stores"][0]["status"] == "match" and runs == []


def test_a_drift_is_not_asked_again():
    calls = []
    site.run_parity(lambda: calls.append(1) or {"stores": [STORES[1], STORES[2]]}, 2)
    assert len(calls) == 1


# /proc/net/if_inet6 of a mail host with a provider's address, a unique local one, a link-local
# one and loopback (only the first is routable on the internet).
IF_INET6 = """\
2a0104f8c0c01234000000000000002b 02 40 00 80     eth0
fd0000000000000000000000000000aa 02 40 00 80     eth0
fe80000000000000021122fffe334455 02 40 20 80     eth0
00000000000000000000000000000001 01 80 10 80       lo
"""
GLOBAL = "2a01:4f8:c0c0:1234::2b"


def test_only_addresses_routable_on_the_internet_count():
    assert site.parse_if_inet6(IF_INET6) == [GLOBAL]
    assert site.parse_if_inet6("") == []


@pytest.mark.parametrize("addresses, protocols, preference, published, status, says", [
    ([], "all", "any", [], "ok", "this host has no global IPv6 address"),
    ([GLOBAL], "ipv4", "any", [], "ok", "IPv4 only (Postfix inet_protocols = ipv4)"),
    # The mail role's default: a provider's address without PTR is not used while IPv4 is there.
    ([GLOBAL], "all", "ipv4", [], "ok", "prefers IPv4 (smtp_address_preference = ipv4): this host's IPv6 address "
                                        "2a01:4f8:c0c0:1234::2b has no AAAA and PTR of the site"),
    ([GLOBAL], "ipv4, ipv6", "any", ["2a01:04f8:c0c0:1234:0:0:0:2b"], "ok", "may leave over IPv6 from 2a01:4f8:c0c0:1234::2b, "
                                                                            "which the site publishes"),
    ([GLOBAL], "all", "ipv4", [GLOBAL], "ok", "imip_mail_outbound_ipv6: true would use it"),
    # imip_mail_outbound_ipv6: true before the address has its PTR: what big providers junk.
    ([GLOBAL], "all", "any", [], "fail", "may leave over IPv6 from 2a01:4f8:c0c0:1234::2b, which the site does not publish"),
    ([GLOBAL], "all", "ipv6", ["2a01:4f8::1"], "fail", "smtp_address_preference = ipv6"),
])
def test_outgoing_mail_over_ipv6_only_from_a_published_address(addresses, protocols, preference, published, status, says):
    check = site.outbound_ipv6_check(addresses, protocols, preference, published)
    assert check["id"] == "mail.outbound_ipv6" and check["status"] == status and says in check["message"], check
    if status == "fail":
        assert any("imip_mail_outbound_ipv6: false" in line for line in check["fix"])
        assert any("imip_host_ipv6" in line for line in check["fix"])
