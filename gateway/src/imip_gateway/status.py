"""`imip-gateway status [--json]`: what an operator needs without tailing logs.

collect() reads the facts: the hook's marker, the spool, the service's heartbeat and lock, the
queue and its oldest job, the SMTP results, planning errors, reconciliation, pending
SCHEDULE-STATUS write-backs, and the inbound half (imip_gateway.inbound.status). checks() judges
them as ✓ / ✖ / ? lines, each failure saying what is wrong and how to fix it (Mail-in-a-Box's
manner); problems() is every ✖, so the exit code and the collection's status report (which reads
--json: "checks" and "problems") see the same failures as the human text. Read-only: the
database is opened without creating or migrating it.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

from imip_gateway import db, statelock
from imip_gateway.addresses import strip_mailto
from imip_gateway.config import Config
from imip_gateway.inbound import status as inbound_status
from imip_gateway.outbound import spool
from imip_gateway.service import hook_marker, read_hook_marker

OK, FAIL, UNKNOWN = "ok", "fail", "unknown"
MARK = {OK: "✓", FAIL: "✖", UNKNOWN: "?"}

# The service writes its heartbeat at most every 5 s; a minute without one is a dead or wedged loop.
HEARTBEAT_MAX_SECONDS = 60
# A due job the running service has not tried for this long is a stall: mail silently stops going out.
STALL_SECONDS = 300
OLDEST_MAX_SECONDS = 900
WRITEBACK_MAX_SECONDS = 3600
WRITEBACK_MAX_ATTEMPTS = 3
DAY = 86400
SPOOL_MAX_BACKLOG = 100
JOURNAL = "journalctl -u imip-gateway -n 50"


def _when(value) -> str | None:
    if value in (None, ""):
        return None
    return dt.datetime.fromtimestamp(float(value), dt.timezone.utc).isoformat(timespec="seconds")


def _age(value, now: float) -> int | None:
    try:
        return max(0, round(now - float(value)))
    except (TypeError, ValueError):
        return None


def _meta(conn, key):
    try:
        return db.get_meta(conn, key)
    except Exception:  # noqa: BLE001 - an older database without the key's table: unknown
        return None


def _ago(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 2 * DAY:
        return f"{seconds // 3600} h"
    return f"{seconds // DAY} days"


# ------------------------------------------------------------------------------ the service's lock

def lock_path(cfg: Config) -> Path:
    return cfg.gateway.state_dir / statelock.LOCK_NAME


def _flock_holders(path: Path) -> set[int] | None:
    """Pids holding a flock on the file (from /proc/locks), or None when that cannot be read."""
    try:
        inode = os.stat(path).st_ino
        text = Path("/proc/locks").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    holders = set()
    for line in text.splitlines():
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 1234 08:02:131 0 EOF"; waiting requests carry "->".
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[3] == "WRITE" and "->" not in fields[:2]:
            if fields[5].rsplit(":", 1)[-1] == str(inode) and fields[4].isdigit():
                holders.add(int(fields[4]))
    return holders


def running_pid(cfg: Config) -> tuple[int | None, str]:
    """The pid of the running `imip-gateway run` (it holds <state_dir>/gateway.lock), or None and why not."""
    path = lock_path(cfg)
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except FileNotFoundError:
        return None, f"{path} does not exist: the service has not run"
    except OSError as exc:
        return None, f"{path} cannot be read: {exc.strerror or exc}"
    if not text.isdigit():
        # The service empties the file when it stops.
        return None, f"{path} names no process: the service has stopped"
    pid = int(text)
    holders = _flock_holders(path)
    if holders is not None and pid not in holders:
        return None, f"no process holds {path} (pid {pid} in it is not running the gateway)"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None, f"pid {pid} in {path} is not running"
    except PermissionError:
        pass  # alive, as another user: the caller finds out when it signals
    return pid, ""


# ------------------------------------------------------------------------------ facts

def _oldest_pending(conn, now: float) -> dict | None:
    row = conn.execute("SELECT id, created, method, reason, uid, attendee, attempts, last_error, next_attempt,"
                       " last_attempt FROM jobs WHERE state = 'pending' ORDER BY created, position, id"
                       " LIMIT 1").fetchone()
    if row is None:
        return None
    return {"job": row["id"], "created": _when(row["created"]), "age_seconds": _age(row["created"], now),
            "method": row["method"], "reason": row["reason"], "uid": row["uid"],
            "attendee": strip_mailto(row["attendee"]), "attempts": row["attempts"],
            "last_error": row["last_error"], "next_attempt": _when(row["next_attempt"]),
            "last_attempt": _when(row["last_attempt"]),
            # > 0: due for that long without being tried (a stall when the service is alive).
            "due_seconds": round(now - row["next_attempt"])}


def _planning(conn, now: float) -> dict:
    when = "coalesce(processed, received)"
    total, recent = conn.execute(f"SELECT count(*), coalesce(sum({when} >= ?), 0) FROM changes WHERE state = 'error'",
                                 (now - DAY,)).fetchone()
    latest = conn.execute(f"SELECT id, uid, point, note, {when} AS at FROM changes WHERE state = 'error'"
                          f" ORDER BY {when} DESC LIMIT 1").fetchone()
    return {"errors_total": total, "errors_last_24h": recent, "latest": None if latest is None else {
        "change": latest["id"], "uid": latest["uid"], "calendar": latest["point"], "note": (latest["note"] or "")[:300],
        "time": _when(latest["at"])}}


def _reconcile(conn, cfg: Config, now: float) -> dict:
    interval = cfg.caldav.reconcile_seconds
    last = _meta(conn, "reconcile.last_run")
    return {"interval_seconds": interval, "allowed_seconds": 3 * interval + 60 if interval else None,
            "last_run": _when(last), "age_seconds": _age(last, now),
            "last_error": _meta(conn, "reconcile.last_error") or None,
            "last_error_time": _when(_meta(conn, "reconcile.last_error_time"))}


def _writebacks(conn, now: float) -> dict:
    # A row is made when its job fails (next_attempt = then); after a failed write the job's own
    # time is the best record of how long the organizer's event has lacked its SCHEDULE-STATUS.
    rows = conn.execute(
        "SELECT s.job_id, s.uid, s.attendee, s.status, s.attempts, s.last_error,"
        " CASE WHEN s.attempts = 0 THEN s.next_attempt ELSE coalesce(j.last_attempt, j.created, s.next_attempt)"
        " END AS since FROM schedule_status AS s LEFT JOIN jobs AS j ON j.id = s.job_id"
        " WHERE s.done IS NULL ORDER BY since").fetchall()
    worst = None
    for row in rows:
        late = now - row["since"] > WRITEBACK_MAX_SECONDS or row["attempts"] > WRITEBACK_MAX_ATTEMPTS
        if worst is None or late:
            worst = {"job": row["job_id"], "uid": row["uid"], "attendee": strip_mailto(row["attendee"]),
                     "status": row["status"], "attempts": row["attempts"], "last_error": row["last_error"],
                     "waiting_seconds": _age(row["since"], now), "late": late}
            if late:
                break
    return {"pending": len(rows), "worst": worst}


def _local_copies(conn, now: float) -> dict:
    """Local attendees' copies (outbound.local): what waits, what was written, what failed."""
    counts = {row[0]: row[1] for row in conn.execute("SELECT state, count(*) FROM local_deliveries GROUP BY state")}
    oldest = conn.execute("SELECT uid, attendee, method, attempts, last_error, created FROM local_deliveries"
                          " WHERE state = 'pending' AND next_attempt <= ? ORDER BY created LIMIT 1", (now,)).fetchone()
    failed = conn.execute("SELECT uid, attendee, method, last_error, last_attempt FROM local_deliveries"
                          " WHERE state = 'failed' AND last_attempt >= ? ORDER BY last_attempt DESC LIMIT 1",
                          (now - DAY,)).fetchone()
    return {
        "pending": counts.get("pending", 0),
        "done_last_24h": conn.execute("SELECT count(*) FROM local_deliveries WHERE state = 'done' AND done >= ?",
                                      (now - DAY,)).fetchone()[0],
        "failed_last_24h": conn.execute("SELECT count(*) FROM local_deliveries WHERE state = 'failed'"
                                        " AND last_attempt >= ?", (now - DAY,)).fetchone()[0],
        "oldest_due": {"uid": oldest["uid"], "attendee": strip_mailto(oldest["attendee"]),
                       "method": oldest["method"], "attempts": oldest["attempts"], "last_error": oldest["last_error"],
                       "waiting_seconds": _age(oldest["created"], now)} if oldest else None,
        "last_failure": {"uid": failed["uid"], "attendee": strip_mailto(failed["attendee"]),
                         "method": failed["method"], "error": failed["last_error"],
                         "time": _when(failed["last_attempt"])} if failed else None,
    }


