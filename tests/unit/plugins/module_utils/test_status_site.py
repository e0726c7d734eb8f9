# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The site host's checks: listening addresses read from /proc/net text (as the lab's hosts
print it), certificates judged from what a TLS port served (real servers on 127.0.0.1), the
password copies as the parity engine reports them, and the gateway from its real status JSON."""

from __future__ import annotations

import pytest

from ansible_collections.imip.server.plugins.module_utils import _status_site as site

from ..status_common import (STARTED, UNIT, Running, TlsHandler, certificates, closed_port, gateway_status,
                             server_context)

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


# ------------------------------------------------------------------------------ the gateway

def by_id(checks):
    return dict((c["id"], c) for c in checks)


def test_a_healthy_gateway():
    checks = by_id(site.gateway_checks(UNIT, gateway_status(), None, 900, now=STARTED + 600))
    assert [checks[k]["status"] for k in ("gateway.service", "gateway.hook", "gateway.queue", "gateway.auth",
                                          "gateway.health")] == ["ok"] * 5
    assert checks["gateway.service"]["message"] == "imip-gateway is running since 2026-11-30 00:33:15 UTC"
    assert "no SMTP login since the start; IMAP login ok at" in checks["gateway.auth"]["message"]


def test_a_stopped_gateway_says_where_to_look():
    unit = dict(UNIT, ActiveState="failed", SubState="failed")
    c = by_id(site.gateway_checks(unit, gateway_status(), None, 900))["gateway.service"]
    assert c["status"] == "fail" and c["message"] == "imip-gateway is failed (failed)"
    assert c["fix"][0] == "read why: journalctl -u imip-gateway -n 50"


def test_a_missing_unit_says_to_install_it():
    c = by_id(site.gateway_checks({"LoadState": "not-found"}, None, "/opt/imip/gateway/bin/imip-gateway is not installed",
                                  900))
    assert c["gateway.service"]["status"] == "fail" and "site.yml" in c["gateway.service"]["fix"][0]
    assert c["gateway.queue"]["status"] == "unknown" and "is not installed" in c["gateway.queue"]["message"]


def test_the_incident_smtp_login_refused_after_the_start_is_a_failure():
    status = gateway_status()
    smtp = status["outbound"]["smtp"]
    smtp.update(last_login_ok=False, last_login_time="2026-11-30T01:10:00+00:00", last_ok=False,
                last_error="authentication failed for calendar-invites@example.test at cal.example.test:587: "
                           "535 5.7.8 Error: authentication failed: authentication failure")
    status["outbound"].update(queue_depth=1, oldest_pending={
        "age_seconds": 1200, "attempts": 3, "method": "REQUEST", "attendee": "attendee@external.test",
        "last_error": smtp["last_error"], "uid": "evt-1"})
    checks = by_id(site.gateway_checks(UNIT, status, None, 900, now=STARTED + 3600))
    auth, queue = checks["gateway.auth"], checks["gateway.queue"]
    assert auth["status"] == "fail" and auth["message"].startswith("the SMTP login was refused at 2026-11-30T01:10:00")
    assert "535 5.7.8" in auth["message"] and "Invitation account lines" in auth["fix"][0]
    assert queue["status"] == "fail" and "1 invitation(s) waiting, the oldest (REQUEST to attendee@external.test) for 20 min" in queue["message"]
    assert "SMTP login is refused" in queue["fix"][0]


def test_a_login_failure_before_the_last_start_is_history():
    status = gateway_status()
    status["inbound"].update(last_login_ok=False, last_login_time="2026-11-29T23:00:00+00:00", last_error="LOGIN failed")
    c = by_id(site.gateway_checks(UNIT, status, None, 900))["gateway.auth"]
    assert c["status"] == "ok" and "no IMAP login since the start" in c["message"]


def test_a_young_queue_without_errors_is_draining():
    status = gateway_status()
    status["outbound"].update(queue_depth=3, oldest_pending={"age_seconds": 20, "attempts": 0, "last_error": None,
                                                             "method": "REQUEST", "attendee": "a@external.test"})
    c = by_id(site.gateway_checks(UNIT, status, None, 900))["gateway.queue"]
    assert c["status"] == "ok" and c["message"].startswith("draining: 3 invitation(s) waiting, the oldest for 20 s")


def test_an_old_queue_fails_even_without_an_error():
    status = gateway_status()
    status["outbound"].update(queue_depth=1, oldest_pending={"age_seconds": 1000, "attempts": 1, "last_error": None,
                                                             "method": "CANCEL", "attendee": "a@external.test"})
    c = by_id(site.gateway_checks(UNIT, status, None, 900))["gateway.queue"]
    assert c["status"] == "fail" and "journalctl -u imip-gateway" in c["fix"][0]


def test_a_hook_that_did_not_load_fails():
    status = gateway_status()
    status["hook"] = {"loaded": False, "marker": "/var/spool/imip-gateway/hook/loaded", "pid": None, "time": None}
    c = by_id(site.gateway_checks(UNIT, status, None, 900))["gateway.hook"]
    assert c["status"] == "fail" and "/var/spool/imip-gateway/hook/loaded is missing" in c["message"]


def test_a_gateway_that_never_ran_is_unknown():
    status = {"hook": {"loaded": True, "time": "t"}, "error": "/var/lib/imip-gateway/gateway.db does not exist yet"}
    checks = by_id(site.gateway_checks(UNIT, status, None, 900))
    assert checks["gateway.queue"]["status"] == checks["gateway.auth"]["status"] == "unknown"


def test_status_json_after_log_lines():
    assert site.read_status_json('WARNING x\n{"a": 1}\n') == {"a": 1}
    with pytest.raises(ValueError):
        site.read_status_json("imip-gateway: configuration error")


def test_systemctl_show_parsing():
    assert site.parse_systemctl_show("LoadState=loaded\nActiveEnterTimestamp=@1795998795\n") == {
        "LoadState": "loaded", "ActiveEnterTimestamp": "@1795998795"}


def failed_job(age):
    return {"age_seconds": age, "attempts": 3, "method": "REQUEST", "attendee": "attendee@external.test",
            "next_attempt": "2026-11-30T01:41:34+00:00", "uid": "evt-1",
            "last_error": "authentication failed for calendar-invites@example.test at cal.example.test:587: 535 5.7.8"}


def test_after_the_fix_a_job_with_an_old_error_is_draining_when_the_gateway_delivered_since():
    # The lab after site.yml fixed the incident: the gateway delivered at 01:39:13, after the
    # refused login at 01:37:34; the refused job waits for its next attempt.
    status = gateway_status()
    status["outbound"]["smtp"].update(last_ok=True, last_time="2026-11-30T01:39:13+00:00", last_login_ok=True,
                                      last_error_time="2026-11-30T01:37:34+00:00", last_error="535 5.7.8")
    status["outbound"].update(queue_depth=1, oldest_pending=failed_job(312))
    c = by_id(site.gateway_checks(UNIT, status, None, 900))["gateway.queue"]
    assert c["status"] == "ok"
    assert c["message"].startswith("draining: 1 invitation(s) waiting, the oldest for 312 s, retried at 2026-11-30T01:41:34")
    # Not once it is older than allowed, and not while the last error is newer than the last delivery.
    status["outbound"].update(oldest_pending=failed_job(1000))
    assert by_id(site.gateway_checks(UNIT, status, None, 900))["gateway.queue"]["status"] == "fail"
    status["outbound"].update(oldest_pending=failed_job(312))
    status["outbound"]["smtp"].update(last_error_time="2026-11-30T01:40:00+00:00")
    assert by_id(site.gateway_checks(UNIT, status, None, 900))["gateway.queue"]["status"] == "fail"


def own_check(status, check_id, state, text, fix=""):
    """Set one line of the gateway's own report (as `imip-gateway status --json` prints it)."""
    line = next((c for c in status["checks"] if c["id"] == check_id), None)
    if line is None:
        line = {"id": check_id, "group": "Outbound"}
        status["checks"].append(line)
    line.update(status=state, text=text, fix=fix)
    return status


