# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The invitation round trip of the status report (private to imip.server; the modules
roundtrip_organizer and roundtrip_attendee).

The organizer's side speaks CalDAV to the calendar server (create the test event, wait for the
attendee's PARTSTAT, delete it); the attendee's side reads the attendee's mailbox (wait for the
iTIP REQUEST, answer it with an ACCEPTED REPLY, remove the round trip's messages): either a Maildir
on the vantage host, answered through that host's own MTA, or any mailbox the user owns, read over
IMAP and answered through its provider's submission server, as a mail client does. iCalendar is
handled as text (unfolded content lines): the hosts have no iCalendar library, and the round trip
needs only a few properties.

The reply token (in the invitation's Reply-To) never leaves the attendee's side: results show the
token address masked.
"""

from __future__ import annotations

import email
import email.policy
import imaplib
import mailbox
import os
import re
import smtplib
import socket
import ssl
import time
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid

from urllib.error import HTTPError, URLError
from urllib.parse import quote, unquote, urlsplit

from ansible.module_utils.urls import open_url

from ansible_collections.imip.server.plugins.module_utils.status import checks as sc
from ansible_collections.imip.server.plugins.module_utils._names import strip_mailto

# ------------------------------------------------------------------------------ iCalendar text


def unfold(text):
    """Content lines (RFC 5545 3.1): CRLF or LF, a leading space or tab continues the line."""
    return re.sub(r"\r?\n[ \t]", "", text).splitlines()


def stamp(epoch=None):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if epoch is None else epoch))


# The test event's SUMMARY: the gateway's Subject carries it, which is how a search finds the
# round trip's messages in a large mailbox (ImapBox).
SUMMARY = "imip.server status check"


def event(uid, organizer, attendee, start_epoch, summary=SUMMARY):
    """A VEVENT as a calendar client writes it: one hour, the organizer inviting one attendee."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//imip.server//status check//EN", "BEGIN:VEVENT",
             "UID:%s" % uid, "DTSTAMP:%s" % stamp(), "DTSTART:%s" % stamp(start_epoch),
             "DTEND:%s" % stamp(start_epoch + 3600), "SEQUENCE:0", "SUMMARY:%s" % summary,
             "ORGANIZER;CN=imip.server status check:mailto:%s" % organizer,
             "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;ROLE=REQ-PARTICIPANT:mailto:%s" % attendee,
             "END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


def _params(line):
    """(name, {param: value}, value) of one content line."""
    head, dummy, value = line.partition(":")
    while head.count('"') % 2:  # a quoted parameter value holding ':'
        more, dummy, value = value.partition(":")
        head += ":" + more
    parts = head.split(";")
    params = {}
    for part in parts[1:]:
        key, dummy, val = part.partition("=")
        params[key.upper()] = val.strip('"')
    return parts[0].upper(), params, value


def properties(text, component="VEVENT"):
    """[(name, params, value)] of the first component of that type."""
    out, inside = [], False
    for line in unfold(text):
        if line.upper() == "BEGIN:%s" % component:
            inside = True
        elif line.upper() == "END:%s" % component and inside:
            break
        elif inside:
            out.append(_params(line))
    return out


def method(text):
    for line in unfold(text):
        if line.upper().startswith("METHOD:"):
            return line.split(":", 1)[1].strip().upper()
    return None


def partstat(text, attendee):
    """The PARTSTAT of that attendee on the event (None when the attendee is not on it)."""
    for name, params, value in properties(text):
        if name == "ATTENDEE" and strip_mailto(value).lower() == attendee.lower():
            return params.get("PARTSTAT", "NEEDS-ACTION").upper()
    return None


def value_of(props, name):
    for prop, dummy, value in props:
        if prop == name:
            return value
    return None


def mask_token(address):
    """calendar-invites+3f0c...@example.test -> calendar-invites+…@example.test"""
    return re.sub(r"\+[^@]+@", "+\u2026@", address or "")


# ------------------------------------------------------------------------------ CalDAV


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

# ------------------------------------------------------------------------------ the attendee's mailbox


def itip_messages(maildir, uid, suffix=None):
    """[(key, METHOD, message, calendar text)] of the iTIP messages for uid in a Maildir (with
    suffix: also those of every UID ending in it)."""
    if not os.path.isdir(maildir):
        return []
    box = mailbox.Maildir(maildir, factory=None, create=False)
    found = []
    for key in box.keys():
        try:
            with box.get_file(key) as handle:
                message = email.message_from_binary_file(handle, policy=email.policy.default)
        except (OSError, KeyError):
            continue  # moved or removed meanwhile (the owner's client)
        itip = _itip_of(message, uid, suffix)
        if itip:
            found.append((key, itip[0], message, itip[1]))
    return found


def remove(maildir, keys):
    if not keys:
        return
    box = mailbox.Maildir(maildir, factory=None, create=False)
    for key in keys:
        try:
            box.remove(key)
        except KeyError:
            pass


def _itip_of(message, uid, suffix=None):
    """(METHOD, calendar text) of a message's iTIP part for uid (or a UID ending in suffix), or None."""
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            text = part.get_content()
            if any(n == "UID" and (v == uid or (suffix and v.endswith(suffix))) for n, dummy, v in properties(text)):
                return method(text), text
            return None
    return None


class MaildirBox(object):
    """The attendee's Maildir on this host (the vantage host; read and changed as root)."""

    def __init__(self, path):
        self.path = path
        self.where = path

    def messages(self, uid, suffix=None):
        return itip_messages(self.path, uid, suffix)

    def remove(self, keys):
        remove(self.path, keys)

    def close(self):
        pass


class MailboxError(Exception):
    """The attendee's mailbox could not be read (connection, TLS, login, IMAP errors)."""


def tls_context(ca_file=None):
    """Certificates checked against the system's CAs, or ca_file's (a private CA, as in the lab)."""
    return ssl.create_default_context(cafile=ca_file or None)


class _Imap4Tls(imaplib.IMAP4_SSL):
    """IMAP over TLS to an address whose certificate names another host (server_name)."""

    def __init__(self, host, port, ssl_context, timeout, server_name=None):
        self._server_name = server_name or host
        imaplib.IMAP4_SSL.__init__(self, host, port, ssl_context=ssl_context, timeout=timeout)

    def _create_socket(self, timeout):
        sock = imaplib.IMAP4._create_socket(self, timeout)  # pylint: disable=protected-access
        return self.ssl_context.wrap_socket(sock, server_hostname=self._server_name)


class ImapBox(object):
    """The attendee's INBOX at any provider, over IMAP with TLS (port 993), as a mail client reads it.
    Only messages whose Subject names the round trip's event are fetched (SEARCH SUBJECT), so a
    large personal mailbox costs one search; removal flags them \\Deleted and expunges only them
    (UID EXPUNGE, RFC 4315), never what the user deleted without expunging."""

    def __init__(self, host, port, user, password, timeout=10.0, ca_file=None, server_name=None):
        self.where = "the INBOX of %s at %s:%d (IMAP)" % (user, server_name or host, port)
        self._args = (host, port, user, password, timeout, ca_file, server_name)
        self._imap = None
        self.capabilities = set()

    def _connect(self):
        if self._imap is None:
            host, port, user, password, timeout, ca_file, server_name = self._args
            try:
                imap = _Imap4Tls(host, port, tls_context(ca_file), timeout, server_name)
                imap.login(user, password)
                # What the server offers after login (Dovecot names UIDPLUS only then).
                typ, data = imap.capability()
                self.capabilities = set((data[0] or b"").decode().upper().split()) if typ == "OK" else set()
                imap.select("INBOX")
            except (imaplib.IMAP4.error, OSError, ssl.SSLError) as exc:
                raise MailboxError("%s: %s" % (self.where, exc))
            self._imap = imap
        return self._imap

    def _command(self, name, *args):
        try:
            imap = self._connect()
            typ, data = imap.uid(name, *args) if name != "NOOP" else imap.noop()
        except (imaplib.IMAP4.error, OSError) as exc:
            raise MailboxError("%s: %s" % (self.where, exc))
        if typ != "OK":
            raise MailboxError("%s: %s answered %s %r" % (self.where, name, typ, data))
        return data

    def messages(self, uid, suffix=None):
        self._command("NOOP")  # new mail shows after a NOOP in the selected mailbox
        found = self._command("SEARCH", None, "SUBJECT", '"%s"' % SUMMARY)
        keys = (found[0] or b"").split() if found else []
        out = []
        for key in keys:
            data = self._command("FETCH", key, "(BODY.PEEK[])")
            raw = next((item[1] for item in data if isinstance(item, tuple)), None)
            if raw is None:
                continue  # removed meanwhile
            message = email.message_from_bytes(raw, policy=email.policy.default)
            itip = _itip_of(message, uid, suffix)
            if itip:
                out.append((key.decode(), itip[0], message, itip[1]))
        return out

    def remove(self, keys):
        if not keys:
            return
        uids = ",".join(keys)
        self._command("STORE", uids, "+FLAGS.SILENT", "(\\Deleted)")
        if "UIDPLUS" in self.capabilities:
            self._command("EXPUNGE", uids)

    def close(self):
        if self._imap is not None:
            try:
                self._imap.logout()
            except (imaplib.IMAP4.error, OSError):
                pass
            self._imap = None


def mailbox_of(where):
    """A Maildir path (str) or a mailbox object (MaildirBox, ImapBox)."""
    return MaildirBox(where) if isinstance(where, str) else where


def submitter(user, password, ca_file=None, server_name=None):
    """A sender (as send()) through a provider's submission server: port 465 with TLS from the
    start, any other port with STARTTLS; then AUTH as the mailbox's user, as a mail client does."""
    def submit(msg, sender, recipient, host, port, timeout):
        context = tls_context(ca_file)
        if int(port) == 465:
            client = _smtp_connect(smtplib.SMTP_SSL(timeout=timeout, context=context), host, port, server_name)
        else:
            client = _smtp_connect(smtplib.SMTP(timeout=timeout), host, port, server_name)
            client.starttls(context=context)
        with client:
            client.login(user, password)
            client.sendmail(sender, [recipient], msg.as_bytes())
    return submit


def _smtp_connect(client, host, port, server_name=None):
    """Connect an unconnected smtplib client; its certificate is checked against server_name (the
    host may be an address). smtplib passes `_host` as the TLS server name, both for SMTP_SSL and
    for STARTTLS, and sets it only in __init__."""
    client._host = server_name or host  # pylint: disable=protected-access
    client.connect(host, port)
    return client


def reply(request_text, request_message, attendee, answer="ACCEPTED"):  # pylint: disable=too-many-locals
    """(token address, MIME message) answering an iTIP REQUEST as a calendar client does."""
    props = properties(request_text)
    organizer = value_of(props, "ORGANIZER") or ""
    # RFC 6047 clients answer to the ORGANIZER (the gateway puts its token address there).
    to = strip_mailto(organizer) or str(request_message.get("Reply-To") or "").strip().strip("<>")
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//imip.server//status check//EN", "METHOD:REPLY",
             "BEGIN:VEVENT", "UID:%s" % value_of(props, "UID"), "DTSTAMP:%s" % stamp(),
             "SEQUENCE:%s" % (value_of(props, "SEQUENCE") or "0")]
    for name in ("DTSTART", "DTEND", "SUMMARY"):
        for prop, params, value in props:
            if prop == name:
                lines.append("%s%s:%s" % (name, "".join(";%s=%s" % kv for kv in params.items()), value))
    lines += ["ORGANIZER:%s" % organizer, "ATTENDEE;PARTSTAT=%s:mailto:%s" % (answer, attendee), "END:VEVENT", "END:VCALENDAR"]
    calendar = "\r\n".join(lines) + "\r\n"
    msg = MIMEMultipart("alternative")
    msg["From"] = attendee
    msg["To"] = to
    msg["Subject"] = "%s: %s" % (answer.capitalize(), value_of(props, "SUMMARY") or "invitation")
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=attendee.split("@", 1)[1])
    msg.attach(MIMEText("%s has %s the invitation.\n" % (attendee, answer.lower()), "plain", "utf-8"))
    part = MIMEText(calendar, "calendar", "utf-8")
    part.set_param("method", "REPLY")
    msg.attach(part)
    return to, msg


