"""The organizer's events, read and written through imip_gateway.caldav_client.

Where an event lives: Radicale users are the mail accounts (Dovecot logins such as
alice@example.test, or plain user names), so the organizer's address or its local part is
the principal, and only its calendars are searched. The outbound half's snapshot table knows
the href of every event it has seen, local attendees' copies of the same UID included: only
hrefs under the organizer's principal are used, so a reply never lands in an attendee's copy.
Network and server errors are transient: the message is retried later.
"""

from __future__ import annotations

import sqlite3
from urllib.parse import unquote

from imip_gateway.addresses import from_calendar_address
from imip_gateway.attendee_copies import user_names
from imip_gateway.caldav_client import CalDAVClient, CalDAVError, PreconditionFailed, _has_uid

from .processor import StoredEvent, TransientError

__all__ = ["CalDAVEvents"]


class CalDAVEvents:
    def __init__(self, client: CalDAVClient, conn: sqlite3.Connection | None = None):
        self.client = client
        self.conn = conn

    @staticmethod
    def _principals(organizer: str) -> list[str]:
        """The organizer's Radicale principals (attendee_copies.user_names: the address, then its
        local part)."""
        return list(user_names(from_calendar_address(organizer)))

    def _known_hrefs(self, uid: str, principals: list[str]) -> list[str]:
        """Hrefs the outbound snapshots know for `uid`, only those under one of `principals`:
        a local attendee's copy of the same UID (their own calendar) is never the organizer's."""
        if self.conn is None:
            return []
        try:
            rows = self.conn.execute("SELECT href FROM snapshots WHERE uid = ? AND href IS NOT NULL",
                                     (uid,)).fetchall()
        except sqlite3.Error:  # outbound tables absent (inbound-only tests)
            return []
        homes = [self.client.path(p).lower() for p in principals]
        return [row[0] for row in rows if unquote(row[0]).lower().startswith(tuple(homes))]

    def find(self, organizer: str, uid: str) -> StoredEvent | None:
        principals = self._principals(organizer)
        try:
            for href in self._known_hrefs(uid, principals):
                found = self.client.get(href)
                if found is not None and _has_uid(found.text, uid):
                    return StoredEvent(found.href, found.etag, found.text)
            for principal in principals:
                found = self._search(principal, uid)
                if found is not None:
                    return found
        except CalDAVError as exc:
            if exc.status is not None and exc.status < 500 and exc.status not in (401, 408, 429):
                raise
            raise TransientError(f"CalDAV: {exc}") from None
        except OSError as exc:
            raise TransientError(f"CalDAV unreachable: {exc}") from None
        return None

    def _search(self, principal: str, uid: str) -> StoredEvent | None:
        """The event with `uid` in one of `principal`'s calendars, or None."""
        try:
            calendars = self.client.list_calendars(principal)
        except CalDAVError as exc:
            if exc.status in (403, 404):
                return None  # no such principal
            raise
        # Most clients name the resource <UID>.ics: one GET instead of a calendar-query,
        # which Radicale answers by reading every item of the collection.
        for calendar in calendars:
            if "/" in uid:
                break
            direct = self.client.get(f"{calendar}{uid}.ics")
            if direct is not None and _has_uid(direct.text, uid):
                return StoredEvent(direct.href, direct.etag, direct.text)
        found = self.client.find_by_uid(uid, calendars)
        if found is None:
            return None
        if not found.etag:  # If-Match needs one: GET gives it
            fresh = self.client.get(found.href)
            return StoredEvent(fresh.href, fresh.etag, fresh.text) if fresh is not None else None
        return StoredEvent(found.href, found.etag, found.text)

    def put(self, event: StoredEvent, text: str) -> bool:
        try:
            self.client.put(event.href, text, etag=event.etag)
        except PreconditionFailed:
            return False
        except CalDAVError as exc:
            if exc.status is not None and exc.status < 500 and exc.status not in (401, 408, 429):
                raise
            raise TransientError(f"CalDAV: {exc}") from None
        except OSError as exc:
            raise TransientError(f"CalDAV unreachable: {exc}") from None
        return True