def _smtp(conn) -> dict:
    login = _meta(conn, "smtp.last_login_ok")
    return {
        "last_result": _meta(conn, "smtp.last_result"),
        "last_time": _when(_meta(conn, "smtp.last_time")),
        "last_ok": {"true": True, "false": False}.get(_meta(conn, "smtp.last_ok") or ""),
        "last_error": _meta(conn, "smtp.last_error"),
        "last_error_time": _when(_meta(conn, "smtp.last_error_time")),
        "last_login_ok": {"true": True, "false": False}.get(login or ""),
        "last_login_time": _when(_meta(conn, "smtp.last_login_time")),
    }


def _outbound(conn, cfg: Config, now: float) -> dict:
    counts = {row[0]: row[1] for row in conn.execute("SELECT state, count(*) FROM jobs GROUP BY state")}
    reconcile = _reconcile(conn, cfg, now)
    writebacks = _writebacks(conn, now)
    paused = _meta(conn, "smtp.paused_reason")
    return {
        "queue_depth": counts.get("pending", 0),
        "failed_total": counts.get("failed", 0),
        "dropped_total": counts.get("dropped", 0),
        "sent_total": counts.get("sent", 0),
        "sent_last_24h": conn.execute("SELECT count(*) FROM jobs WHERE state = 'sent' AND sent >= ?",
                                      (now - DAY,)).fetchone()[0],
        "changes_not_planned": conn.execute("SELECT count(*) FROM changes WHERE state = 'new'").fetchone()[0],
        "oldest_pending": _oldest_pending(conn, now),
        "planning": _planning(conn, now),
        "schedule_status": writebacks,
        "local_copies": _local_copies(conn, now),
        "paused": {"reason": paused, "since": _when(_meta(conn, "smtp.paused_since"))} if paused else None,
        "smtp": _smtp(conn),
        "reconcile": reconcile,
        # Kept for readers of the earlier report (the collection's status check).
        "schedule_status_pending": writebacks["pending"],
        "reconcile_last_run": reconcile["last_run"],
        "reconcile_seconds": cfg.caldav.reconcile_seconds,
    }


