"""The inbound part of `imip-gateway status`: last IMAP login and error, messages per folder,
the oldest message still waiting in INBOX, decisions in the last 24 hours. Read-only."""

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
    since = time.time() - 86400
    decisions = {row[0]: row[1] for row in conn.execute(
        "SELECT folder, count(*) FROM inbound_messages WHERE updated >= ? AND folder IS NOT NULL GROUP BY folder",
        (since,))}
    waiting = conn.execute("SELECT count(*) FROM inbound_messages WHERE state != 'filed'").fetchone()[0]
    return {
        "enabled": True,
        "imap": f"{cfg.imap.user}@{cfg.imap.host}:{cfg.imap.port}",
        "last_login_ok": values.get("imap_last_login_ok"),
        "last_login_time": _when(values.get("imap_last_login_time")),
        "last_error": values.get("imap_last_error"),
        "last_error_time": _when(values.get("imap_last_error_time")),
        "last_pass": _when(values.get("imap_last_pass")),
        "folders": values.get("imap_folder_counts") or {},
        "oldest_unprocessed": values.get("imap_oldest_unprocessed"),
        "not_filed": waiting,
        "decisions_last_24h": decisions,
    }


def problems(report: dict) -> list[str]:
    """What is wrong with the inbound side, with what to do (empty when healthy)."""
    out = []
    if not report.get("enabled") or "last_login_ok" not in report:
        return out
    if report["last_login_ok"] is False:
        out.append(f"IMAP login failed: {report['last_error']}; check the invitation account's password "
                   f"(playbooks/invitation_account.yml --check --diff shows which copy drifted)")
    if report.get("oldest_unprocessed"):
        out.append(f"a reply has waited in INBOX since {report['oldest_unprocessed']}: CalDAV or SMTP was "
                   f"unreachable; see the journal of imip-gateway")
    return out
