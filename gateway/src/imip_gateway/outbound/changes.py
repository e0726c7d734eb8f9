"""Turn recorded changes into jobs: snapshot diff -> plan -> one job per message.

Each change is handled in one transaction: the jobs, the tokens, the recorded SEQUENCEs, the new
snapshot and the change's state commit together, so a crash never half-plans a change.

An event is identified by its owner (the organizer's Radicale user) and UID, not by the
calendar it is in: moving it between the owner's calendars sends nothing, or at most an update.
- an upsert at a new point diffs against the owner's copy at another point, or against the
  tombstone of a just-deleted copy (whose CANCELs, still waiting, are dropped);
- a delete while the owner still has the UID at another point sends nothing;
- a delete with no other copy leaves a tombstone, and its CANCELs wait MOVE_GRACE_SECONDS;
- once such a CANCEL has gone out, a re-appearing event is new: REQUEST with a higher SEQUENCE.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
import time
from dataclasses import dataclass

from imip_gateway import db
from imip_gateway.addresses import from_calendar_address, strip_mailto
from imip_gateway.config import Config
from imip_gateway.ical import events, parse_calendar, recurrence_key
from imip_gateway.outbound import local, replies, sequences
from imip_gateway.outbound.itip import build_itip
from imip_gateway.outbound.message import display_fields
from imip_gateway.outbound.plan import Action, Plan, Sources, plan_change
from imip_gateway.outbound.recipients import EXTERNAL, LOCAL, Policy, user_names
from imip_gateway.outbound.schema import insert_job, last_sent_sequence, owner_of
from imip_gateway.outbound.timing import last_end
from imip_gateway.tokens import TokenStore

log = logging.getLogger("imip_gateway.outbound")

# How long the CANCELs of a deleted event wait for the same owner to put the UID elsewhere (a
# move). Clients move an event as PUT + DELETE in either order; the second request follows
# within a second or two for a desktop client, but DAVx5 syncs one collection after the other,
# which can take tens of seconds on a slow phone. A real deletion's CANCEL is late by this much.
MOVE_GRACE_SECONDS = 30.0

# CANCELs for these reasons end the event for the attendee: the token's lifetime counts from then.
ENDING_REASONS = ("removed", "deleted", "cancelled")


def policy_for(cfg: Config, audience: str = EXTERNAL) -> Policy:
    """Whom the planner picks: external attendees (mail), or with audience=LOCAL the local ones
    (their copies, outbound.local)."""
    return Policy(is_local=cfg.is_local_address, opt_out_users=cfg.gateway.opt_out_users, audience=audience)


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


# ---------------------------------------------------------------- the old side of the diff
@dataclass
class Base:
    """What the change is compared against."""
    text: str | None                 # the event before this change, None when it is new
    note: str | None = None          # how it was found (moved from ..., re-created ...)
    elsewhere: str | None = None     # for a delete: the owner's other point that still has the UID


def _snapshot_at(conn, point: str, uid: str, change: sqlite3.Row) -> str | None:
    """The stored old side at this point; a baseline snapshot yields to the hook's own old content
    (the baseline may have read the result of this very change)."""
    row = conn.execute("SELECT content, baseline FROM snapshots WHERE point = ? AND uid = ?", (point, uid)).fetchone()
    if row is None or (row["baseline"] and change["source"] == "hook"):
        return None
    return row["content"]


def _other_copy(conn, owner: str, point: str, uid: str) -> sqlite3.Row | None:
    return conn.execute("SELECT point, content FROM snapshots WHERE owner = ? AND uid = ? AND point != ?"
                        " ORDER BY updated DESC LIMIT 1", (owner, uid, point)).fetchone()


def _take_tombstone(conn, owner: str, uid: str, point: str, new_text: str,
                    now: float) -> tuple[sqlite3.Row, bool] | None:
    """The UID is back for this owner: drop the deleted copy's waiting CANCELs (their tokens live
    on with the event); return the tombstone and whether any of its CANCELs already went out."""
    tomb = conn.execute("SELECT * FROM tombstones WHERE owner = ? AND uid = ?", (owner, uid)).fetchone()
    if tomb is None:
        return None
    conn.execute("DELETE FROM tombstones WHERE owner = ? AND uid = ?", (owner, uid))
    sent = conn.execute("SELECT 1 FROM jobs WHERE change_id = ? AND state = 'sent' LIMIT 1",
                        (tomb["change_id"],)).fetchone() is not None
    why = f"event moved to {point}" if point != tomb["point"] else f"event re-created in {point}"
    dropped = conn.execute("UPDATE jobs SET state = 'dropped', last_error = ? WHERE change_id = ?"
                           " AND state = 'pending'", (why, tomb["change_id"])).rowcount
    dropped += local.drop_pending(conn, tomb["change_id"], why)
    if dropped:
        log.info("uid=%s: %s: %d waiting CANCEL(s) dropped", uid, why, dropped)
        tokens = [row[0] for row in conn.execute("SELECT token FROM jobs WHERE change_id = ? AND state = 'dropped'",
                                                 (tomb["change_id"],))]
        end = last_end(events(parse_calendar(new_text)))
        TokenStore(conn).renew(tokens, now, event_end=end.timestamp() if end else None, open_ended=end is None)
    return tomb, sent


def _base_for_upsert(conn, change: sqlite3.Row, owner: str, point: str, uid: str, now: float) -> Base:
    tombstone = _take_tombstone(conn, owner, uid, point, change["new_content"], now)
    text = _snapshot_at(conn, point, uid, change) or change["old_content"]
    if text is not None:
        return Base(text)
    other = _other_copy(conn, owner, point, uid)
    if other is not None:
        return Base(other["content"], note=f"moved from {other['point']}")
    if tombstone is not None:
        tomb, sent = tombstone
        if sent:
            return Base(None, note="re-created after its CANCEL was sent")
        return Base(tomb["content"], note=f"moved from {tomb['point']}")
    return Base(None)


def _base_for_delete(conn, change: sqlite3.Row, owner: str, point: str, uid: str, _now: float) -> Base:
    stored = conn.execute("SELECT content FROM snapshots WHERE point = ? AND uid = ?", (point, uid)).fetchone()
    text = _snapshot_at(conn, point, uid, change) or change["old_content"] or (stored["content"] if stored else None)
    other = _other_copy(conn, owner, point, uid)
    return Base(text, elsewhere=other["point"] if other is not None else None)


def _store(conn, change: sqlite3.Row, owner: str, point: str, uid: str, base: Base, now: float) -> None:
    """The snapshot follows every change, including the gateway's own writes."""
    if change["type"] == "upsert":
        conn.execute("INSERT INTO snapshots (point, owner, uid, content, updated, baseline) VALUES (?, ?, ?, ?, ?, 0)"
                     " ON CONFLICT (point, uid) DO UPDATE SET content = excluded.content, owner = excluded.owner,"
                     " updated = excluded.updated, baseline = 0", (point, owner, uid, change["new_content"], now))
        return
    conn.execute("DELETE FROM snapshots WHERE point = ? AND uid = ?", (point, uid))
    if base.elsewhere is None and base.text is not None:
        conn.execute("INSERT OR REPLACE INTO tombstones (owner, uid, point, content, change_id, deleted)"
                     " VALUES (?, ?, ?, ?, ?, ?)", (owner, uid, point, base.text, change["id"], now))