def collect(cfg: Config) -> dict:
    now = time.time()
    report: dict = {"instance_id": cfg.gateway.instance_id, "database": str(cfg.gateway.db_path)}
    marker = read_hook_marker(cfg)
    report["hook"] = {"loaded": marker is not None, "marker": str(hook_marker(cfg)),
                      "pid": (marker or {}).get("pid"), "time": _when((marker or {}).get("time"))}
    report["spool_backlog"] = len(spool.pending_files(cfg.gateway.spool_dir))
    try:
        conn = db.open_readonly(cfg.gateway.db_path)
    except (FileNotFoundError, OSError):
        report["error"] = f"{cfg.gateway.db_path} does not exist yet (the service has not run)"
        return _judged(report)
    with conn:
        heartbeat = _meta(conn, "service.heartbeat")
        pid, why = running_pid(cfg)
        report["service"] = {"heartbeat": _when(heartbeat), "heartbeat_age_seconds": _age(heartbeat, now),
                             "pid": pid, "lock": why or None}
        report["outbound"] = _outbound(conn, cfg, now)
        if report["outbound"]["oldest_pending"]:
            report["outbound"]["oldest_pending"]["stalled"] = stalled(report)
        try:
            report["inbound"] = inbound_status.collect(conn, cfg)
        except Exception as exc:  # noqa: BLE001 - one broken part never kills the report
            report["inbound"] = {"error": f"{type(exc).__name__}: {exc}"}
    return _judged(report)


def _judged(report: dict) -> dict:
    report["checks"] = checks(report)
    report["problems"] = problems(report)
    return report


# ------------------------------------------------------------------------------ judgements

def _check(check_id: str, group: str, status: str, text: str, fix: str = "") -> dict:
    # One line each: notes and server replies may carry line breaks (a parser quoting its input).
    return {"id": check_id, "group": group, "status": status, "text": " ".join(text.split()), "fix": fix}


