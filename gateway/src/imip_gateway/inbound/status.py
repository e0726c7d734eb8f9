"""The inbound part of `imip-gateway status`: last IMAP login and error, the last pass over INBOX
against the polling interval, messages per folder, the oldest message still waiting in INBOX,
decisions in the last 24 hours, outside organizers' invitations handed over for local users; checks() judges them as the outbound half's ✓ / ✖ / ? lines.
Read-only."""

from __future__ import annotations

import datetime as dt
import json
import time

from imip_gateway.config import Config


def _when(value) -> str | None:
    if value in (None, ""):
        return None
    try:
        return dt.datetime.fromtimestamp(float(value), dt.timezone.utc).isoformat(timespec="seconds")
    except (TypeError, ValueError):
        return str(value)


def _age(value, now: float) -> int | None:
    try:
        return max(0, round(now - float(value)))
    except (TypeError, ValueError):
        return None


def collect(conn, cfg: Config) -> dict:
    if not cfg.imap.enabled:
        return {"enabled": False, "note": "[imap] host not set: replies are not read"}
    try:
        rows = conn.execute("SELECT name, value FROM inbound_status").fetchall()
    except Exception:  # noqa: BLE001 - tables not created yet: the inbound half has not run
        return {"enabled": True, "note": "the inbound half has not run yet"}
    values = {}
    for name, value in rows:
        try:
            values[name] = json.loads(value)
        except (TypeError, ValueError):
            values[name] = value
    now = time.time()
    decisions = {row[0]: row[1] for row in conn.execute(
        "SELECT folder, count(*) FROM inbound_messages WHERE updated >= ? AND folder IS NOT NULL GROUP BY folder",
        (now - 86400,))}
    waiting = conn.execute("SELECT count(*) FROM inbound_messages WHERE state != 'filed'").fetchone()[0]
    invitations = {row[0][len("invitation "):]: row[1] for row in conn.execute(
        "SELECT outcome, count(*) FROM inbound_messages WHERE updated >= ? AND outcome LIKE 'invitation %'"
        " GROUP BY outcome", (now - 86400,))}
    refused = conn.execute("SELECT attendee, reason, updated FROM inbound_messages WHERE outcome = 'invitation rejected'"
                           " ORDER BY updated DESC LIMIT 1").fetchone()
    return {
        "enabled": True,
        "imap": f"{cfg.imap.user}@{cfg.imap.host}:{cfg.imap.port}",
        "last_login_ok": values.get("imap_last_login_ok"),
        "last_login_time": _when(values.get("imap_last_login_time")),
        "last_error": values.get("imap_last_error"),
        "last_error_time": _when(values.get("imap_last_error_time")),
        "last_pass": _when(values.get("imap_last_pass")),
        "last_pass_age_seconds": _age(values.get("imap_last_pass"), now),
        "polling_seconds": cfg.imap.polling_seconds,
        "folders": values.get("imap_folder_counts") or {},
        "oldest_unprocessed": values.get("imap_oldest_unprocessed"),
        "not_filed": waiting,
        "decisions_last_24h": decisions,
        "invitations_last_24h": invitations,
        "last_refused_invitation": ({"attendee": refused[0], "reason": refused[1], "time": _when(refused[2])}
                                    if refused else None),
    }


JOURNAL = "journalctl -u imip-gateway -n 50"
PASSWORD_FIX = ("check the invitation account's password "
                "(playbooks/invitation_account.yml --check --diff shows which copy drifted)")


def _check(check_id: str, status: str, text: str, fix: str = "") -> dict:
    return {"id": check_id, "status": status, "text": text, "fix": fix}


def _login_check(report: dict) -> dict:
    ok = report.get("last_login_ok")
    when = f" ({report['last_login_time']})" if report.get("last_login_time") else ""
    if ok is False:
        return _check("inbound.login", "fail", f"IMAP login failed as {report.get('imap')}{when}: "
                      f"{report.get('last_error')}", PASSWORD_FIX)
    if ok:
        return _check("inbound.login", "ok", f"last IMAP login as {report.get('imap')}: succeeded{when}")
    return _check("inbound.login", "unknown", f"no IMAP login as {report.get('imap')} yet")


def _pass_check(report: dict) -> dict:
    """Passes come at least every polling_seconds (IDLE wakes that often too): three missed ones
    and a minute mean the inbound half is not reading replies."""
    age, polling = report.get("last_pass_age_seconds"), report.get("polling_seconds") or 0
    error = f"; last error ({report['last_error_time']}): {report['last_error']}" if report.get("last_error") else ""
    if age is None:
        return _check("inbound.pass", "fail" if error else "unknown", f"no pass over INBOX yet{error}",
                      f"read why: {JOURNAL}" if error else "")
    allowed = 3 * polling + 60
    if age > allowed:
        return _check("inbound.pass", "fail", f"last pass over INBOX {age // 60} min ago ({report['last_pass']}), "
                      f"allowed {allowed} s (polling every {polling} s): replies are not being read{error}",
                      f"check the IMAP server and the invitation account's login; {JOURNAL}")
    return _check("inbound.pass", "ok", f"last pass over INBOX {age} s ago (polling every {polling} s)")


def _inbox_check(report: dict) -> dict:
    folders = ", ".join(f"{name} {count}" for name, count in sorted((report.get("folders") or {}).items()))
    decisions = ", ".join(f"{name} {count}" for name, count in sorted((report.get("decisions_last_24h") or {}).items()))
    tail = f" (folders: {folders or 'not counted yet'}; filed in 24 h: {decisions or 'none'})"
    if report.get("oldest_unprocessed"):
        return _check("inbound.waiting", "fail",
                      f"a reply has waited in INBOX since {report['oldest_unprocessed']}{tail}",
                      f"CalDAV or SMTP was unreachable when it was read; see {JOURNAL}")
    return _check("inbound.waiting", "ok", f"no reply waiting in INBOX, {report.get('not_filed', 0)} being filed{tail}")


def _invitations_check(report: dict) -> dict:
    """Outside organizers' invitations that the mail system handed over (inbound.invitations). A
    refused one is the sender's matter, not the site's: named, never a failure."""
    counts = report.get("invitations_last_24h") or {}
    refused = report.get("last_refused_invitation")
    last = (f"; last refused ({refused['time']}) for {refused['attendee']}: {refused['reason']}" if refused else "")
    if not counts:
        return _check("inbound.invitations", "ok", f"no invitation from outside handed over in 24 h{last}")
    done = ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
    return _check("inbound.invitations", "ok", f"invitations from outside in 24 h: {done}{last}")


def checks(report: dict) -> list[dict]:
    """The inbound half's lines of `imip-gateway status`: {id, status (ok | fail | unknown), text, fix}."""
    if not report.get("enabled"):
        return [_check("inbound.enabled", "unknown", report.get("note") or "replies are not read")]
    if "last_login_ok" not in report:
        return [_check("inbound.enabled", "unknown", report.get("note") or "the inbound half has not run yet")]
    return [_login_check(report), _pass_check(report), _inbox_check(report), _invitations_check(report)]


def problems(report: dict) -> list[str]:
    """What is wrong with the inbound side, with what to do (empty when healthy)."""
    return [f"{c['text']}; {c['fix']}" if c["fix"] else c["text"] for c in checks(report) if c["status"] == "fail"]
