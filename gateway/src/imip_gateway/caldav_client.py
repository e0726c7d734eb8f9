"""A small CalDAV client (plain WebDAV over http.client) for what the gateway needs of Radicale.

- find an event by UID in an organizer's calendars (calendar-query REPORT on the UID property);
- GET with ETag, PUT with If-Match; `modify()` re-reads and retries on 412 Precondition Failed,
  so a concurrent edit by the organizer is never overwritten;
- set SCHEDULE-STATUS on one attendee (outbound: a permanent SMTP failure; inbound: DSNs);
- sync-collection (RFC 6578) for reconciliation.

The gateway logs in as its own identity (the invitation account); Radicale's rights give it
read/write on every calendar, and its writes carry that user as the hook's `actor`.
"""

from __future__ import annotations

import base64
import http.client
import logging
import ssl
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import quote, unquote, urlsplit

log = logging.getLogger(__name__)

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
NS = {"d": DAV, "c": CALDAV}
MAX_412_RETRIES = 5


class CalDAVError(Exception):
    """A CalDAV request failed (status and path in the message)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class PreconditionFailed(CalDAVError):
    """412: the resource changed since it was read (If-Match) or exists (If-None-Match)."""


class InvalidSyncToken(CalDAVError):
    """The server no longer knows the sync-token: start over with a full sync."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Resource:
    href: str   # absolute path on the server, e.g. /alice/calendar/event.ics
    etag: str | None
    text: str


@dataclass(frozen=True)
class SyncResult:
    token: str
    changed: list[tuple[str, str | None]]   # (href, etag)
    removed: list[str]                      # hrefs


def _ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    return context


