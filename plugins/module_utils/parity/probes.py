# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Live logins: does the SMTP or IMAP server accept this password now? (private to imip.server)

Each login answers True (accepted), False (rejected), or raises ProbeError for anything else
(cannot connect, TLS, a temporary failure), so that "the server is down" is never reported as
"the password is wrong". Text that comes from the server or the network stack is masked
before it enters a message: a server may echo what it was sent.
"""

from __future__ import annotations

import base64
import imaplib
import os
import smtplib
import socket
import ssl

from ansible_collections.imip.server.plugins.module_utils._fileio import os_reason

MASK = "********"


class ProbeError(Exception):
    """The login could not be decided; the message names protocol, host and port."""


class Endpoint(object):
    """Where and how to log in."""

    def __init__(self, protocol, host, port, security, username, timeout, validate_certs=True, ca_path=None):
        self.protocol, self.host, self.port, self.security = protocol, host, port, security
        self.username, self.timeout = username, timeout
        self.validate_certs, self.ca_path = validate_certs, ca_path

    def __str__(self):
        return "%s %s:%d" % (self.protocol, self.host, self.port)

    def ssl_context(self):
        if self.security == "none":
            return None
        if self.validate_certs:
            return ssl.create_default_context(cafile=_file_or_none(self.ca_path), capath=_dir_or_none(self.ca_path))
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context

    def error(self, what, exc, secret):
        """A ProbeError for `exc`, with the server's or the OS's words masked."""
        if isinstance(exc, str):
            reason = exc
        else:
            reason = os_reason(exc) if isinstance(exc, OSError) else str(exc)
            if isinstance(exc, (socket.timeout, TimeoutError)) and not reason:
                reason = "timed out"
            reason = reason or type(exc).__name__
        return ProbeError("%s: %s: %s" % (self, what, scrub(reason, secret)))


def _forms(secret):
    """The ways an echoed secret can read once a client library has decoded the reply.

    imaplib decodes replies as ASCII with U+FFFD for every other byte; other code shows bytes
    escaped (\\xc3\\xa4) or as Latin-1; replies are shown with runs of white space folded.
    Longest first, so that no part of a longer form is left over.
    """
    raw = secret.encode("utf-8")
    forms = set([secret, raw.decode("ascii", "replace"), raw.decode("latin-1"), raw.decode("ascii", "backslashreplace")])
    forms |= set(" ".join(form.split()) for form in list(forms))
    return sorted((form for form in forms if form), key=len, reverse=True)


def scrub(text, secret):
    """Mask `secret` in text that came from outside (a server reply, an exception).

    Only foreign text is scrubbed: masking our own wording would itself reveal that the secret
    is a substring of it. Replies are shown on one line (runs of white space folded).
    """
    if secret:
        for form in _forms(secret):
            text = text.replace(form, MASK)
        text = " ".join(text.split())
        for form in _forms(secret):
            text = text.replace(form, MASK)
    return " ".join(text.split())


def _file_or_none(path):
    return path if path and os.path.isfile(path) else None


def _dir_or_none(path):
    return path if path and os.path.isdir(path) else None


def _b64(data):
    return base64.b64encode(data).decode("ascii")


def _is_ascii(text):
    try:
        text.encode("ascii")
        return True
    except UnicodeEncodeError:
        return False


def _reply_text(reply):
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return str(reply)


def smtp_login(endpoint, secret):
    """True when the server accepts AUTH, False when it rejects it (535); ProbeError otherwise.

    smtplib's own login() encodes credentials as ASCII; AUTH PLAIN / LOGIN are done here with
    UTF-8 (RFC 4616), so non-ASCII passwords work.
    """
    context = endpoint.ssl_context()
    try:
        if endpoint.security == "tls":
            conn = smtplib.SMTP_SSL(endpoint.host, endpoint.port, timeout=endpoint.timeout, context=context)
        else:
            conn = smtplib.SMTP(endpoint.host, endpoint.port, timeout=endpoint.timeout)
    except (OSError, smtplib.SMTPException) as exc:
        raise endpoint.error("cannot connect", exc, secret)
    try:
        try:
            conn.ehlo()
            if endpoint.security == "starttls":
                conn.starttls(context=context)
                conn.ehlo()
        except (OSError, smtplib.SMTPException) as exc:
            raise endpoint.error("STARTTLS failed" if endpoint.security == "starttls" else "EHLO failed", exc, secret)
        mechanisms = conn.esmtp_features.get("auth", "").upper().split()
        user, password = endpoint.username.encode("utf-8"), secret.encode("utf-8")
        try:
            if "PLAIN" in mechanisms:
                code, reply = conn.docmd("AUTH", "PLAIN " + _b64(b"\0" + user + b"\0" + password))
            elif "LOGIN" in mechanisms:
                code, reply = conn.docmd("AUTH", "LOGIN " + _b64(user))
                if code == 334:
                    code, reply = conn.docmd(_b64(password))
            else:
                raise ProbeError("%s: the server offers no AUTH PLAIN or LOGIN over this connection (security: %s)"
                                 % (endpoint, endpoint.security))
        except (OSError, smtplib.SMTPException) as exc:
            raise endpoint.error("AUTH failed", exc, secret)
    finally:
        try:
            conn.quit()
        except (OSError, smtplib.SMTPException):
            conn.close()
    if code == 235:
        return True
    if code == 535:
        return False
    raise endpoint.error("AUTH answered %d" % code, _reply_text(reply), secret)


def imap_login(endpoint, secret):
    """True when LOGIN succeeds, False when the server says NO; ProbeError otherwise."""
    context = endpoint.ssl_context()
    try:
        if endpoint.security == "tls":
            conn = imaplib.IMAP4_SSL(endpoint.host, endpoint.port, ssl_context=context, timeout=endpoint.timeout)
        else:
            conn = imaplib.IMAP4(endpoint.host, endpoint.port, timeout=endpoint.timeout)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise endpoint.error("cannot connect", exc, secret)
    try:
        try:
            if endpoint.security == "starttls":
                conn.starttls(ssl_context=context)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise endpoint.error("STARTTLS failed", exc, secret)
        if "LOGINDISABLED" in conn.capabilities:
            raise ProbeError("%s: the server disables LOGIN over this connection (security: %s)"
                             % (endpoint, endpoint.security))
        try:
            if _is_ascii(secret) and _is_ascii(endpoint.username):
                conn.login(endpoint.username, secret)
            else:
                # imaplib sends commands as ASCII; AUTHENTICATE PLAIN carries UTF-8.
                token = b"\0" + endpoint.username.encode("utf-8") + b"\0" + secret.encode("utf-8")
                conn.authenticate("PLAIN", lambda _challenge: token)
            return True
        except imaplib.IMAP4.abort as exc:
            raise endpoint.error("connection lost during LOGIN", exc, secret)
        except imaplib.IMAP4.error:
            return False
        except OSError as exc:
            raise endpoint.error("LOGIN failed", exc, secret)
    finally:
        try:
            conn.logout()
        except (OSError, imaplib.IMAP4.error):
            pass


LOGINS = {"SMTP": smtp_login, "IMAP": imap_login}
