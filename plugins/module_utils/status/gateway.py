# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The iMIP gateway's status checks on the calendar host (private to imip.server; the
site_status_info module).

gateway_checks(): the gateway's unit (`systemctl show`) and `imip-gateway status --json` as the
lines gateway.service, gateway.hook, gateway.queue, gateway.auth and gateway.health;
parse_systemctl_show() and read_status_json() read what those two commands print. Every
function returns plain data or checks (status.checks) and never raises for what it finds.
"""

from __future__ import annotations

import datetime
import json
import time

from ansible_collections.imip.server.plugins.module_utils.status import checks as sc


def parse_systemctl_show(text):
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def _epoch(iso):
    if not iso:
        return None
    try:
        return datetime.datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return None


def _started(unit):
    value = unit.get("ActiveEnterTimestamp", "").lstrip("@")
    try:
        return float(value)
    except ValueError:
        return None


def _when(epoch):
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


def gateway_checks(unit, status, status_error, max_queue_age, now=None, unit_name="imip-gateway"):
    """gateway.service, gateway.hook, gateway.queue, gateway.auth, gateway.health.

    unit: `systemctl show` properties (dict); status: `imip-gateway status --json` (dict) or None
    with status_error saying why it could not be read.
    """
    now = time.time() if now is None else now
    out = []
    load, active = unit.get("LoadState", "not-found"), unit.get("ActiveState", "unknown")
    started = _started(unit)
    if load != "loaded":
        out.append(sc.fail("gateway.service", sc.GATEWAY, "the %s unit is %s" % (unit_name, load),
                           "the unit installed and active", "run site.yml (playbooks/imip_gateway.yml installs it)"))
    elif active != "active":
        out.append(sc.fail("gateway.service", sc.GATEWAY, "%s is %s (%s)" % (unit_name, active, unit.get("SubState", "?")),
                           "%s active (running)" % unit_name,
                           ["read why: journalctl -u %s -n 50" % unit_name,
                            "then: systemctl start %s (site.yml starts it too)" % unit_name]))
    else:
        since = (" since %s" % _when(started)) if started else ""
        restarts = unit.get("NRestarts", "0")
        out.append(sc.ok("gateway.service", sc.GATEWAY, "%s is running%s%s" % (
            unit_name, since, (", restarted %s times by systemd" % restarts) if restarts not in ("", "0") else "")))

    if status is None:
        for cid in ("gateway.hook", "gateway.queue", "gateway.auth", "gateway.health"):
            out.append(sc.unknown(cid, sc.GATEWAY, "could not read `imip-gateway status --json`: %s" % status_error,
                                  fix="run the report with become (the gateway's state is readable by its own user and root)"))
        return out

    hook = status.get("hook") or {}
    if hook.get("loaded"):
        out.append(sc.ok("gateway.hook", sc.GATEWAY, "Radicale has loaded the gateway's hook (%s)" % hook.get("time")))
    else:
        out.append(sc.fail("gateway.hook", sc.GATEWAY, "Radicale has not loaded the gateway's hook (%s is missing)" % hook.get("marker"),
                           "Radicale running with [hook] type = imip_gateway.radicale_hook: changes to calendars reach the gateway",
                           "run site.yml (the imip_gateway role installs the hook into Radicale's venv and restarts Radicale)"))

    if "error" in status or "outbound" not in status:
        message = status.get("error", "no outbound part in the status")
        for cid in ("gateway.queue", "gateway.auth", "gateway.health"):
            out.append(sc.unknown(cid, sc.GATEWAY, "the gateway's state cannot be read: %s" % message,
                                  fix="start the gateway (systemctl start %s)" % unit_name))
        return out
    out.append(_queue_check(status, max_queue_age, now))
    out.append(_auth_check(status, started))
    out.append(_health_check(status))
    return out


def _queue_check(status, max_queue_age, now):
    outbound = status["outbound"]
    depth, oldest = outbound.get("queue_depth", 0), outbound.get("oldest_pending")
    backlog = status.get("spool_backlog", 0)
    tail = "%s sent in the last 24 h" % outbound.get("sent_last_24h", 0)
    if not depth and not backlog:
        return sc.ok("gateway.queue", sc.GATEWAY, "no invitation waiting (%s)" % tail)
    if not oldest:
        return sc.ok("gateway.queue", sc.GATEWAY, "draining: %d change(s) in the hook's spool, none queued yet (%s)" % (backlog, tail))
    age, error = oldest.get("age_seconds", 0), oldest.get("last_error")
    if oldest.get("stalled"):
        # Due for minutes and never tried while the service is alive: nothing leaves until it is fixed.
        return sc.fail("gateway.queue", sc.GATEWAY,
                       "%d invitation(s) waiting, the oldest (%s to %s, job %s) due for %d min and not attempted "
                       "although the gateway is running: the queue is stalled"
                       % (depth, oldest.get("method"), oldest.get("attendee"), oldest.get("job"),
                          oldest.get("due_seconds", 0) // 60),
                       "an empty queue, or one that drains within %d s" % max_queue_age,
                       ["read why: journalctl -u imip-gateway -n 50",
                        "on the calendar host: imip-gateway jobs, then imip-gateway retry ID or "
                        "imip-gateway drop ID --reason TEXT"])
    if age <= max_queue_age and not error:
        return sc.ok("gateway.queue", sc.GATEWAY, "draining: %d invitation(s) waiting, the oldest for %d s (%s)" % (depth, age, tail))
    if age <= max_queue_age and _delivered_since_error(outbound.get("smtp") or {}):
        # The cause is gone (a fixed password): the job waits for its next attempt.
        return sc.ok("gateway.queue", sc.GATEWAY, "draining: %d invitation(s) waiting, the oldest for %d s, retried at %s; "
                     "the gateway has delivered since its last error (%s)" % (depth, age, oldest.get("next_attempt") or "its next attempt", tail))
    is_auth = bool(error) and "authentication" in error.lower()
    fix = (["the gateway's SMTP login is refused: see the Invitation account lines; site.yml puts every copy of the "
            "password right and asks the gateway to retry now"] if is_auth else
           ["read the gateway's log: journalctl -u imip-gateway -n 50",
            "check that Postfix accepts submission on the gateway's [smtp] host and port (the port and TLS lines)"])
    return sc.fail("gateway.queue", sc.GATEWAY,
                   "%d invitation(s) waiting, the oldest (%s to %s) for %d min after %s attempt(s): %s"
                   % (depth, oldest.get("method"), oldest.get("attendee"), age // 60, oldest.get("attempts"),
                      error or "no error yet"),
                   "an empty queue, or one that drains within %d s" % max_queue_age, fix)


# The gateway's own lines (`imip-gateway status`) that the checks above judge already: the hook,
# the logins, the queue's head and the last SMTP result.
_JUDGED_ELSEWHERE = ("hook.loaded", "smtp.login", "inbound.login", "outbound.oldest", "smtp.result")


def _health_check(status):
    """Every other ✖ of the gateway's own report: a dead or wedged service (heartbeat), planning
    errors, reconciliation overdue, write-backs pending, a paused queue, replies not read."""
    own = status.get("checks")
    if not isinstance(own, list):
        return sc.unknown("gateway.health", sc.GATEWAY, "this gateway does not report its own checks (an older version)",
                          fix="run site.yml (it updates the gateway)")
    judged = _JUDGED_ELSEWHERE
    if ((status.get("outbound") or {}).get("smtp") or {}).get("last_login_ok") is False:
        # A refused login pauses sending too: gateway.auth says so already, with the fix.
        judged += ("outbound.paused",)
    failing = [c for c in own if isinstance(c, dict) and c.get("status") == "fail" and c.get("id") not in judged]
    if not failing:
        return sc.ok("gateway.health", sc.GATEWAY, "the gateway's own checks pass (%d lines of `imip-gateway status`)" % len(own))
    return sc.fail("gateway.health", sc.GATEWAY, "; ".join(str(c.get("text")) for c in failing),
                   "`imip-gateway status` without a ✖: the service running, every change planned, reconciliation on "
                   "time, write-backs done, sending not paused, replies read",
                   [str(c["fix"]) for c in failing if c.get("fix")] + ["on the calendar host: imip-gateway status"])


def _delivered_since_error(smtp):
    """The gateway's last SMTP delivery succeeded after its last SMTP error."""
    delivered, failed = _epoch(smtp.get("last_time")), _epoch(smtp.get("last_error_time"))
    return smtp.get("last_ok") is True and delivered is not None and (failed is None or delivered > failed)


