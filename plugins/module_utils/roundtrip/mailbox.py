# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The attendee's mailbox (private to imip.server; the round trip's attendee steps).

Either a Maildir on the vantage host (MaildirBox; read and changed as root) or any mailbox the
user owns, read over IMAP with TLS as a mail client does (ImapBox); both find the iTIP messages
of one event UID and remove the round trip's own messages only. MailboxError: it could not be
read.
"""

from __future__ import annotations

import email
import email.policy
import imaplib
import mailbox
import os
import ssl

from ansible_collections.imip.server.plugins.module_utils.roundtrip.ical import SUMMARY, method, properties


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
