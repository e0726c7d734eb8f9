# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The gateway's status lines (status/gateway.py) from its real `systemctl show` properties and
`imip-gateway status --json` (the incident and its fix, a wedged service, an older gateway)."""

from __future__ import annotations

import pytest

from ansible_collections.imip.server.plugins.module_utils.status import gateway

from ...status_common import STARTED, UNIT, gateway_status


def by_id(checks):
    return dict((c["id"], c) for c in checks)


def test_a_healthy_gateway():
    checks = by_id(gateway.gateway_checks(UNIT, gateway_status(), None, 900, now=STARTED + 600))
    assert [checks[k]["status"] for k in ("gateway.service", "gateway.hook", "gateway.queue", "gateway.auth",
                                          "gateway.health")] == ["ok"] * 5
    assert checks["gateway.service"]["message"] == "imip-gateway is running since 2026-11-30 00:33:15 UTC"
    assert "no SMTP login since the start; IMAP login ok at" in checks["gateway.auth"]["message"]


def test_a_stopped_gateway_says_where_to_look():
    unit = dict(UNIT, ActiveState="failed", SubState="failed")
    c = by_id(gateway.gateway_checks(unit, gateway_status(), None, 900))["gateway.service"]
    assert c["status"] == "fail" and c["message"] == "imip-gateway is failed (failed)"
    assert c["fix"][0] == "read why: journalctl -u imip-gateway -n 50"


def test_a_missing_unit_says_to_install_it():
    c = by_id(gateway.gateway_checks({"LoadState": "not-found"}, None, "/opt/imip/gateway/bin/imip-gateway is not installed",
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
    checks = by_id(gateway.gateway_checks(UNIT, status, None, 900, now=STARTED + 3600))
    auth, queue = checks["gateway.auth"], checks["gateway.queue"]
    assert auth["status"] == "fail" and auth["message"].startswith("the SMTP login was refused at 2026-11-30T01:10:00")
    assert "535 5.7.8" in auth["message"] and "Invitation account lines" in auth["fix"][0]
    assert queue["status"] == "fail" and "1 invitation(s) waiting, the oldest (REQUEST to attendee@external.test) for 20 min" in queue["message"]
    assert "SMTP login is refused" in queue["fix"][0]


def test_a_login_failure_before_the_last_start_is_history():
    status = gateway_status()
    status["inbound"].update(last_login_ok=False, last_login_time="2026-11-29T23:00:00+00:00", last_error="LOGIN failed")
    c = by_id(gateway.gateway_checks(UNIT, status, None, 900))["gateway.auth"]
    assert c["status"] == "ok" and "no IMAP login since the start" in c["message"]


def test_a_young_queue_without_errors_is_draining():
    status = gateway_status()
    status["outbound"].update(queue_depth=3, oldest_pending={"age_seconds": 20, "attempts": 0, "last_error": None,
                                                             "method": "REQUEST", "attendee": "a@external.test"})
    c = by_id(gateway.gateway_checks(UNIT, status, None, 900))["gateway.queue"]
    assert c["status"] == "ok" and c["message"].startswith("draining: 3 invitation(s) waiting, the oldest for 20 s")


def test_an_old_queue_fails_even_without_an_error():
    status = gateway_status()
    status["outbound"].update(queue_depth=1, oldest_pending={"age_seconds": 1000, "attempts": 1, "last_error": None,
                                                             "method": "CANCEL", "attendee": "a@external.test"})
    c = by_id(gateway.gateway_checks(UNIT, status, None, 900))["gateway.queue"]
    assert c["status"] == "fail" and "journalctl -u imip-gateway" in c["fix"][0]


def test_a_hook_that_did_not_load_fails():
    status = gateway_status()
    status["hook"] = {"loaded": False, "marker": "/var/spool/imip-gateway/hook/loaded", "pid": None, "time": None}
    c = by_id(gateway.gateway_checks(UNIT, status, None, 900))["gateway.hook"]
    assert c["status"] == "fail" and "/var/spool/imip-gateway/hook/loaded is missing" in c["message"]


def test_a_gateway_that_never_ran_is_unknown():
    status = {"hook": {"loaded": True, "time": "t"}, "error": "/var/lib/imip-gateway/gateway.db does not exist yet"}
    checks = by_id(gateway.gateway_checks(UNIT, status, None, 900))
    assert checks["gateway.queue"]["status"] == checks["gateway.auth"]["status"] == "unknown"


def test_status_json_after_log_lines():
    assert gateway.read_status_json('WARNING x\n{"a": 1}\n') == {"a": 1}
    with pytest.raises(ValueError):
        gateway.read_status_json("imip-gateway: configuration error")


def test_systemctl_show_parsing():
    assert gateway.parse_systemctl_show("LoadState=loaded\nActiveEnterTimestamp=@1795998795\n") == {
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
    c = by_id(gateway.gateway_checks(UNIT, status, None, 900))["gateway.queue"]
    assert c["status"] == "ok"
    assert c["message"].startswith("draining: 1 invitation(s) waiting, the oldest for 312 s, retried at 2026-11-30T01:41:34")
    # Not once it is older than allowed, and not while the last error is newer than the last delivery.
    status["outbound"].update(oldest_pending=failed_job(1000))
    assert by_id(gateway.gateway_checks(UNIT, status, None, 900))["gateway.queue"]["status"] == "fail"
    status["outbound"].update(oldest_pending=failed_job(312))
    status["outbound"]["smtp"].update(last_error_time="2026-11-30T01:40:00+00:00")
    assert by_id(gateway.gateway_checks(UNIT, status, None, 900))["gateway.queue"]["status"] == "fail"


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
    c = by_id(gateway.gateway_checks(UNIT, status, None, 900))["gateway.health"]
    assert c["status"] == "fail"
    assert c["message"] == ("last heartbeat 14 min ago (2026-11-30T00:40:00+00:00): the service is not running or is wedged; "
                            "last successful reconciliation 3 days ago, allowed 16 min (every 300 s)")
    assert c["fix"][0].startswith("systemctl status imip-gateway") and c["fix"][-1] == "on the calendar host: imip-gateway status"


def test_planning_errors_and_a_paused_queue_reach_the_report():
    status = own_check(gateway_status(), "outbound.planning", "fail",
                       "2 change(s) could not be planned in the last 24 h, so their invitations were never made; ...")
    own_check(status, "outbound.paused", "fail", "sending is paused since 2026-11-30T01:00:00+00:00: MAIL FROM refused: 553")
    c = by_id(gateway.gateway_checks(UNIT, status, None, 900))["gateway.health"]
    # In the gateway's own order (the pause is listed before planning).
    assert c["status"] == "fail" and c["message"].startswith(
        "sending is paused since 2026-11-30T01:00:00+00:00: MAIL FROM refused: 553; 2 change(s) could not be planned")


def test_health_leaves_the_lines_other_checks_judge_to_them():
    # A refused login is gateway.auth's line; the oldest job is gateway.queue's: not said twice.
    status = own_check(gateway_status(), "smtp.login", "fail", "last SMTP login: FAILED")
    own_check(status, "outbound.oldest", "fail", "oldest pending: REQUEST ..., last error: 451")
    assert by_id(gateway.gateway_checks(UNIT, status, None, 900))["gateway.health"]["status"] == "ok"


def test_a_pause_for_a_refused_login_is_gateway_auths_line():
    """The incident: the SMTP login is refused, which also pauses sending; gateway.auth names the
    login and its fix, so the health line does not say it a second time."""
    status = own_check(gateway_status(), "smtp.login", "fail", "last SMTP login: FAILED")
    own_check(status, "outbound.paused", "fail", "sending is paused since 2026-11-30T01:00:00+00:00: authentication failed")
    status["outbound"]["smtp"]["last_login_ok"] = False
    assert by_id(gateway.gateway_checks(UNIT, status, None, 900))["gateway.health"]["status"] == "ok"
    status["outbound"]["smtp"]["last_login_ok"] = True
    assert by_id(gateway.gateway_checks(UNIT, status, None, 900))["gateway.health"]["status"] == "fail"


def test_a_stalled_queue_fails_even_when_young_and_without_error():
    """A stall as reproduced on the lab: the job was due for 6 minutes, never tried, no error, while the
    gateway was running. Before, gateway.queue said "draining"."""
    status = gateway_status()
    status["outbound"].update(queue_depth=4, oldest_pending={
        "age_seconds": 400, "attempts": 0, "last_error": None, "method": "REQUEST", "attendee": "joerg@external.test",
        "job": "0f3c", "due_seconds": 390, "stalled": True})
    c = by_id(gateway.gateway_checks(UNIT, status, None, 900))["gateway.queue"]
    assert c["status"] == "fail"
    assert c["message"] == ("4 invitation(s) waiting, the oldest (REQUEST to joerg@external.test, job 0f3c) due for 6 min "
                            "and not attempted although the gateway is running: the queue is stalled")
    assert "imip-gateway retry ID" in c["fix"][1]


def test_an_older_gateway_without_its_own_checks_is_unknown():
    status = gateway_status()
    del status["checks"]
    c = by_id(gateway.gateway_checks(UNIT, status, None, 900))["gateway.health"]
    assert c["status"] == "unknown" and c["fix"] == ["run site.yml (it updates the gateway)"]