def _auth_check(status, started):
    smtp = status["outbound"].get("smtp") or {}
    inbound = status.get("inbound") or {}
    failures, notes = [], []
    for proto, part in (("SMTP", smtp), ("IMAP", inbound)):
        ok_, when = part.get("last_login_ok"), _epoch(part.get("last_login_time"))
        recent = when is not None and (started is None or when >= started - 1)
        if ok_ is False and recent:
            failures.append("the %s login was refused at %s: %s" % (proto, part.get("last_login_time"), part.get("last_error")))
        elif ok_ is True and recent:
            notes.append("%s login ok at %s" % (proto, part.get("last_login_time")))
        elif proto == "IMAP" and inbound.get("enabled") is False:
            notes.append("IMAP off (replies are not read)")
        else:
            notes.append("no %s login since the start" % proto)
    if failures:
        return sc.fail("gateway.auth", sc.GATEWAY, "; ".join(failures),
                       "the gateway logs in as the invitation account over SMTP and IMAP without an error",
                       ["a copy of the invitation password disagrees: see the Invitation account lines; "
                        "`ansible-playbook -i INVENTORY site.yml --check --diff` names what a run rewrites, then run site.yml"])
    return sc.ok("gateway.auth", sc.GATEWAY, "no authentication error since the gateway started (%s)" % "; ".join(notes))


def read_status_json(text):
    """The JSON of `imip-gateway status --json` (exit 1 still prints it), or raise ValueError."""
    start = text.find("{")
    if start < 0:
        raise ValueError("no JSON in the output")
    return json.loads(text[start:])