# ---------------------------------------------------------------- one change
def _ignored(change: sqlite3.Row) -> str | None:
    if (change["content_type"] or "").upper() not in ("VCALENDAR", ""):
        return f"content type {change['content_type']}"
    if change["type"] not in ("upsert", "delete"):
        return f"notification type {change['type']}"
    return None


def _process(conn: sqlite3.Connection, cfg: Config, change: sqlite3.Row, now: float) -> int:
    change_id, point = change["id"], change["point"] or ""
    ignored = _ignored(change)
    if ignored:
        _finish(conn, change_id, "ignored", ignored, now)
        return 0
    new_text = change["new_content"] if change["type"] == "upsert" else None
    new = parse_calendar(new_text) if new_text else None
    old_content = change["old_content"]
    uid = change["uid"] or _uid_in(new) or (_uid_in(parse_calendar(old_content)) if old_content else None)
    if not uid:
        _finish(conn, change_id, "ignored", "no VEVENT with a UID", now)
        return 0
    owner = owner_of(point) or ""
    upsert = change["type"] == "upsert"
    base = (_base_for_upsert if upsert else _base_for_delete)(conn, change, owner, point, uid, now)
    _store(conn, change, owner, point, uid, base, now)
    if change["actor"] and change["actor"].lower() == cfg.caldav.user.lower():
        # An answer the gateway set on the organizer's event (an emailed reply, a colleague's
        # answer) is shown on the other colleagues' copies; nothing else follows its own writes.
        shown = local.queue_answers_shown(conn, change_id, _parsed(base.text), new, owner=owner,
                                          policy=policy_for(cfg, LOCAL), now=now) if upsert else 0
        _finish(conn, change_id, "ignored", "written by the gateway itself"
                + (f"; answers shown on {shown} local cop(ies)" if shown else ""), now)
        log.debug("change %s: %s %s by the gateway itself: no mail", change_id, change["type"], uid)
        return shown
    if base.elsewhere is not None:
        _finish(conn, change_id, "done", f"still in {base.elsewhere} (moved): nothing to cancel", now)
        log.info("uid=%s point=%s: deleted here, still in %s: no mail", uid, point, base.elsewhere)
        return 0
    if base.text == new_text:
        _finish(conn, change_id, "done", "already seen", now)
        return 0
    old = _parsed(base.text)
    answer = local.answer_in_copy(old, new, owner=owner, policy=policy_for(cfg))
    if answer is not None:
        return _queue_answer(conn, cfg, change, uid, answer, new_text or base.text, owner=owner, now=now,
                             deleted=not upsert)
    when = dt.datetime.fromtimestamp(now, dt.timezone.utc)
    plan = plan_change(old, new, policy=policy_for(cfg), owner=owner, now=when,
                       suppression_days=cfg.gateway.suppression_days)
    copies = plan_change(old, new, policy=policy_for(cfg, LOCAL), owner=owner, now=when,
                         suppression_days=cfg.gateway.suppression_days)
    prefix = f"{base.note}; " if base.note else ""
    sources = Sources(uid, point, old, new)
    queued = local.queue(conn, change_id, copies, sources, now=now, due_for=lambda a: _due(a, now)) \
        if copies.actions and not copies.skipped else 0
    if plan.skipped or not plan.actions:
        why = plan.skipped or "no change for external attendees"
        _finish(conn, change_id, "done", prefix + why + (f"; {queued} local cop(ies)" if queued else ""), now)
        log.log(logging.INFO if plan.skipped or base.note else logging.DEBUG,
                "uid=%s point=%s: no mail: %s%s", uid, point, prefix, why)
        return queued
    if old is None:
        _mark_reinvited(conn, plan, uid)
    created = queue_jobs(conn, cfg, change, plan, sources, now)
    _finish(conn, change_id, "done", f"{prefix}{created} job(s)" + (f", {queued} local cop(ies)" if queued else ""), now)
    return created + queued