def _hook_checks(report: dict) -> list[dict]:
    hook, backlog = report["hook"], report["spool_backlog"]
    return [
        _check("hook.loaded", "Radicale hook", OK if hook["loaded"] else FAIL,
               f"loaded (pid {hook['pid']}, {hook['time']})" if hook["loaded"]
               else f"not loaded: {hook['marker']} missing",
               "" if hook["loaded"] else "install imip-gateway into Radicale's venv and set [hook] type = "
               "imip_gateway.radicale_hook, then restart Radicale (site.yml does both)"),
        _check("hook.spool", "Radicale hook", OK if backlog < SPOOL_MAX_BACKLOG else FAIL,
               f"spool backlog: {backlog} record(s)",
               "" if backlog < SPOOL_MAX_BACKLOG else f"the service is not taking changes in: {JOURNAL}"),
    ]


def _waiting(report: dict) -> int:
    out = report["outbound"]
    return out["queue_depth"] + out["changes_not_planned"] + report["spool_backlog"]


def heartbeat_fresh(report: dict) -> bool:
    age = (report.get("service") or {}).get("heartbeat_age_seconds")
    return age is not None and age <= HEARTBEAT_MAX_SECONDS


def stalled(report: dict) -> bool:
    """The oldest pending job has been due for minutes, the queue is not paused, and the service
    is alive: it is not being sent (an exception escaping the send loop, a hung connection)."""
    out = report["outbound"]
    oldest = out.get("oldest_pending") or {}
    return ((oldest.get("due_seconds") or 0) > STALL_SECONDS and not out.get("paused")
            and heartbeat_fresh(report))


def _service_check(report: dict) -> dict:
    service = report.get("service") or {}
    age, pid = service.get("heartbeat_age_seconds"), service.get("pid")
    fix = f"systemctl status imip-gateway; {JOURNAL}; then systemctl restart imip-gateway"
    if age is None:
        if _waiting(report):
            return _check("service.heartbeat", "Service", FAIL,
                          f"no heartbeat from the service while {_waiting(report)} job(s) or change(s) wait: "
                          "the service is not running or is wedged", fix)
        return _check("service.heartbeat", "Service", UNKNOWN, "no heartbeat recorded yet")
    if age > HEARTBEAT_MAX_SECONDS:
        return _check("service.heartbeat", "Service", FAIL,
                      f"last heartbeat {_ago(age)} ago ({service['heartbeat']}): "
                      "the service is not running or is wedged",
                      fix)
    return _check("service.heartbeat", "Service", OK,
                  f"running{f' (pid {pid})' if pid else ''}, heartbeat {age} s ago")


def _oldest_check(report: dict) -> dict | None:
    out = report["outbound"]
    oldest = out["oldest_pending"]
    if not oldest:
        return None
    what = (f"oldest pending: {oldest['method']} uid={oldest['uid']} to {oldest['attendee']} (job {oldest['job']}), "
            f"{_ago(oldest['age_seconds'])} old, {oldest['attempts']} attempt(s)")
    act = (f"then `imip-gateway retry {oldest['job']}`, or `imip-gateway drop {oldest['job']} --reason TEXT` "
           "to give it up (the organizer's event then shows it)")
    if stalled(report):
        return _check("outbound.oldest", "Outbound", FAIL,
                      f"{what}: due for {_ago(oldest['due_seconds'])} but not attempted although the service is "
                      "running: "
                      "the queue is stalled", f"read why: {JOURNAL}; {act}")
    overdue = (oldest.get("due_seconds") or 0) > STALL_SECONDS and not out.get("paused")
    if overdue or oldest["age_seconds"] > OLDEST_MAX_SECONDS or (oldest["attempts"] and oldest["last_error"]):
        tail = (f", last error: {oldest['last_error']}" if oldest["last_error"] else ", never attempted")
        return _check("outbound.oldest", "Outbound", FAIL, f"{what}{tail}; next attempt {oldest['next_attempt']}",
                      f"fix the cause ({JOURNAL}), then `systemctl reload imip-gateway` to retry now; {act}")
    return _check("outbound.oldest", "Outbound", OK, f"{what}, last error: none")


