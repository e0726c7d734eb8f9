"""`imip-gateway status [--json]`: what an operator needs without tailing logs.

Outbound: queue depth, oldest pending job, last SMTP result and error, whether the last SMTP
login succeeded, the hook's marker, spool backlog, last reconciliation. When the inbound half
is installed, `imip_gateway.inbound.status.collect(conn, cfg) -> dict` adds its part under
"inbound". Read-only: opens the database without creating or migrating it.
"""

from __future__ import annotations

import datetime as dt
import importlib
import time

from imip_gateway import db
from imip_gateway.config import Config
from imip_gateway.outbound import spool
from imip_gateway.service import hook_marker, read_hook_marker


def _when(value) -> str | None:
    if value in (None, ""):
        return None
    return dt.datetime.fromtimestamp(float(value), dt.timezone.utc).isoformat(timespec="seconds")


def _meta(conn, key):
    try:
        return db.get_meta(conn, key)
    except Exception:
        return None


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
        return report
    with conn:
        counts = {row[0]: row[1] for row in conn.execute("SELECT state, count(*) FROM jobs GROUP BY state")}
        oldest = conn.execute("SELECT id, created, method, uid, attendee, attempts, last_error, next_attempt"
                              " FROM jobs WHERE state = 'pending' ORDER BY created LIMIT 1").fetchone()
        unplanned = conn.execute("SELECT count(*) FROM changes WHERE state = 'new'").fetchone()[0]
        sent_day = conn.execute("SELECT count(*) FROM jobs WHERE state = 'sent' AND sent >= ?",
                                (now - 86400,)).fetchone()[0]
        status_pending = conn.execute("SELECT count(*) FROM schedule_status WHERE done IS NULL").fetchone()[0]
        login = _meta(conn, "smtp.last_login_ok")
        report["outbound"] = {
            "queue_depth": counts.get("pending", 0),
            "failed_total": counts.get("failed", 0),
            "sent_total": counts.get("sent", 0),
            "sent_last_24h": sent_day,
            "changes_not_planned": unplanned,
            "schedule_status_pending": status_pending,
            "oldest_pending": None if oldest is None else {
                "job": oldest["id"], "created": _when(oldest["created"]),
                "age_seconds": round(now - oldest["created"]), "method": oldest["method"],
                "uid": oldest["uid"], "attendee": oldest["attendee"][len("mailto:"):],
                "attempts": oldest["attempts"], "last_error": oldest["last_error"],
                "next_attempt": _when(oldest["next_attempt"]),
            },
            "smtp": {
                "last_result": _meta(conn, "smtp.last_result"),
                "last_time": _when(_meta(conn, "smtp.last_time")),
                "last_ok": {"true": True, "false": False}.get(_meta(conn, "smtp.last_ok") or ""),
                "last_error": _meta(conn, "smtp.last_error"),
                "last_error_time": _when(_meta(conn, "smtp.last_error_time")),
                "last_login_ok": {"true": True, "false": False}.get(login or ""),
                "last_login_time": _when(_meta(conn, "smtp.last_login_time")),
            },
            "reconcile_last_run": _when(_meta(conn, "reconcile.last_run")),
            "reconcile_seconds": cfg.caldav.reconcile_seconds,
        }
        try:
            inbound = importlib.import_module("imip_gateway.inbound.status")
        except ModuleNotFoundError:
            inbound = None
        if inbound is not None and hasattr(inbound, "collect"):
            try:
                report["inbound"] = inbound.collect(conn, cfg)
            except Exception as exc:  # one broken part never kills the report
                report["inbound"] = {"error": f"{type(exc).__name__}: {exc}"}
    return report


def problems(report: dict) -> list[str]:
    """What is wrong, each with what it should be and how to fix it (empty when healthy)."""
    out = []
    if not report["hook"]["loaded"]:
        out.append(f"Radicale hook not loaded: {report['hook']['marker']} missing; install imip-gateway into "
                   f"Radicale's venv and set [hook] type = imip_gateway.radicale_hook, then restart Radicale")
    if "error" in report:
        out.append(report["error"])
        return out
    smtp = report["outbound"]["smtp"]
    if smtp["last_login_ok"] is False:
        out.append(f"SMTP login failed: {smtp['last_error']}; check the invitation account's password "
                   f"(playbooks/invitation_account.yml --check --diff shows which copy drifted)")
    oldest = report["outbound"]["oldest_pending"]
    if oldest and oldest["age_seconds"] > 3600:
        out.append(f"oldest pending invitation is {oldest['age_seconds'] // 60} min old: {oldest['last_error']}")
    inbound = report.get("inbound")
    if inbound and "error" in inbound:
        out.append(f"the inbound status could not be read: {inbound['error']}")
    elif inbound:
        # Replies that cannot be read are as broken as invitations that cannot leave: the status
        # command's exit code and the status report both count them.
        out += importlib.import_module("imip_gateway.inbound.status").problems(inbound)
    return out


def _line(ok: bool | None, text: str) -> str:
    mark = {True: "✓", False: "✖", None: "?"}[ok]
    return f"  {mark} {text}"


def format_human(report: dict) -> str:
    lines = [f"imip-gateway {report['instance_id']} ({report['database']})", "", "Radicale hook"]
    hook = report["hook"]
    lines.append(_line(hook["loaded"], f"loaded (pid {hook['pid']}, {hook['time']})" if hook["loaded"]
                       else f"not loaded: {hook['marker']} missing"))
    lines.append(_line(report["spool_backlog"] < 100, f"spool backlog: {report['spool_backlog']} record(s)"))
    if "error" in report:
        lines += ["", _line(False, report["error"])]
        return "\n".join(lines) + "\n"
    out = report["outbound"]
    smtp = out["smtp"]
    lines += ["", "Outbound"]
    lines.append(_line(out["queue_depth"] == 0 or None, f"queue depth: {out['queue_depth']} pending, "
                       f"{out['sent_last_24h']} sent in 24 h, {out['failed_total']} failed in all"))
    oldest = out["oldest_pending"]
    if oldest:
        lines.append(_line(oldest["age_seconds"] < 3600,
                           f"oldest pending: {oldest['method']} uid={oldest['uid']} to {oldest['attendee']}, "
                           f"created {oldest['created']}, {oldest['attempts']} attempt(s), "
                           f"last error: {oldest['last_error'] or 'none'}"))
    lines.append(_line(smtp["last_ok"], f"last SMTP result: {smtp['last_result'] or 'nothing sent yet'}"
                       + (f" ({smtp['last_time']})" if smtp["last_time"] else "")))
    if smtp["last_error"]:
        lines.append(_line(None if smtp["last_ok"] else False,
                           f"last SMTP error: {smtp['last_error']} ({smtp['last_error_time']})"))
    lines.append(_line(smtp["last_login_ok"], "last SMTP login: " + {True: "succeeded", False: "FAILED",
                       None: "none yet"}[smtp["last_login_ok"]]))
    if not out["reconcile_seconds"]:
        lines.append(_line(None, "reconciliation: off ([caldav] reconcile_seconds = 0)"))
    else:
        lines.append(_line(out["reconcile_last_run"] is not None or None,
                           f"last reconciliation: {out['reconcile_last_run'] or 'not yet'} "
                           f"(every {out['reconcile_seconds']} s)"))
    if "inbound" in report:
        lines += ["", "Inbound"]
        for key, value in report["inbound"].items():
            lines.append(f"    {key}: {value}")
    for problem in problems(report):
        lines += ["", "✖ " + problem]
    return "\n".join(lines) + "\n"