def test_a_wedged_gateway_fails_its_health_line_with_what_the_gateway_says():
    status = own_check(gateway_status(), "service.heartbeat", "fail",
                       "last heartbeat 14 min ago (2026-11-30T00:40:00+00:00): the service is not running or is wedged",
                       "systemctl status imip-gateway; journalctl -u imip-gateway -n 50; then systemctl restart imip-gateway")
    own_check(status, "outbound.reconcile", "fail", "last successful reconciliation 3 days ago, allowed 16 min (every 300 s)",
              "check CalDAV ([caldav] url, the invitation account's login) and journalctl -u imip-gateway -n 50")
    c = by_id(site.gateway_checks(UNIT, status, None, 900))["gateway.health"]
    assert c["status"] == "fail"
    assert c["message"] == ("last heartbeat 14 min ago (2026-11-30T00:40:00+00:00): the service is not running or is wedged; "
                            "last successful reconciliation 3 days ago, allowed 16 min (every 300 s)")
    assert c["fix"][0].startswith("systemctl status imip-gateway") and c["fix"][-1] == "on the calendar host: imip-gateway status"


def test_planning_errors_and_a_paused_queue_reach_the_report():
    status = own_check(gateway_status(), "outbound.planning", "fail",
                       "2 change(s) could not be planned in the last 24 h, so their invitations were never made; ...")
    own_check(status, "outbound.paused", "fail", "sending is paused since 2026-11-30T01:00:00+00:00: MAIL FROM refused: 553")
    c = by_id(site.gateway_checks(UNIT, status, None, 900))["gateway.health"]
    # In the gateway's own order (the pause is listed before planning).
    assert c["status"] == "fail" and c["message"].startswith(
        "sending is paused since 2026-11-30T01:00:00+00:00: MAIL FROM refused: 553; 2 change(s) could not be planned")


