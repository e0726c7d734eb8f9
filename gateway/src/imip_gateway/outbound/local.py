"""Local attendees' copies of a local organizer's event (RFC 6638 semantics, done by the gateway).

Radicale has no server-side scheduling. When alice's event lists bob, an address of a local
domain, the planner makes for bob the decisions it makes for an external attendee (outbound.plan
with Policy(audience=LOCAL): REQUEST when he is added or the event changes for him, CANCEL when
he is removed, an instance is cancelled or the event is deleted), and each becomes a row of
local_deliveries instead of a mail. The CalDAV thread applies them to bob's own calendar, as the
gateway's identity (so the hook's notification of that write plans nothing):

- REQUEST: bob's copy becomes the components he is on, as the iTIP object built for him says
  (ORGANIZER the organizer's own address, METHOD removed; a series without the instances he was
  taken off), keeping what is bob's: his PARTSTAT (an instance new to him inherits his answer to
  the series; NEEDS-ACTION again only where the change asks again) and his alarms. A copy found
  by UID in any of his calendars is rewritten in place (If-Match, re-read on 412); otherwise it
  goes into his first calendar, or into a new calendar `calendar` when he has none.
- CANCEL: the cancelled components (the whole event, or instances) are marked STATUS:CANCELLED
  in his copy, which stays, so that he sees the cancellation; nothing to do when he has no copy.
- REPLY: bob answers in his copy (his client's PUT, the hook's actor bob): each component whose
  PARTSTAT for him changed (not to NEEDS-ACTION, not a cancelled one) is his answer, and bob
  deleting his copy declines what was not cancelled (RFC 6638 §3.2.8; after the same grace as a
  deleted event's CANCEL, so that a move between his calendars answers nothing). The answer is
  set on his ATTENDEE line in the organizer's event (PARTSTAT, SCHEDULE-STATUS=2.0), the
  instance's override made from the series when the organizer's event has none, exactly as an
  emailed reply is applied (inbound.eventedit); nothing else of the organizer's event changes.
- Answers shown: when the gateway itself sets an answer on the organizer's event (an external
  attendee's emailed reply, a colleague's answer), each other local attendee whose copy shows a
  different answer for someone gets a REQUEST (reason `answers`) that rewrites it, their own
  PARTSTAT kept, as other clients show the attendee list.
- In planned order per (UID, attendee), like the mail jobs; a CalDAV failure backs off and is
  retried; a user without a calendar home (Radicale makes it at the user's first login) fails
  with that reason, as does a copy that cannot be parsed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
import threading
import time
import uuid

from imip_gateway import db
from imip_gateway.addresses import from_calendar_address, is_mailto, strip_mailto, to_calendar_address
from imip_gateway.attendee_copies import NoCalendarHome, attendee_copy, find_copy, home, new_href, partstat_of
from imip_gateway.caldav_client import CalDAVClient, CalDAVError, PreconditionFailed
from imip_gateway.ical import attendees_of, events, recurrence_key
from imip_gateway.inbound import eventedit
from imip_gateway.inbound.ical import ICalError, parse as parse_raw
from imip_gateway.outbound.delivery import backoff
from imip_gateway.outbound.itip import build_itip, stamp
from imip_gateway.outbound.plan import Plan, Sources, organizer_of
from imip_gateway.outbound.recipients import Policy, user_names

log = logging.getLogger("imip_gateway.outbound")
# Set by the send loop once a planning round committed work; the CalDAV thread, which applies
# the rows, waits on it between polls.
QUEUED = threading.Event()

PUT_ATTEMPTS = 5
# CalDAV answers that will not change by retrying (besides 412, handled by re-reading).
PERMANENT = (400, 403, 404, 405, 409, 415, 422)


# ---------------------------------------------------------------- planning side
def queue(conn: sqlite3.Connection, change_id: str, plan: Plan, sources, *, now: float, due_for) -> int:
    """One local_deliveries row per action of a plan made with Policy(audience=LOCAL).

    sources: the versions the plan was made from; due_for(action) -> when the row becomes due (a deleted
    event's CANCEL waits as its mail does, in case the event is being moved)."""
    organizer = to_calendar_address(plan.organizer)
    for position, action in enumerate(plan.actions):
        calendar = sources.of(action)
        sequences = {recurrence_key(c): int(c.get("SEQUENCE", 0) or 0) for c in events(calendar)
                     if recurrence_key(c) in action.keys}
        itip = build_itip(calendar, method=action.method, keys=action.keys, attendee=action.attendee,
                          token_address=from_calendar_address(plan.organizer), sequences=sequences,
                          cancel_only_attendee=action.reason in ("removed", "instance removed"),
                          recipients=frozenset(plan.recipients), reask_keys=frozenset(plan.reask_keys))
        reask = sorted(set(action.keys) & plan.reask_keys) if action.method == "REQUEST" else []
        row_id = uuid.uuid4().hex
        conn.execute(
            "INSERT INTO local_deliveries (id, change_id, created, position, method, reason, uid, organizer, attendee,"
            " calendar, reask, state, attempts, next_attempt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?)",
            (row_id, change_id, now, position, action.method, action.reason, sources.uid, organizer, action.attendee,
             itip, json.dumps(reask), due_for(action)))
        log.info("queued local copy=%s %s (%s) uid=%s attendee=%s", row_id, action.method, action.reason,
                 sources.uid, strip_mailto(action.attendee))
    return len(plan.actions)


def answer_in_copy(old, new, *, owner: str, policy: Policy) -> tuple[str, str, dict[str, str]] | None:
    """(organizer, attendee, {recurrence key: PARTSTAT}) when this change is a local user
    answering in their own copy of someone else's event (or deleting it), else None. The
    organizer may be local (the answer goes to their event, queue_answer) or outside (mailed,
    outbound.replies). old, new: the copy before and after (icalendar.Calendar or None)."""
    source = new if new is not None else old
    if source is None or not owner:
        return None
    comps = {recurrence_key(c): c for c in events(source)}
    organizer = organizer_of(comps)
    if organizer is None or not is_mailto(organizer):
        return None
    if policy.owner_is_organizer(organizer, owner):
        return None
    attendee = next((a for c in comps.values() for a in (from_calendar_address(p) for p in attendees_of(c))
                     if owner.lower() in user_names(a)), None)
    if attendee is None:
        return None
    who = to_calendar_address(attendee)
    before = {recurrence_key(c): c for c in events(old)} if old is not None else {}
    answers = {}
    for key, component in comps.items():
        if str(component.get("STATUS", "")).upper() == "CANCELLED":
            continue
        if new is None:
            answers[key] = "DECLINED"
            continue
        now_ = partstat_of(component, who)
        was = partstat_of(before.get(key) or (before.get("") if key else None), who)
        if now_ and now_ != "NEEDS-ACTION" and now_ != was:
            answers[key] = now_
    return (to_calendar_address(organizer), who, answers) if answers else None


def queue_answer(conn: sqlite3.Connection, change_id: str, uid: str, answer, copy_text: str, *, now: float,
                 due: float, deleted: bool) -> None:
    """One REPLY row: the attendee's answer for the organizer's event."""
    organizer, attendee, answers = answer
    row_id = uuid.uuid4().hex
    conn.execute(
        "INSERT INTO local_deliveries (id, change_id, created, position, method, reason, uid, organizer, attendee,"
        " calendar, answers, state, attempts, next_attempt) VALUES (?, ?, ?, 0, 'REPLY', ?, ?, ?, ?, ?, ?, 'pending', 0, ?)",
        (row_id, change_id, now, "deleted" if deleted else "answered", uid, organizer, attendee, copy_text,
         json.dumps(answers, sort_keys=True), due))
    log.info("queued local answer=%s uid=%s attendee=%s organizer=%s: %s", row_id, uid, strip_mailto(attendee),
             strip_mailto(organizer), ", ".join(f"{k or 'series'} {v}" for k, v in sorted(answers.items())))


def _others_answers(component, attendee: str) -> dict[str, str]:
    if component is None:
        return {}
    return {to_calendar_address(p): str(p.params.get("PARTSTAT", "NEEDS-ACTION")).upper()
            for p in attendees_of(component) if to_calendar_address(p) != attendee}


def queue_answers_shown(conn: sqlite3.Connection, change_id: str, old, new, *, owner: str, policy: Policy,
                        now: float) -> int:
    """After the gateway set answers on the organizer's event (old -> new): a REQUEST (reason
    `answers`) for each local attendee whose components show someone else's answer changed.
    policy: Policy(audience=LOCAL)."""
    if old is None or new is None:
        return 0
    before = {recurrence_key(c): c for c in events(old)}
    comps = {recurrence_key(c): c for c in events(new)}
    organizer = organizer_of(comps)
    if organizer is None or not is_mailto(organizer) \
            or not policy.is_local(from_calendar_address(organizer)) or not policy.owner_is_organizer(organizer, owner):
        return 0
    plan = Plan(uid=next((str(c.get("UID")) for c in comps.values() if c.get("UID") is not None), None),
                organizer=organizer)
    for attendee in sorted({to_calendar_address(a) for c in comps.values() for a in attendees_of(c)
                            if policy.is_recipient(a, from_calendar_address(organizer))}):
        keys = {k for k, c in comps.items() if str(c.get("STATUS", "")).upper() != "CANCELLED"
                and any(to_calendar_address(a) == attendee for a in attendees_of(c))}
        if any(_others_answers(before.get(k), attendee) != _others_answers(comps[k], attendee) for k in keys):
            plan.add("REQUEST", attendee, keys, "new", "answers", significant=set())
    plan.recipients = {a.attendee for a in plan.actions}
    if not plan.actions:
        return 0
    return queue(conn, change_id, plan, Sources(plan.uid, "", old, new), now=now, due_for=lambda _action: now)


def drop_pending(conn: sqlite3.Connection, change_id: str, why: str) -> int:
    """A deleted event came back (moved): its waiting CANCELs to local attendees are dropped."""
    return conn.execute("UPDATE local_deliveries SET state = 'dropped', last_error = ? WHERE change_id = ?"
                        " AND state = 'pending'", (why, change_id)).rowcount


# ---------------------------------------------------------------- delivery
def _answered(organizer_text: str, copy_text: str, attendee: str, answers: dict[str, str]) -> str | None:
    """The organizer's event with the attendee's answers set, or None when nothing changes."""
    calendar = parse_raw(organizer_text)
    copy_ = parse_raw(copy_text)
    zones = eventedit.vtimezones(copy_)
    address = from_calendar_address(attendee)
    changed = False
    for component in eventedit.events(copy_):
        target = eventedit.locate(calendar, component.get("RECURRENCE-ID"), zones)
        if isinstance(target, str) or target.key not in answers:
            if isinstance(target, str):
                log.info("local answer of %s: %s", address, target)
            continue
        holder = target.component if target.component is not None else eventedit.master(calendar)
        if holder is None or eventedit.attendee_on(holder, address) is None:
            continue  # not on that instance of the organizer's event (any more)
        if target.component is None:
            holder = eventedit.create_override(calendar, target.recurrence_id)
        changed |= eventedit.set_attendee_status(eventedit.attendee_on(holder, address), answers[target.key], "2.0")
    return calendar.serialize() if changed else None


def _apply_answer(caldav: CalDAVClient, row: sqlite3.Row) -> tuple[str, str | None]:
    where = home(caldav, row["organizer"])
    found = find_copy(caldav, where, row["uid"])
    if found is None:
        return "the organizer's event is gone", None
    answers = json.loads(row["answers"])
    try:
        written = caldav.modify(found.href, lambda text: _answered(text, row["calendar"], row["attendee"], answers))
    except ICalError as exc:
        raise ValueError(f"cannot read the organizer's event or the copy: {exc}") from None
    return (f"set on {found.href}" if written else f"already so on {found.href}"), found.href


def apply(caldav: CalDAVClient, row: sqlite3.Row, now: float) -> tuple[str, str | None]:
    """Carry out one row; return (what was done, the href written)."""
    if row["method"] == "REPLY":
        return _apply_answer(caldav, row)
    when = dt.datetime.fromtimestamp(now, dt.timezone.utc)
    where = home(caldav, row["attendee"])
    reask = set(json.loads(row["reask"] or "[]"))
    for attempt in range(1, PUT_ATTEMPTS + 1):
        found = find_copy(caldav, where, row["uid"])
        if found is None and row["method"] == "CANCEL":
            return "no copy to cancel", None
        text = stamp(attendee_copy(row["calendar"], found.text if found else None, method=row["method"],
                                   attendee=row["attendee"], reask=reask), when)
        href = found.href if found else new_href(caldav, where, row["uid"])
        try:
            caldav.put(href, text, etag=found.etag if found else None, create=found is None)
        except PreconditionFailed:
            log.info("local copy %s: %s changed meanwhile (412), re-reading (attempt %d)", row["id"], href, attempt)
            continue
        return f"{'updated' if found else 'created'} {href}", href
    raise CalDAVError(f"PUT: still 412 after {PUT_ATTEMPTS} re-reads", 412)


def due(conn: sqlite3.Connection, now: float, limit: int) -> list[sqlite3.Row]:
    """Pending rows whose time has come, in planned order; a row waits while an earlier one for
    the same event and attendee is still pending (as outbound.delivery.due_jobs)."""
    return conn.execute(
        "SELECT * FROM local_deliveries AS d WHERE d.state = 'pending' AND d.next_attempt <= ?"
        " AND NOT EXISTS (SELECT 1 FROM local_deliveries AS e WHERE e.state = 'pending' AND e.uid = d.uid"
        " AND e.attendee = d.attendee AND (e.created < d.created OR (e.created = d.created AND"
        " (e.position < d.position OR (e.position = d.position AND e.id < d.id)))))"
        " ORDER BY d.created, d.position, d.id LIMIT ?", (now, limit)).fetchall()


def process(conn: sqlite3.Connection, caldav: CalDAVClient, *, base_seconds: float, limit: int = 50) -> int:
    """Apply the due rows; return how many were finished (done or failed)."""
    finished = 0
    for row in due(conn, time.time(), limit):
        now = time.time()
        try:
            outcome, href = apply(caldav, row, now)
        except (NoCalendarHome, ValueError) as exc:
            _fail(conn, row, str(exc), now)
            finished += 1
            continue
        except CalDAVError as exc:
            if exc.status in PERMANENT:
                _fail(conn, row, str(exc), now)
                finished += 1
            else:
                _defer(conn, row, str(exc), base_seconds, now)
            caldav.close()
            continue
        except OSError as exc:
            _defer(conn, row, f"CalDAV unreachable: {exc}", base_seconds, now)
            caldav.close()
            continue
        with db.transaction(conn):
            conn.execute("UPDATE local_deliveries SET state = 'done', done = ?, last_attempt = ?, attempts = attempts + 1,"
                         " last_error = NULL, href = ? WHERE id = ?",
                         (now, now, href, row["id"]))
        log.info("local copy=%s %s (%s) uid=%s attendee=%s: %s", row["id"], row["method"], row["reason"], row["uid"],
                 strip_mailto(row["attendee"]), outcome)
        finished += 1
    return finished


def _fail(conn: sqlite3.Connection, row: sqlite3.Row, why: str, now: float) -> None:
    with db.transaction(conn):
        conn.execute("UPDATE local_deliveries SET state = 'failed', last_attempt = ?, attempts = attempts + 1,"
                     " last_error = ? WHERE id = ?", (now, why[:300], row["id"]))
    log.error("local copy=%s %s uid=%s attendee=%s failed: %s", row["id"], row["method"], row["uid"],
              strip_mailto(row["attendee"]), why)


def _defer(conn: sqlite3.Connection, row: sqlite3.Row, why: str, base_seconds: float, now: float) -> None:
    attempts = row["attempts"] + 1
    with db.transaction(conn):
        conn.execute("UPDATE local_deliveries SET attempts = ?, last_attempt = ?, last_error = ?, next_attempt = ?"
                     " WHERE id = ?", (attempts, now, why[:300], now + backoff(attempts, base_seconds), row["id"]))
    log.warning("local copy=%s uid=%s attendee=%s: attempt %d failed, will retry: %s", row["id"], row["uid"],
                strip_mailto(row["attendee"]), attempts, why)
