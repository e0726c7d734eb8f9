"""Turn recorded changes into jobs: snapshot diff -> plan -> one job per message (requirements 3–8, 21).

Each change is handled in one transaction: the jobs, the tokens, the recorded SEQUENCEs, the new
snapshot and the change's state commit together, so a crash never half-plans a change.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
import time
import uuid

from imip_gateway import db
from imip_gateway.config import Config
from imip_gateway.ical import address_of, events, parse_calendar, recurrence_key
from imip_gateway.outbound import sequences
from imip_gateway.outbound.itip import build_itip
from imip_gateway.outbound.message import display_fields, message_id_for
from imip_gateway.outbound.plan import plan_change
from imip_gateway.outbound.recipients import Policy
from imip_gateway.tokens import TokenStore

log = logging.getLogger("imip_gateway.outbound")


def policy_for(cfg: Config) -> Policy:
    return Policy(is_local=cfg.is_local_address, opt_out_users=cfg.gateway.opt_out_users)


def _owner(point: str | None) -> str | None:
    return point.split("/", 1)[0] if point else None


def _uid_of(text: str) -> str | None:
    return _uid_in(parse_calendar(text))


def _uid_in(calendar) -> str | None:
    if calendar is None:
        return None
    for component in events(calendar):
        if component.get("UID") is not None:
            return str(component.get("UID"))
    return None


def _finish(conn, change_id: str, state: str, note: str | None, now: float) -> None:
    conn.execute("UPDATE changes SET state = ?, note = ?, processed = ? WHERE id = ?",
                 (state, note, now, change_id))


def process_pending(conn: sqlite3.Connection, cfg: Config, *, now: float | None = None, limit: int = 200,
                    batch: int = 50) -> int:
    """Plan up to `limit` unprocessed changes; return how many jobs were created.

    Up to `batch` changes commit together (one fsync instead of fifty): nothing is sent before
    the commit, so a crash only means the whole batch is planned again. Each change has its
    own savepoint, so one that cannot be planned is marked as an error without the others.
    """
    rows = conn.execute("SELECT * FROM changes WHERE state = 'new' ORDER BY received, id LIMIT ?",
                        (limit,)).fetchall()
    created = 0
    for start in range(0, len(rows), batch):
        with db.transaction(conn):
            for row in rows[start:start + batch]:
                conn.execute("SAVEPOINT change")
                try:
                    created += _process(conn, cfg, row, time.time() if now is None else now)
                except Exception as exc:  # one bad event must not stop the queue
                    conn.execute("ROLLBACK TO change")
                    log.error("change %s (%s %s): cannot be planned: %s: %s", row["id"], row["type"],
                              row["point"], type(exc).__name__, exc)
                    _finish(conn, row["id"], "error", f"{type(exc).__name__}: {exc}"[:500], time.time())
                conn.execute("RELEASE change")
    return created


def _process(conn: sqlite3.Connection, cfg: Config, change: sqlite3.Row, now: float) -> int:
    change_id, point = change["id"], change["point"]
    if (change["content_type"] or "").upper() not in ("VCALENDAR", ""):
        _finish(conn, change_id, "ignored", f"content type {change['content_type']}", now)
        return 0
    if change["type"] not in ("upsert", "delete"):
        _finish(conn, change_id, "ignored", f"notification type {change['type']}", now)
        return 0
    new_text = change["new_content"] if change["type"] == "upsert" else None
    new = parse_calendar(new_text) if new_text else None
    uid = change["uid"] or _uid_in(new) or (_uid_of(change["old_content"]) if change["old_content"] else None)
    if not uid:
        _finish(conn, change_id, "ignored", "no VEVENT with a UID", now)
        return 0
    snapshot = conn.execute("SELECT content FROM snapshots WHERE point = ? AND uid = ?", (point, uid)).fetchone()
    old_text = snapshot["content"] if snapshot else change["old_content"]
    # The snapshot follows every change, including the gateway's own writes.
    if new_text is not None:
        conn.execute("INSERT INTO snapshots (point, uid, content, updated) VALUES (?, ?, ?, ?) "
                     "ON CONFLICT (point, uid) DO UPDATE SET content = excluded.content, updated = excluded.updated",
                     (point, uid, new_text, now))
    else:
        conn.execute("DELETE FROM snapshots WHERE point = ? AND uid = ?", (point, uid))

    if change["actor"] and change["actor"].lower() == cfg.caldav.user.lower():
        _finish(conn, change_id, "ignored", "written by the gateway itself", now)
        log.debug("change %s: %s %s by the gateway itself: no mail", change_id, change["type"], uid)
        return 0
    if old_text == new_text:
        _finish(conn, change_id, "done", "already seen", now)
        return 0
    old = parse_calendar(old_text) if old_text else None
    plan = plan_change(old, new, policy=policy_for(cfg), owner=_owner(point),
                       now=dt.datetime.fromtimestamp(now, dt.timezone.utc),
                       suppression_days=cfg.gateway.suppression_days)
    if plan.skipped:
        _finish(conn, change_id, "done", plan.skipped, now)
        log.info("uid=%s point=%s: no mail: %s", uid, point, plan.skipped)
        return 0
    if not plan.actions:
        _finish(conn, change_id, "done", "no change for external attendees", now)
        log.debug("uid=%s point=%s: no change for external attendees", uid, point)
        return 0

    organizer = plan.organizer
    organizer_cua = str(organizer).strip()
    organizer_name = str(organizer.params.get("CN", "")) or address_of(organizer)
    tokens = TokenStore(conn)
    decided: dict[tuple[str, str], int] = {}   # (source, key) -> SEQUENCE, shared by all attendees

    def sequence_for(source_cal, source: str, key: str) -> int:
        if (source, key) not in decided:
            component = next(c for c in events(source_cal) if recurrence_key(c) == key)
            client = int(component.get("SEQUENCE", 0) or 0)
            value = sequences.decide(conn, uid, key, client, key in plan.significant_keys)
            sequences.record(conn, uid, key, value, now)
            decided[(source, key)] = value
        return decided[(source, key)]

    created = 0
    for action in plan.actions:
        source_cal = new if action.source == "new" else old
        seqs = {key: sequence_for(source_cal, action.source, key) for key in action.keys}
        token = tokens.token_for(organizer_cua, action.attendee, uid, now=now)
        token_address = cfg.invitations.token_address(token)
        itip = build_itip(source_cal, method=action.method, keys=action.keys, attendee=action.attendee,
                          token_address=token_address, sequences=seqs,
                          cancel_only_attendee=action.reason in ("removed", "instance removed"))
        display = display_fields([c for c in events(source_cal) if recurrence_key(c) in action.keys])
        job_id = uuid.uuid4().hex
        message_id = message_id_for(job_id, cfg.invitations.domain)
        conn.execute(
            "INSERT INTO jobs (id, change_id, created, method, reason, uid, point, organizer, organizer_name,"
            " attendee, token, calendar, display, message_id, state, attempts, next_attempt)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?)",
            (job_id, change_id, now, action.method, action.reason, uid, point, organizer_cua, organizer_name,
             action.attendee, token, itip, json.dumps(display), message_id, now))
        log.info("queued job=%s %s (%s) uid=%s attendee=%s sequence=%s message_id=%s", job_id, action.method,
                 action.reason, uid, action.attendee[len("mailto:"):],
                 ",".join(str(seqs[k]) for k in action.keys), message_id)
        created += 1
    _finish(conn, change_id, "done", f"{created} job(s)", now)
    return created
