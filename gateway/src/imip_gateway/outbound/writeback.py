"""SCHEDULE-STATUS on the organizer's event after a permanent failure.

Written over CalDAV as the gateway's identity, so the hook notification it causes carries the
gateway as `actor` and produces no mail; the diff ignores SCHEDULE-STATUS too.
"""

from __future__ import annotations

import logging
import sqlite3
import time

from imip_gateway import db
from imip_gateway.addresses import strip_mailto
from imip_gateway.caldav_client import CalDAVClient, CalDAVError
from imip_gateway.outbound.delivery import backoff

log = logging.getLogger("imip_gateway.outbound")


def locate(caldav: CalDAVClient, point: str | None, uid: str):
    """The event by UID: first in the collection it was seen in, then in all of the owner's calendars."""
    if point:
        found = caldav.find_by_uid(uid, [caldav.path(point)])
        if found is not None:
            return found
        return caldav.find_event(uid, point.split("/", 1)[0])
    return None


def _defer(conn: sqlite3.Connection, row: sqlite3.Row, exc: Exception, base_seconds: float) -> None:
    """Back off, whatever failed: a parse error would otherwise be retried every round."""
    attempts = row["attempts"] + 1
    detail = str(exc) if isinstance(exc, (CalDAVError, OSError)) else f"{type(exc).__name__}: {exc}"
    with db.transaction(conn):
        retry_at = time.time() + backoff(attempts, base_seconds)
        conn.execute("UPDATE schedule_status SET attempts = ?, last_error = ?, next_attempt = ?"
                     " WHERE job_id = ?", (attempts, detail[:300], retry_at, row["job_id"]))
    log.warning("SCHEDULE-STATUS=%s for %s on uid=%s failed (attempt %d), will retry: %s",
                row["status"], row["attendee"], row["uid"], attempts, detail)


def process(conn: sqlite3.Connection, caldav: CalDAVClient, *, base_seconds: float, limit: int = 50) -> int:
    now = time.time()
    rows = conn.execute("SELECT * FROM schedule_status WHERE done IS NULL AND next_attempt <= ?"
                        " ORDER BY next_attempt LIMIT ?", (now, limit)).fetchall()
    done = 0
    for row in rows:
        attendee = row["attendee"]
        try:
            found = locate(caldav, row["point"], row["uid"])
            if found is None:
                outcome = "event no longer exists"
            else:
                changed = caldav.set_schedule_status(found.href, attendee, row["status"])
                outcome = f"set on {found.href}" if changed else f"already set on {found.href}"
        # CalDAV down, or an event we cannot parse.
        except Exception as exc:  # pylint: disable=broad-exception-caught
            _defer(conn, row, exc, base_seconds)
            caldav.close()   # a half-read response must not be taken for the next one's
            continue
        with db.transaction(conn):
            conn.execute("UPDATE schedule_status SET done = ?, last_error = NULL WHERE job_id = ?",
                         (time.time(), row["job_id"]))
        log.info("SCHEDULE-STATUS=%s for attendee=%s uid=%s job=%s: %s", row["status"], strip_mailto(attendee),
                 row["uid"], row["job_id"], outcome)
        done += 1
    return done
