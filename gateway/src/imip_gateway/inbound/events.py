"""The organizer's events, read and written through imip_gateway.caldav_client.

Where an event lives: Radicale users are the mail accounts (Dovecot logins such as
alice@example.test), so the organizer's address is the principal; the outbound half's
snapshot table also knows the collection of every event it has seen (a calendar shared into
another principal). Network and server errors are transient: the message is retried later.
"""

from __future__ import annotations

import sqlite3

from imip_gateway.caldav_client import CalDAVClient, CalDAVError, PreconditionFailed, _has_uid

from .ical import cal_address
from .processor import StoredEvent, TransientError

__all__ = ["CalDAVEvents"]


class CalDAVEvents:
    def __init__(self, client: CalDAVClient, conn: sqlite3.Connection | None = None):
        self.client = client
        self.conn = conn

    def _known_hrefs(self, uid: str) -> list[str]:
        if self.conn is None:
            return []
        try:
            rows = self.conn.execute("SELECT href FROM snapshots WHERE uid = ? AND href IS NOT NULL",
                                     (uid,)).fetchall()
        except sqlite3.Error:  # outbound tables absent (inbound-only tests)
            return []
        return [row[0] for row in rows]

    def find(self, organizer: str, uid: str) -> StoredEvent | None:
        address = cal_address(organizer)
        try:
            for href in self._known_hrefs(uid):
                found = self.client.get(href)
                if found is not None:
                    return StoredEvent(found.href, found.etag, found.text)
            principals = [address]
            local = address.split("@", 1)[0]
            if local and local != address:
                principals.append(local)
            for principal in principals:
                try:
                    calendars = self.client.list_calendars(principal)
                except CalDAVError as exc:
                    if exc.status in (403, 404):
                        continue  # no such principal
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
                if found is not None:
                    etag = found.etag
                    if not etag:  # If-Match needs one: GET gives it
                        fresh = self.client.get(found.href)
                        if fresh is None:
                            continue
                        return StoredEvent(fresh.href, fresh.etag, fresh.text)
                    return StoredEvent(found.href, etag, found.text)
        except CalDAVError as exc:
            if exc.status is not None and exc.status < 500 and exc.status not in (401, 408, 429):
                raise
            raise TransientError(f"CalDAV: {exc}") from None
        except OSError as exc:
            raise TransientError(f"CalDAV unreachable: {exc}") from None
        return None

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