def _paused_check(report: dict) -> dict:
    paused = report["outbound"].get("paused")
    if not paused:
        return _check("outbound.paused", "Outbound", OK, "sending is not paused")
    return _check("outbound.paused", "Outbound", FAIL,
                  f"sending is paused since {paused['since']}: {paused['reason']}",
                  "the server refuses the gateway's sender or session: check the invitation account's password and "
                  "that it may send as the invitation address (site.yml puts every copy right), then "
                  "`systemctl reload imip-gateway` to retry now")


def _smtp_checks(report: dict) -> list[dict]:
    out = report["outbound"]
    smtp = out["smtp"]
    lines = []
    result = f"last SMTP result: {smtp['last_result'] or 'nothing sent yet'}" + (
        f" ({smtp['last_time']})" if smtp["last_time"] else "")
    if smtp["last_ok"] is False and out["queue_depth"]:
        lines.append(_check("smtp.result", "Outbound", FAIL, result, f"read why: {JOURNAL}"))
    elif smtp["last_ok"] is False:
        # That job failed for good and was marked on the organizer's event; nothing waits behind it.
        lines.append(_check("smtp.result", "Outbound", OK, result + "; nothing waits"))
    else:
        lines.append(_check("smtp.result", "Outbound", OK if smtp["last_ok"] else UNKNOWN, result))
    if smtp["last_ok"] and smtp["last_error"]:
        lines.append(_check("smtp.error", "Outbound", OK, f"earlier SMTP error (delivered since): "
                            f"{smtp['last_error']} ({smtp['last_error_time']})"))
    login = smtp["last_login_ok"]
    lines.append(_check("smtp.login", "Outbound", {True: OK, False: FAIL, None: UNKNOWN}[login],
                        "last SMTP login: " + {True: "succeeded", False: "FAILED", None: "none yet"}[login]
                        + (f" ({smtp['last_login_time']})" if smtp["last_login_time"] else ""),
                        "" if login is not False else
                        f"SMTP login failed: {smtp['last_error']}; check the invitation account's password "
                        "(playbooks/invitation_account.yml --check --diff shows which copy drifted)"))
    return lines


def _planning_check(report: dict) -> dict:
    planning = report["outbound"]["planning"]
    older = planning["errors_total"] - planning["errors_last_24h"]
    if not planning["errors_last_24h"]:
        return _check("outbound.planning", "Outbound", OK, "no planning error in the last 24 h"
                      + (f" ({older} older)" if older else ""))
    latest = planning["latest"]
    return _check("outbound.planning", "Outbound", FAIL,
                  f"{planning['errors_last_24h']} change(s) could not be planned in the last 24 h, so their "
                  f"invitations were never made; the latest ({latest['time']}, uid {latest['uid']} in "
                  f"{latest['calendar']}): {latest['note']}",
                  f"read the note and {JOURNAL}; once the cause is fixed, saving the event again in the "
                  "organizer's client plans it again")


def _reconcile_check(report: dict) -> dict:
    rec = report["outbound"]["reconcile"]
    error = f"; last error ({rec['last_error_time']}): {rec['last_error']}" if rec["last_error"] else ""
    fix = f"check CalDAV ([caldav] url, the invitation account's login) and {JOURNAL}"
    if not rec["interval_seconds"]:
        return _check("outbound.reconcile", "Outbound", UNKNOWN, "reconciliation: off ([caldav] reconcile_seconds = 0)")
    every = f"every {rec['interval_seconds']} s"
    if rec["age_seconds"] is None:
        if rec["last_error"]:
            return _check("outbound.reconcile", "Outbound", FAIL,
                          f"reconciliation has not succeeded yet ({every}){error}", fix)
        return _check("outbound.reconcile", "Outbound", UNKNOWN, f"last reconciliation: not yet ({every})")
    if rec["age_seconds"] > rec["allowed_seconds"]:
        return _check("outbound.reconcile", "Outbound", FAIL,
                      f"last successful reconciliation {_ago(rec['age_seconds'])} ago ({rec['last_run']}), "
                      f"allowed {_ago(rec['allowed_seconds'])} ({every}){error}", fix)
    return _check("outbound.reconcile", "Outbound", OK,
                  f"last reconciliation {_ago(rec['age_seconds'])} ago ({every})")


