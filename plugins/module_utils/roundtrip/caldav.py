# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The organizer's CalDAV client (private to imip.server; the round trip's organizer steps).

CalDav makes requests as one user (Basic authentication over verified TLS) with Ansible's
open_url: MKCALENDAR, PROPFIND, PUT without overwriting, GET, DELETE; CalDavError says which
request failed and whether the server answered at all; with_retries() asks again only when it
did not answer in time.
"""

from __future__ import annotations

import re
import socket

from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlsplit

from ansible.module_utils.urls import open_url


class CalDavError(Exception):
    """A CalDAV request failed; the message says which and the server's status (status None:
    no answer)."""

    def __init__(self, message, status=None, timeout=False):
        super(CalDavError, self).__init__(message)
        self.status = status
        self.timeout = timeout


class CalDav(object):
    """Requests as one user, with Basic authentication over TLS verified by the host's trust
    store (or ca_file). The password stays in this object: never in a message or result."""

    def __init__(self, base_url, user, password, timeout=10.0, ca_file=None, opener=open_url):
        self.base = base_url.rstrip("/") + "/"
        self.user = user
        self._password = password
        self.timeout = timeout
        self.ca_file = ca_file
        self._open = opener

    def url(self, path):
        """A path relative to the base URL, or an absolute one (a server's href) on the same server."""
        if path.startswith("/"):
            parts = urlsplit(self.base)
            return "%s://%s%s" % (parts.scheme, parts.netloc, path)
        return self.base + path

    def request(self, verb, path, body=None, headers=None, ok=(200, 201, 204, 207)):
        """(status, body text, ETag); CalDavError for another status or no answer."""
        url = self.url(path)
        data = body.encode("utf-8") if isinstance(body, str) else body
        try:
            resp = self._open(url, data=data, headers=headers or {}, method=verb, timeout=self.timeout,
                              validate_certs=True, ca_path=self.ca_file, url_username=self.user,
                              url_password=self._password, force_basic_auth=True, follow_redirects="none")
            try:
                return resp.getcode(), resp.read().decode("utf-8", "replace"), resp.headers.get("ETag")
            finally:
                resp.close()
        except HTTPError as exc:
            if exc.code in ok:
                return exc.code, exc.read().decode("utf-8", "replace"), exc.headers.get("ETag")
            raise CalDavError("%s %s answered %d %s" % (verb, url, exc.code, exc.reason), status=exc.code)
        except (URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CalDavError("%s %s: no answer (%s)" % (verb, url, reason),
                              timeout=is_timeout(reason) or is_timeout(exc))

    def ensure_calendar(self, path, name):
        """Create the calendar collection unless it exists; True when it was created."""
        body = ('<?xml version="1.0" encoding="utf-8"?><C:mkcalendar xmlns:D="DAV:" '
                'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:displayname>%s</D:displayname>'
                '</D:prop></D:set></C:mkcalendar>' % name)
        status = self.request("MKCALENDAR", path, body, {"Content-Type": "application/xml; charset=utf-8"},
                              ok=(201, 405, 409))[0]
        return status == 201

    def members(self, path):
        """The hrefs of a collection's members (PROPFIND, Depth 1); [] when it does not exist."""
        body = '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>'
        status, text, dummy = self.request("PROPFIND", path, body, {"Depth": "1", "Content-Type": "application/xml; charset=utf-8"},
                                           ok=(207, 404))
        if status == 404:
            return []
        hrefs = re.findall(r"<(?:[A-Za-z]+:)?href>([^<]+)</(?:[A-Za-z]+:)?href>", text)
        return [unquote(urlsplit(h).path) for h in hrefs if not h.endswith("/")]

    def put_new(self, path, ics):
        """PUT that refuses to overwrite (If-None-Match: *)."""
        return self.request("PUT", path, ics, {"Content-Type": "text/calendar; charset=utf-8",
                                               "If-None-Match": "*"})[2]

    def get(self, path):
        return self.request("GET", path)[1]

    def delete(self, path):
        """True when it was there (404: already gone)."""
        return self.request("DELETE", path, ok=(200, 204, 404))[0] != 404


def is_timeout(exc):
    return isinstance(exc, (socket.timeout, TimeoutError)) or "timed out" in str(exc)


def with_retries(call, retries):
    """call() again while it gets no answer in time (retries more times)."""
    for attempt in range(int(retries) + 1):
        try:
            return call()
        except CalDavError as exc:
            if not exc.timeout or attempt >= int(retries):
                raise
    raise AssertionError("unreachable")  # pragma: no cover