def _queue_answer(conn, cfg: Config, change: sqlite3.Row, uid: str, answer, copy_text: str, *, owner: str,
                  now: float, deleted: bool) -> int:
    """A local user answered in their copy: to a local organizer's event (outbound.local), or by
    mail to an outside organizer (outbound.replies) unless the user answers with their own client."""
    organizer, attendee = answer[0], answer[1]
    who = strip_mailto(attendee)
    due = now + MOVE_GRACE_SECONDS if deleted else now
    if cfg.is_local_address(from_calendar_address(organizer)):
        local.queue_answer(conn, change["id"], uid, answer, copy_text, now=now, due=due, deleted=deleted)
        _finish(conn, change["id"], "done", f"answer of {who} in their copy", now)
        return 1
    opted_out = ({owner.lower(), *user_names(who)} & set(cfg.gateway.opt_out_users))
    if opted_out:
        _finish(conn, change["id"], "done", f"answer of {who}: no REPLY, opted out in opt_out_users"
                f" ({sorted(opted_out)[0]}; their client answers)", now)
        return 0
    replies.queue(conn, cfg, change, uid, answer, copy_text, now=now, due=due, deleted=deleted)
    _finish(conn, change["id"], "done",
            f"answer of {who} in their copy: REPLY to {from_calendar_address(organizer)}", now)
    return 1