def send(msg, sender, recipient, host, port, timeout):
    """Hand the message to an MTA (the vantage host's own, which looks up our MX)."""
    with smtplib.SMTP(host, port, timeout=timeout) as client:
        client.sendmail(sender, [recipient], msg.as_bytes())


def wait_for(probe, timeout, interval=0.5, clock=time.monotonic, sleep=time.sleep):
    """probe() until it returns something truthy or timeout seconds passed: (result, seconds)."""
    start = clock()
    while True:
        result = probe()
        elapsed = clock() - start
        if result or elapsed >= timeout:
            return result, elapsed
        sleep(interval)


# ------------------------------------------------------------------------------ the steps
# check.yml runs them in four plays, alternating between the calendar host (the organizer's side)
# and the vantage host (the attendee's): invite, answer, await_reply (+ delete the event), cleanup.
# Each returns {"checks": [...], ...}; a check id may come from two steps (a failure first, the
# outcome later): the report keeps the worst.

INVITATION, REPLY, CLEANUP = "roundtrip.invitation", "roundtrip.reply", "roundtrip.cleanup"
AUTHENTICATION = "roundtrip.authentication"
CALENDAR_NAME = "imip.server status check"
UID_SUFFIX = "@status-check.imip.server"
# The round trip's own calendar, removed at the end (another calendar only when the round trip made it).
DEFAULT_CALENDAR = "imip-status-check"
GATEWAY_FIX = "on the calendar host: `imip-gateway status` (the queue and the last SMTP/IMAP error) and `journalctl -u imip-gateway`"


