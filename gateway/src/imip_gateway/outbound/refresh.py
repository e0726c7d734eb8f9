"""An external attendee's REFRESH answered (RFC 5546 §3.2.6): the event as it stands, mailed again.

An attendee's client sends METHOD:REFRESH to the organizer (here: to the attendee's token
address) when it lost the event or missed an update. The inbound half checks the message as it
checks a reply (the token, the attendee's own domain authenticated) and hands the request to this
module through a callback that `imip-gateway run` wires (the halves import nothing of each
other). A REQUEST job (reason `refresh`) is queued for that attendee alone, built from the
gateway's last snapshot of the organizer's event, with the components the attendee is on and
the SEQUENCE already mailed (a refresh is not a change: nobody is asked again).
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid

from imip_gateway import db
from imip_gateway.addresses import from_calendar_address, to_calendar_address
from imip_gateway.attendee_copies import user_names
from imip_gateway.config import Config
from imip_gateway.outbound.changes import queue_jobs
from imip_gateway.ical import attendees_of, events, parse_calendar, recurrence_key
from imip_gateway.outbound.plan import Plan, Sources, organizer_of

__all__ = ["queue_refresh"]

log = logging.getLogger("imip_gateway.outbound")


def queue_refresh(conn: sqlite3.Connection, cfg: Config, organizer: str, uid: str, attendee: str) -> str:
    """Queue the REQUEST that answers `attendee`'s REFRESH of `uid`; return what was done (for the
    inbound decision's reason). organizer, attendee: addresses or mailto: CUAs."""
    owners = user_names(organizer)
    marks = ", ".join("?" * len(owners))
    row = conn.execute(f"SELECT point, content FROM snapshots WHERE uid = ? AND owner IN ({marks})"
                       " ORDER BY updated DESC LIMIT 1", (uid, *owners)).fetchone()
    if row is None:
        return "REFRESH: the organizer's event is gone; nothing sent"
    calendar = parse_calendar(row["content"])
    comps = {recurrence_key(c): c for c in events(calendar)}
    who = to_calendar_address(attendee)
    keys = {key for key, c in comps.items() if str(c.get("STATUS", "")).upper() != "CANCELLED"
            and any(to_calendar_address(a) == who for a in attendees_of(c))}
    if not keys:
        return f"REFRESH: {from_calendar_address(attendee)} is no longer invited; nothing sent"
    plan = Plan(uid=uid, organizer=organizer_of(comps))
    plan.add("REQUEST", who, keys, "new", "refresh", significant=set())
    plan.recipients = {who}
    now = time.time()
    change_id = f"refresh-{uuid.uuid4().hex}"
    with db.transaction(conn):
        conn.execute("INSERT INTO changes (id, source, received, type, point, uid, state, note, processed)"
                     " VALUES (?, 'refresh', ?, 'refresh', ?, ?, 'done', ?, ?)",
                     (change_id, now, row["point"], uid, f"REFRESH from {from_calendar_address(attendee)}", now))
        change = conn.execute("SELECT * FROM changes WHERE id = ?", (change_id,)).fetchone()
        queue_jobs(conn, cfg, change, plan, Sources(uid, row["point"], None, calendar), now)
    log.info("uid=%s: REFRESH from %s answered with a REQUEST", uid, from_calendar_address(attendee))
    return "REFRESH: the event as it stands mailed again"