def _due(action: Action, now: float) -> float:
    """A deleted event's CANCEL waits: a PUT of the same UID by the same owner (a move) drops it."""
    return now + MOVE_GRACE_SECONDS if action.reason == "deleted" else now


def _parsed(text: str | None):
    return parse_calendar(text) if text else None


def _mark_reinvited(conn, plan: Plan, uid: str) -> None:
    """An event seen as new whose UID was mailed before (re-created after a CANCEL went out):
    its REQUEST must supersede that CANCEL, so SEQUENCE rises and everyone is asked again."""
    for action in plan.actions:
        again = {k for k in action.keys if last_sent_sequence(conn, uid, k) is not None}
        plan.significant_keys.update(again)
        plan.reask_keys.update(again)


# ---------------------------------------------------------------- jobs
class _Sequences:
    """SEQUENCE per (source, recurrence key), decided once per change and shared by its jobs."""

    def __init__(self, conn, uid: str, plan: Plan, now: float):
        self.conn, self.uid, self.plan, self.now = conn, uid, plan, now
        self.decided: dict[tuple[str, str], int] = {}

    def for_action(self, action: Action, calendar) -> dict[str, int]:
        return {key: self._one(calendar, action.source, key) for key in action.keys}

    def _one(self, calendar, source: str, key: str) -> int:
        if (source, key) not in self.decided:
            component = next(c for c in events(calendar) if recurrence_key(c) == key)
            client = int(component.get("SEQUENCE", 0) or 0)
            value = sequences.decide(self.conn, self.uid, key, client, key in self.plan.significant_keys)
            sequences.record(self.conn, self.uid, key, value, self.now)
            self.decided[(source, key)] = value
        return self.decided[(source, key)]


def _token(tokens: TokenStore, organizer_cua: str, action: Action, sources: Sources, now: float) -> str:
    """The attendee's reply token, its lifetime renewed to the event's last instance."""
    if action.method == "CANCEL" and action.reason in ENDING_REASONS:
        return tokens.token_for(organizer_cua, action.attendee, sources.uid, now=now, event_end=now)
    end = last_end(events(sources.new if sources.new is not None else sources.of(action)))
    return tokens.token_for(organizer_cua, action.attendee, sources.uid, now=now,
                            event_end=end.timestamp() if end else None, open_ended=end is None)


def queue_jobs(conn, cfg: Config, change: sqlite3.Row, plan: Plan, sources: Sources, now: float) -> int:
    organizer = plan.organizer
    organizer_cua = str(organizer).strip()
    organizer_name = str(organizer.params.get("CN", "")) or from_calendar_address(organizer)
    tokens = TokenStore(conn)
    decided = _Sequences(conn, sources.uid, plan, now)
    for position, action in enumerate(plan.actions):
        calendar = sources.of(action)
        seqs = decided.for_action(action, calendar)
        token = _token(tokens, organizer_cua, action, sources, now)
        itip = build_itip(calendar, method=action.method, keys=action.keys, attendee=action.attendee,
                          token_address=cfg.invitations.token_address(token), sequences=seqs,
                          cancel_only_attendee=action.reason in ("removed", "instance removed"),
                          recipients=frozenset(plan.recipients), reask_keys=frozenset(plan.reask_keys))
        display = display_fields([c for c in events(calendar) if recurrence_key(c) in action.keys])
        job_id, message_id = insert_job(
            conn, domain=cfg.invitations.domain, change_id=change["id"], created=now, position=position,
            method=action.method, reason=action.reason, uid=sources.uid, point=sources.point, organizer=organizer_cua,
            organizer_name=organizer_name, attendee=action.attendee, token=token, calendar=itip,
            display=json.dumps(display), sequences=json.dumps(seqs), due=_due(action, now))
        log.info("queued job=%s %s (%s) uid=%s attendee=%s sequence=%s message_id=%s", job_id, action.method,
                 action.reason, sources.uid, strip_mailto(action.attendee),
                 ",".join(str(seqs[k]) for k in action.keys), message_id)
    return len(plan.actions)