class CalDAVClient:
    def __init__(self, url: str, user: str, password: str, *, ca_file: Path | None = None,
                 timeout: float = 30.0):
        parts = urlsplit(url)
        self.scheme = parts.scheme
        self.host = parts.hostname or ""
        self.port = parts.port
        self.base_path = parts.path if parts.path.endswith("/") else parts.path + "/"
        self.user = user
        self._auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self.ca_file = ca_file
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def __repr__(self) -> str:  # never shows the password
        return f"CalDAVClient({self.scheme}://{self.host}:{self.port}{self.base_path}, user={self.user!r})"

    # ------------------------------------------------------------ transport
    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.scheme == "https":
                self._conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout, context=_ssl_context(self.ca_file))
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, path: str, body: bytes | str | None = None,
                headers: dict[str, str] | None = None) -> Response:
        if isinstance(body, str):
            body = body.encode("utf-8")
        all_headers = {"Authorization": self._auth, "User-Agent": "imip-gateway"}
        all_headers.update(headers or {})
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, quote(path, safe="/@:+%~"), body=body, headers=all_headers)
                raw = conn.getresponse()
                data = raw.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A kept-alive connection the server closed: reconnect once.
                self.close()
                if attempt == 2:
                    raise
                continue
            except OSError:
                self.close()
                raise
            response = Response(raw.status, {k.lower(): v for k, v in raw.getheaders()}, data)
            if raw.getheader("connection", "").lower() == "close":
                self.close()
            log.debug("caldav %s %s -> %s", method, path, response.status)
            return response
        raise AssertionError("unreachable")

    def path(self, *segments: str) -> str:
        """A server path under the base URL: path("alice", "calendar") -> /alice/calendar/."""
        joined = "/".join(s.strip("/") for s in segments if s.strip("/"))
        return self.base_path + (joined + "/" if joined else "")

    @staticmethod
    def _check(response: Response, method: str, path: str, ok: tuple[int, ...]) -> None:
        if response.status in ok:
            return
        if response.status == 412:
            raise PreconditionFailed(f"{method} {path}: 412 Precondition Failed", 412)
        text = response.body[:200].decode("utf-8", "replace").strip()
        raise CalDAVError(f"{method} {path}: HTTP {response.status} {text}".rstrip(), response.status)

    # ------------------------------------------------------------ discovery
    def _propfind(self, path: str, props: str, depth: str = "1") -> list[ET.Element]:
        body = (f'<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:" '
                f'xmlns:c="{CALDAV}"><d:prop>{props}</d:prop></d:propfind>')
        response = self.request("PROPFIND", path, body,
                                {"Depth": depth, "Content-Type": "application/xml; charset=utf-8"})
        self._check(response, "PROPFIND", path, (207,))
        return ET.fromstring(response.body).findall("d:response", NS)

    def list_collections(self, path: str) -> list[tuple[str, set[str]]]:
        """Children of `path` with their resource types, e.g. [("/alice/cal/", {"collection", "calendar"})]."""
        result = []
        for item in self._propfind(path, "<d:resourcetype/>"):
            href = unquote(item.findtext("d:href", "", NS))
            if href.rstrip("/") == path.rstrip("/"):
                continue
            types = set()
            for rt in item.iterfind(".//d:resourcetype", NS):
                for child in rt:
                    types.add(child.tag.rsplit("}", 1)[-1])
            if "collection" in types:
                result.append((href, types))
        return result

    def list_calendars(self, principal: str) -> list[str]:
        """Calendar collections of a principal (`alice` or `/alice/`)."""
        path = principal if principal.startswith("/") else self.path(principal)
        return [href for href, types in self.list_collections(path) if "calendar" in types]

    def list_principals(self) -> list[str]:
        """Principal collections under the base path that the gateway may read."""
        return [href for href, _types in self.list_collections(self.base_path)]

    def make_calendar(self, path: str) -> None:
        """MKCALENDAR: a new calendar collection (201), or the one already there (405)."""
        response = self.request("MKCALENDAR", path)
        self._check(response, "MKCALENDAR", path, (201, 405))

    # ------------------------------------------------------------ items
    def get(self, href: str) -> Resource | None:
        response = self.request("GET", href)
        if response.status == 404:
            return None
        self._check(response, "GET", href, (200,))
        return Resource(href, response.headers.get("etag"), response.body.decode("utf-8"))

    def put(self, href: str, text: str, *, etag: str | None = None, create: bool = False) -> str | None:
        """PUT with If-Match (when etag is given) or If-None-Match: * (create); return the new ETag."""
        headers = {"Content-Type": "text/calendar; charset=utf-8"}
        if etag:
            headers["If-Match"] = etag
        elif create:
            headers["If-None-Match"] = "*"
        response = self.request("PUT", href, text, headers)
        self._check(response, "PUT", href, (200, 201, 204))
        return response.headers.get("etag")

    def delete(self, href: str, *, etag: str | None = None) -> None:
        headers = {"If-Match": etag} if etag else {}
        response = self.request("DELETE", href, None, headers)
        self._check(response, "DELETE", href, (200, 204, 404))

    def find_by_uid(self, uid: str, collections: list[str]) -> Resource | None:
        """The first event with this UID in the given calendar collections, with its ETag."""
        escaped = uid.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        body = (f'<?xml version="1.0" encoding="utf-8"?>'
                f'<c:calendar-query xmlns:d="DAV:" xmlns:c="{CALDAV}">'
                f'<d:prop><d:getetag/><c:calendar-data/></d:prop>'
                f'<c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">'
                f'<c:prop-filter name="UID"><c:text-match collation="i;octet">{escaped}</c:text-match>'
                f'</c:prop-filter></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>')
        for collection in collections:
            response = self.request("REPORT", collection, body,
                                    {"Depth": "1", "Content-Type": "application/xml; charset=utf-8"})
            self._check(response, "REPORT", collection, (207,))
            for item in ET.fromstring(response.body).findall("d:response", NS):
                data = item.findtext(".//c:calendar-data", None, NS)
                if not data:
                    continue
                if not _has_uid(data, uid):
                    continue  # text-match is a substring match
                href = unquote(item.findtext("d:href", "", NS))
                etag = item.findtext(".//d:getetag", None, NS)
                return Resource(href, etag, data)
        return None

    def find_event(self, uid: str, principal: str) -> Resource | None:
        """Find an event by UID in every calendar of `principal` (the organizer's user name)."""
        return self.find_by_uid(uid, self.list_calendars(principal))

    def modify(self, href: str, change: Callable[[str], str | None]) -> str | None:
        """GET, apply `change(text) -> new text | None (no change)`, PUT If-Match; re-read on 412.

        Returns the new text, or None when `change` decided nothing needed changing or the
        resource is gone.
        """
        for attempt in range(1, MAX_412_RETRIES + 1):
            current = self.get(href)
            if current is None:
                return None
            new_text = change(current.text)
            if new_text is None or new_text == current.text:
                return None
            try:
                self.put(href, new_text, etag=current.etag or None)
                return new_text
            except PreconditionFailed:
                log.info("caldav PUT %s: changed meanwhile (412), re-reading (attempt %d)", href, attempt)
                time.sleep(0.05 * attempt)
        raise CalDAVError(f"PUT {href}: still 412 after {MAX_412_RETRIES} re-reads", 412)

    def set_schedule_status(self, href: str, attendee: str, status: str) -> bool:
        """Set SCHEDULE-STATUS=<status> on every ATTENDEE line of `attendee` in the event at href."""
        from imip_gateway.ical import set_attendee_params  # icalendar stays out of the hook's path

        def change(text: str) -> str | None:
            return set_attendee_params(text, attendee, {"SCHEDULE-STATUS": status})
        return self.modify(href, change) is not None

    # ------------------------------------------------------------ sync-collection
    def sync_collection(self, collection: str, token: str | None) -> SyncResult:
        body = (f'<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="DAV:">'
                f'<d:sync-token>{token or ""}</d:sync-token><d:sync-level>1</d:sync-level>'
                f'<d:prop><d:getetag/></d:prop></d:sync-collection>')
        response = self.request("REPORT", collection, body,
                                {"Depth": "1", "Content-Type": "application/xml; charset=utf-8"})
        if response.status in (403, 409) and b"valid-sync-token" in response.body:
            raise InvalidSyncToken(f"REPORT sync-collection {collection}: sync-token no longer valid",
                                   response.status)
        self._check(response, "REPORT sync-collection", collection, (207,))
        root = ET.fromstring(response.body)
        changed, removed = [], []
        for item in root.findall("d:response", NS):
            href = unquote(item.findtext("d:href", "", NS))
            if href.rstrip("/") == collection.rstrip("/"):
                continue
            status = item.findtext("d:status", "", NS)
            if " 404 " in status + " ":
                removed.append(href)
                continue
            if href.endswith("/"):
                continue
            changed.append((href, item.findtext(".//d:getetag", None, NS)))
        new_token = root.findtext("d:sync-token", "", NS)
        return SyncResult(new_token, changed, removed)


def _has_uid(text: str, uid: str) -> bool:
    for line in text.replace("\r\n ", "").replace("\n ", "").splitlines():
        if line.upper().startswith("UID:") and line[4:].strip() == uid:
            return True
    return False