def test_health_leaves_the_lines_other_checks_judge_to_them():
    # A refused login is gateway.auth's line; the oldest job is gateway.queue's: not said twice.
    status = own_check(gateway_status(), "smtp.login", "fail", "last SMTP login: FAILED")
    own_check(status, "outbound.oldest", "fail", "oldest pending: REQUEST ..., last error: 451")
    assert by_id(site.gateway_checks(UNIT, status, None, 900))["gateway.health"]["status"] == "ok"


def test_a_pause_for_a_refused_login_is_gateway_auths_line():
    """The incident: the SMTP login is refused, which also pauses sending; gateway.auth names the
    login and its fix, so the health line does not say it a second time."""
    status = own_check(gateway_status(), "smtp.login", "fail", "last SMTP login: FAILED")
    own_check(status, "outbound.paused", "fail", "sending is paused since 2026-11-30T01:00:00+00:00: authentication failed")
    status["outbound"]["smtp"]["last_login_ok"] = False
    assert by_id(site.gateway_checks(UNIT, status, None, 900))["gateway.health"]["status"] == "ok"
    status["outbound"]["smtp"]["last_login_ok"] = True
    assert by_id(site.gateway_checks(UNIT, status, None, 900))["gateway.health"]["status"] == "fail"


def test_a_stalled_queue_fails_even_when_young_and_without_error():
    """A stall as reproduced on the lab: the job was due for 6 minutes, never tried, no error, while the
    gateway was running. Before, gateway.queue said "draining"."""
    status = gateway_status()
    status["outbound"].update(queue_depth=4, oldest_pending={
        "age_seconds": 400, "attempts": 0, "last_error": None, "method": "REQUEST", "attendee": "joerg@external.test",
        "job": "0f3c", "due_seconds": 390, "stalled": True})
    c = by_id(site.gateway_checks(UNIT, status, None, 900))["gateway.queue"]
    assert c["status"] == "fail"
    assert c["message"] == ("4 invitation(s) waiting, the oldest (REQUEST to joerg@external.test, job 0f3c) due for 6 min "
                            "and not attempted although the gateway is running: the queue is stalled")
    assert "imip-gateway retry ID" in c["fix"][1]


def test_an_older_gateway_without_its_own_checks_is_unknown():
    status = gateway_status()
    del status["checks"]
    c = by_id(site.gateway_checks(UNIT, status, None, 900))["gateway.health"]
    assert c["status"] == "unknown" and c["fix"] == ["run site.yml (it updates the gateway)"]


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