def _line(check_id, status, message, should="", fix=None):
    return sc.check(check_id, sc.ROUNDTRIP, status, message, should, fix)


def _dav_failure(check_id, what, exc, organizer):
    """A CalDAV error as a check: no answer after retries is "?", a refusal is ✖."""
    if exc.timeout or exc.status is None:
        return _line(check_id, sc.UNKNOWN, "could not determine: %s: %s" % (what, exc),
                     fix=["is the calendar server (radicale) running and its port reachable from the calendar host?"])
    fix = ["check the calendar server's log: `journalctl -u radicale`"]
    if exc.status in (401, 403):
        fix = ["%s's CalDAV login was refused: set imip_check_roundtrip_organizer_password to that user's "
               "password (imip_mail_users), or run site.yml if Dovecot's account is out of date" % organizer] + fix
    return _line(check_id, sc.FAIL, "%s failed: %s" % (what, exc),
                 "the organizer %s can write to their own calendars over CalDAV" % organizer, fix)


def with_retries(call, retries):
    """call() again while it gets no answer in time (retries more times)."""
    for attempt in range(int(retries) + 1):
        try:
            return call()
        except CalDavError as exc:
            if not exc.timeout or attempt >= int(retries):
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def invite(dav, organizer, attendee, calendar, retries, uid=None, start_epoch=None, clock=time.time):
    """The organizer's calendar application creates an event with the external attendee."""
    uid = uid or "%s-%s%s" % (stamp(), os.urandom(6).hex(), UID_SUFFIX)
    calendar_path = "%s/%s/" % (organizer, calendar)
    href = calendar_path + uid + ".ics"
    start = start_epoch if start_epoch is not None else int(clock() // 3600 + 25) * 3600  # tomorrow, on the hour
    result = {"uid": uid, "href": None, "calendar": calendar_path, "created_calendar": False, "checks": [],
              "stale_removed": 0}
    try:
        result["created_calendar"] = with_retries(lambda: dav.ensure_calendar(calendar_path, CALENDAR_NAME), retries)
        # Events of an earlier round trip that was interrupted (their CANCEL goes out now).
        for stale in with_retries(lambda: dav.members(calendar_path), retries):
            if stale.endswith(UID_SUFFIX + ".ics"):
                with_retries(lambda: dav.delete(quote(stale)), retries)  # pylint: disable=cell-var-from-loop
                result["stale_removed"] += 1
        with_retries(lambda: dav.put_new(href, event(uid, organizer, attendee, start)), retries)
    except CalDavError as exc:
        result["checks"].append(_dav_failure(INVITATION, "the organizer's PUT of the test event", exc, organizer))
        return result
    result["href"] = href
    result["put_at"] = clock()
    return result


# What the reply goes through, as the checks name it: the vantage host's own MTA (Maildir), or the
# provider's submission server of an IMAP mailbox.
VANTAGE_MTA = "the vantage host's MTA"
SUBMISSION = "the mailbox's submission server"


def _mailbox_failure(check_id, box, exc):
    return _line(check_id, sc.FAIL, "could not read the attendee's mailbox: %s" % exc,
                 "the round trip reads %s" % box.where,
                 ["check imip_check_roundtrip_mailbox (host, port, user, password; ca_file for a private CA): "
                  "a mail client with the same settings must log in"])


def answer(maildir, uid, attendee, timeout, smtp_host="127.0.0.1", smtp_port=25, smtp_timeout=10.0,  # pylint: disable=too-many-arguments,too-many-locals
           wait=None, sender=send, since=None, retries=2, relay=VANTAGE_MTA):
    """The attendee's mail client: wait for the REQUEST, reply ACCEPTED through `relay`.
    maildir: a Maildir path or a mailbox object (mailbox_of). since: when the organizer saved the
    event (epoch), which the delay is counted from."""
    wait = wait or wait_for
    box = mailbox_of(maildir)
    try:
        found, seconds = wait(lambda: [x for x in box.messages(uid) if x[1] == "REQUEST"], timeout)
    except MailboxError as exc:
        return {"request_seconds": 0.0, "replied": False,
                "checks": [_mailbox_failure(INVITATION, box, exc),
                           _line(REPLY, sc.UNKNOWN, "not tried: the attendee's mailbox could not be read")]}
    finally:
        box.close()
    if found and since:
        seconds = max(time.time() - since, 0.0)
    result = {"request_seconds": round(seconds, 2), "replied": False, "checks": []}
    if not found:
        result["checks"].append(_line(
            INVITATION, sc.FAIL, "no invitation reached %s's mailbox within %d s" % (attendee, timeout),
            "the gateway mails an iTIP REQUEST to %s when the organizer saves the event" % attendee,
            [GATEWAY_FIX, "on the mail host: `postqueue -p` (mail held or deferred) and `journalctl -u postfix@-`",
             "the report's account and gateway lines above name a refused login or a stuck queue",
             "on the vantage host: `journalctl -u postfix@-` (did its MX lookup and delivery work?)"
             if relay == VANTAGE_MTA else
             "at the mailbox's provider: the spam or junk folder (the round trip reads the INBOX only)"]))
        result["checks"].append(_line(REPLY, sc.UNKNOWN, "not tried: there was no invitation to answer"))
        return result
    result["arrived_at"] = time.time()
    dummy, dummy2, message, text = found[-1]
    to, msg = reply(text, message, attendee)
    result["checks"].append(_line(
        INVITATION, sc.OK, "the invitation reached %s's mailbox in %.1f s (iTIP REQUEST, replies to %s)"
        % (attendee, seconds, mask_token(to))))
    result["checks"].append(authentication_check(message, to.rpartition("@")[2]))
    try:
        dummy, late = sc.retry(lambda: sender(msg, attendee, to, smtp_host, smtp_port, smtp_timeout), retries)
    except (smtplib.SMTPException, OSError) as exc:
        result["checks"].append(_line(
            REPLY, sc.FAIL, "%s (%s:%d) did not take the reply: %s" % (relay, smtp_host, smtp_port, exc),
            "%s accepts the attendee's reply for %s" % (relay, mask_token(to)), [_relay_fix(relay)]))
        return result
    if late is not None:
        result["checks"].append(_line(
            REPLY, sc.UNKNOWN, "could not determine: %s (%s:%d) did not answer in time, %d times (%s)"
            % (relay, smtp_host, smtp_port, retries + 1, late), fix=[_relay_fix(relay)]))
        return result
    result["replied"] = True
    result["replied_at"] = time.time()
    return result


_AR_RESULT = re.compile(r"^\s*(dkim|spf|dmarc)\s*=\s*([a-z]+)(.*)$", re.IGNORECASE | re.S)
_AR_DOMAIN = re.compile(r"\b(?:header\.d|smtp\.mailfrom|header\.from)\s*=\s*\"?([^\s;\"]+)", re.IGNORECASE)


def provider_verdict(message):
    """(authserv-id, [(method, result, domain)]) of the topmost Authentication-Results header's
    writer - the attendee's provider, which adds it on top when the mail arrives - or (None, [])."""
    headers = [re.sub(r"\([^()]*\)", "", str(v)).replace("\r", " ").replace("\n", " ")
               for v in message.get_all("Authentication-Results") or []]
    if not headers:
        return None, []
    writer = headers[0].split(";", 1)[0].strip().lower()
    results = []
    for header in headers:
        if header.split(";", 1)[0].strip().lower() != writer:
            continue
        for resinfo in header.split(";")[1:]:
            match = _AR_RESULT.match(resinfo)
            if match:
                domain = _AR_DOMAIN.search(match.group(3))
                results.append((match.group(1).lower(), match.group(2).lower(),
                                domain.group(1).rsplit("@", 1)[-1].lower().rstrip(".") if domain else ""))
    return writer, results


def authentication_check(message, domain):
    """What the attendee's provider found when the invitation arrived: a DKIM signature of the
    site's domain that verifies (big providers put unsigned mail from small senders in spam) and,
    when the provider judges DMARC, dmarc=pass (a fail is what gets mail quarantined or refused)."""
    writer, results = provider_verdict(message)
    found = ", ".join("%s=%s%s" % (m, r, " (%s)" % d if d else "") for m, r, d in results)
    should = ("the attendee's provider verifies the invitation's DKIM signature for %s (dkim=pass) and "
              "its DMARC passes (dmarc=pass)" % domain)
    if writer is None:
        return _line(AUTHENTICATION, sc.UNKNOWN, "could not determine: the attendee's provider wrote no "
                     "Authentication-Results on the invitation", should)
    if not any(m == "dkim" and r == "pass" and (d == domain or d.endswith("." + domain)) for m, r, d in results):
        return _line(AUTHENTICATION, sc.FAIL, "%s found no valid DKIM signature for %s on the invitation: %s"
                     % (writer, domain, found or "no results"), should,
                     ["the mail role signs what the gateway submits (imip_mail_dkim_enabled): on the mail host "
                      "`systemctl status dkimpy-milter` and `journalctl -u dkimpy-milter`",
                      "the report's DNS line for <selector>._domainkey.%s says whether the key is published" % domain])
    dmarc = [r for m, r, d in results if m == "dmarc"]
    if dmarc and "pass" not in dmarc:
        return _line(AUTHENTICATION, sc.FAIL, "%s found a valid DKIM signature for %s but DMARC did not pass: %s"
                     % (writer, domain, found), should,
                     ["the report's DNS line for _dmarc.%s shows the published policy; a signature passes DMARC only "
                      "when its d= is %s or a subdomain and the From of the invitation is in %s" % (domain, domain, domain),
                      "dmarc=temperror or permerror: the provider could not read the DMARC record (the DNS lines)"])
    return _line(AUTHENTICATION, sc.OK, "%s verified the invitation: %s" % (writer, found))


def _relay_fix(relay):
    if relay == VANTAGE_MTA:
        return "on the vantage host: `systemctl status postfix` and `journalctl -u postfix@-`"
    return ("check imip_check_roundtrip_mailbox's smtp_host and smtp_port (587 with STARTTLS or 465 with TLS) and "
            "that a mail client with the same user and password can send")


def await_reply(dav, href, organizer, attendee, timeout, retries, wait=None, since=None):
    """The organizer's event shows the attendee's PARTSTAT=ACCEPTED (read over CalDAV):
    (check, the time it was seen or None). since: when the reply was sent (epoch)."""
    wait = wait or wait_for
    seen = {"partstat": None, "error": None}

    def accepted():
        try:
            seen["partstat"] = partstat(with_retries(lambda: dav.get(href), retries), attendee)
            seen["error"] = None
        except CalDavError as exc:
            seen["error"] = exc
            return False
        return seen["partstat"] == "ACCEPTED"

    done, seconds = wait(accepted, timeout)
    if done and since:
        seconds = max(time.time() - since, 0.0)
    if done:
        return _line(REPLY, sc.OK, "%s's ACCEPTED reply shows on %s's event (PARTSTAT=ACCEPTED) %.1f s after it was sent"
                     % (attendee, organizer, seconds)), time.time()
    if seen["error"] is not None:
        return _dav_failure(REPLY, "reading the organizer's event", seen["error"], organizer), None
    return _line(
        REPLY, sc.FAIL, "%s's event still shows PARTSTAT=%s for %s %d s after the reply was sent"
        % (organizer, seen["partstat"] or "(no such attendee)", attendee, timeout),
        "the gateway reads the reply over IMAP and writes PARTSTAT=ACCEPTED on the organizer's event",
        [GATEWAY_FIX + " (inbound: the last IMAP login, rejected replies and why)",
         "on the mail host: `postqueue -p` and `journalctl -u postgrey` (a greylisted reply waits; the invitation "
         "address must be whitelisted)",
         "on the vantage host: `postqueue -p` (a reply it could not deliver to the MX)"]), None


def remove_test_event(dav, invited, retries):
    """Delete the test event (the gateway then mails a CANCEL) and the calendar if we made it."""
    out = {"deleted": False, "error": ""}
    try:
        if invited.get("href"):
            with_retries(lambda: dav.delete(invited["href"]), retries)
            out["deleted"] = True
            out["deleted_at"] = time.time()
        own = invited.get("calendar", "").rstrip("/").endswith("/" + DEFAULT_CALENDAR)
        if invited.get("created_calendar") or (own and invited.get("href")):
            with_retries(lambda: dav.delete(invited["calendar"]), retries)
    except CalDavError as exc:
        out["error"] = str(exc)
    return out


def cleanup(maildir, uid, attendee, removal, timeout, expect_cancel=True, wait=None):
    """The attendee's side of the cleanup: the CANCEL of the deleted event arrives (when the
    invitation did), and every round-trip message for uid leaves the mailbox.
    removal: remove_test_event()'s result."""
    wait = wait or wait_for
    box = mailbox_of(maildir)
    try:
        return _cleanup(box, uid, attendee, removal, timeout, expect_cancel, wait)
    except MailboxError as exc:
        return _mailbox_failure(CLEANUP, box, exc)
    finally:
        box.close()


def _cleanup(box, uid, attendee, removal, timeout, expect_cancel, wait):  # pylint: disable=too-many-arguments
    fix = []
    cancel_seconds = None
    if removal.get("error"):
        fix.append("delete the event %s from the organizer's calendar by hand (%s)" % (uid, removal["error"]))
    elif removal.get("deleted") and expect_cancel:
        cancelled, cancel_seconds = wait(
            lambda: [x for x in box.messages(uid) if x[1] == "CANCEL"], timeout)
        if cancelled and removal.get("deleted_at"):
            cancel_seconds = max(time.time() - removal["deleted_at"], 0.0)
        if not cancelled:
            fix.append(GATEWAY_FIX + ": the deleted event's CANCEL did not reach %s within %d s" % (attendee, timeout))
            cancel_seconds = None
    keys = [x[0] for x in box.messages(uid, suffix=UID_SUFFIX)]
    box.remove(keys)
    left = box.messages(uid)
    if left:
        fix.append("remove the round trip's messages (UID %s) from %s by hand" % (uid, box.where))
    if fix:
        return _line(CLEANUP, sc.FAIL, "the round trip did not clean up after itself", "the test event deleted, its "
                     "CANCEL delivered to the attendee, and the round trip's messages removed", fix)
    if not removal.get("deleted"):
        return _line(CLEANUP, sc.OK, "no test event was left; %d round-trip message(s) removed from %s's mailbox"
                     % (len(keys), attendee))
    if cancel_seconds is None:
        return _line(CLEANUP, sc.OK, "the test event was deleted (no CANCEL expected: the invitation had not arrived); "
                     "%d round-trip message(s) removed from %s's mailbox" % (len(keys), attendee))
    # Most of that time is the gateway's own wait: it holds a deleted event's CANCEL for half a minute
    # in case the delete was half of a move to another calendar (docs/gateway.md).
    return _line(CLEANUP, sc.OK, "the test event was deleted, its CANCEL reached %s in %.1f s (the gateway holds a "
                 "deleted event's CANCEL for a while in case the event was moved), and the round trip's "
                 "%d message(s) were removed from the mailbox" % (attendee, cancel_seconds, len(keys)))