def _writeback_check(report: dict) -> dict:
    pending = report["outbound"]["schedule_status"]
    worst = pending["worst"]
    if not pending["pending"]:
        return _check("outbound.schedule_status", "Outbound", OK, "no SCHEDULE-STATUS write-back pending")
    what = (f"{pending['pending']} SCHEDULE-STATUS write-back(s) pending; the oldest "
            f"({worst['status']} for {worst['attendee']} on uid {worst['uid']}) for {_ago(worst['waiting_seconds'])}, "
            f"{worst['attempts']} failed attempt(s)"
            + (f", last error: {worst['last_error']}" if worst["last_error"] else ""))
    if worst["late"]:
        return _check("outbound.schedule_status", "Outbound", FAIL, what,
                      f"the organizer's event does not show the failed invitation yet: check CalDAV ([caldav] url, "
                      f"the invitation account's login) and {JOURNAL}")
    return _check("outbound.schedule_status", "Outbound", OK, what)


def _local_copies_check(report: dict) -> dict | None:
    copies = report["outbound"].get("local_copies")
    if copies is None:
        return None
    what = (f"local attendees' copies: {copies['pending']} pending, {copies['done_last_24h']} written and "
            f"{copies['failed_last_24h']} failed in 24 h")
    failure = copies["last_failure"]
    if failure:
        what += f" (the last failure: {failure['method']} for {failure['attendee']} on uid {failure['uid']}: {failure['error']})"
    oldest = copies["oldest_due"]
    if oldest and (oldest["waiting_seconds"] or 0) > WRITEBACK_MAX_SECONDS:
        return _check("outbound.local_copies", "Outbound", FAIL,
                      f"{what}; the oldest ({oldest['method']} for {oldest['attendee']} on uid {oldest['uid']}) has waited "
                      f"{_ago(oldest['waiting_seconds'])} after {oldest['attempts']} attempt(s)"
                      + (f", last error: {oldest['last_error']}" if oldest["last_error"] else ""),
                      f"colleagues' calendars do not show the organizer's changes: check CalDAV ([caldav] url, the "
                      f"invitation account's login and its rights to write into every calendar) and {JOURNAL}")
    return _check("outbound.local_copies", "Outbound", OK, what)


def _outbound_checks(report: dict) -> list[dict]:
    out = report["outbound"]
    lines = [_check("outbound.queue", "Outbound", OK,
                    f"queue depth: {out['queue_depth']} pending, {out['sent_last_24h']} sent in 24 h, "
                    f"{out['failed_total']} failed and {out.get('dropped_total', 0)} dropped in all")]
    lines += [c for c in (_oldest_check(report),) if c]
    lines.append(_paused_check(report))
    lines += _smtp_checks(report)
    lines += [_planning_check(report), _reconcile_check(report), _writeback_check(report)]
    lines += [c for c in (_local_copies_check(report),) if c]
    return lines


def _inbound_checks(report: dict) -> list[dict]:
    inbound = report.get("inbound")
    if not inbound:
        return []
    if "error" in inbound:
        return [_check("inbound.status", "Inbound", FAIL, f"the inbound status could not be read: {inbound['error']}",
                       JOURNAL)]
    return [_check(c["id"], "Inbound", c["status"], c["text"], c["fix"]) for c in inbound_status.checks(inbound)]


def checks(report: dict) -> list[dict]:
    """Every line of the report: {id, group, status (ok | fail | unknown), text, fix}."""
    lines = _hook_checks(report)
    if "error" in report:
        return lines + [_check("database", "Outbound", FAIL, report["error"],
                               "start the service: systemctl start imip-gateway")]
    return lines + [_service_check(report)] + _outbound_checks(report) + _inbound_checks(report)


def problems(report: dict) -> list[str]:
    """Every ✖, each with what to do (empty when healthy): the exit code and --json's "problems"."""
    return [f"{c['text']}; {c['fix']}" if c["fix"] else c["text"] for c in checks(report) if c["status"] == FAIL]


def format_human(report: dict) -> str:
    lines = [f"imip-gateway {report['instance_id']} ({report['database']})"]
    group = None
    for c in checks(report):
        if c["group"] != group:
            group = c["group"]
            lines += ["", group]
        lines.append(f"  {MARK[c['status']]} {c['text']}")
        if c["status"] == FAIL and c["fix"]:
            lines.append(f"      fix: {c['fix']}")
    return "\n".join(lines) + "\n"
