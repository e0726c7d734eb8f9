# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The probes' own protocol code against tiny line-based servers on 127.0.0.1.

These servers speak just enough SMTP (RFC 5321 + AUTH, RFC 4954) and IMAP (RFC 9051 LOGIN,
AUTHENTICATE PLAIN) to answer our client: they prove how the probe encodes credentials
(UTF-8 AUTH PLAIN, AUTH LOGIN, quoted LOGIN) and how it classifies accept / reject / other
replies. TLS and real Postfix/Dovecot behaviour are proved by the Molecule scenario `parity`.
"""

from __future__ import annotations

import base64
import socketserver
import threading

import pytest

from ansible_collections.imip.server.plugins.module_utils import _parity as p

from ..conftest import OTHER
from .test_dovecot_hash import PASSWORD

USER = "calendar-invites@example.test"


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def _serve(handler, **attrs):
    server = _Server(("127.0.0.1", 0), handler)
    for key, value in attrs.items():
        setattr(server, key, value)
    server.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class SmtpHandler(socketserver.StreamRequestHandler):
    def send(self, line):
        self.wfile.write(line.encode("ascii") + b"\r\n")

    def check(self, user, password):
        self.server.seen.append((user, password))
        if self.server.auth_code != 235:
            return self.send("%d 4.7.0 Temporary authentication failure" % self.server.auth_code)
        ok = user == USER.encode("utf-8") and password == PASSWORD.encode("utf-8")
        self.send("235 2.7.0 Authentication successful" if ok else "535 5.7.8 Error: authentication failed: x")

    def handle(self):
        self.send("220 mail.example.test ESMTP")
        while True:
            line = self.rfile.readline().decode("ascii").strip()
            if not line:
                return
            verb = line.split(" ")[0].upper()
            if verb == "EHLO":
                self.send("250-mail.example.test")
                self.send("250 AUTH %s" % self.server.mechanisms if self.server.mechanisms else "250 8BITMIME")
            elif verb == "AUTH" and line.split(" ")[1].upper() == "PLAIN":
                _authzid, user, password = base64.b64decode(line.split(" ")[2]).split(b"\0")
                self.check(user, password)
            elif verb == "AUTH" and line.split(" ")[1].upper() == "LOGIN":
                user = base64.b64decode(line.split(" ")[2])
                self.send("334 UGFzc3dvcmQ6")
                password = base64.b64decode(self.rfile.readline().strip())
                self.check(user, password)
            elif verb == "QUIT":
                self.send("221 2.0.0 Bye")
                return
            else:
                self.send("502 5.5.2 Error: command not recognized")


class ImapHandler(socketserver.StreamRequestHandler):
    def send(self, line):
        self.wfile.write(line.encode("utf-8") + b"\r\n")

    def handle(self):
        self.send("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN%s] ready" % self.server.extra_caps)
        while True:
            line = self.rfile.readline().decode("utf-8").rstrip("\r\n")
            if not line:
                return
            tag, command = line.split(" ", 2)[:2]
            command = command.upper()
            if command == "CAPABILITY":
                self.send("* CAPABILITY IMAP4rev1 AUTH=PLAIN%s" % self.server.extra_caps)
                self.send("%s OK Capability completed." % tag)
            elif command == "LOGIN":
                # LOGIN "user" "password" with imaplib's quoting (\\ and \")
                args = line.split(" ", 2)[2]
                user, password = _parse_quoted(args)
                self.reply(tag, user.encode("utf-8"), password.encode("utf-8"), "LOGIN")
            elif command == "AUTHENTICATE":
                self.send("+ ")
                _authzid, user, password = base64.b64decode(self.rfile.readline().strip()).split(b"\0")
                self.reply(tag, user, password, "AUTHENTICATE")
            elif command == "LOGOUT":
                self.send("* BYE Logging out")
                self.send("%s OK Logout completed." % tag)
                return
            else:
                self.send("%s BAD Error in IMAP command" % tag)

    def reply(self, tag, user, password, how):
        self.server.seen.append((how, user, password))
        if user == USER.encode("utf-8") and password == PASSWORD.encode("utf-8"):
            self.send("%s OK Logged in" % tag)
        else:
            self.send("%s NO [AUTHENTICATIONFAILED] Authentication failed." % tag)


def _parse_quoted(args):
    out, current, quoted, escape = [], "", False, False
    for char in args:
        if escape:
            current += char
            escape = False
        elif char == "\\":
            escape = True
        elif char == '"':
            quoted = not quoted
            if not quoted:
                out.append(current)
                current = ""
        elif quoted or char != " ":
            current += char
        elif current:  # a space ends an unquoted atom
            out.append(current)
            current = ""
    if current:
        out.append(current)
    return out


def _probe(kind, port, **kw):
    spec = dict((k, None) for k in p.STORE_OPTIONS)
    spec.update(name="live", type=kind, host="127.0.0.1", port=port, username=USER, security="none", timeout=5, **kw)
    return p.build_stores([spec])[0]


@pytest.mark.parametrize("mechanisms", ["PLAIN LOGIN", "LOGIN"])
def test_smtp_accepts_and_rejects(mechanisms):
    server = _serve(SmtpHandler, mechanisms=mechanisms, auth_code=235)
    try:
        probe = _probe("probe_smtp", server.server_address[1])
        assert probe.holds(PASSWORD) is True   # non-ASCII, UTF-8 on the wire
        assert probe.holds(OTHER) is False
        assert server.seen == [(USER.encode("utf-8"), PASSWORD.encode("utf-8")), (USER.encode("utf-8"), OTHER.encode("utf-8"))]
    finally:
        server.shutdown()
        server.server_close()


def test_smtp_temporary_failure_and_no_auth_are_errors_not_drift():
    server = _serve(SmtpHandler, mechanisms="PLAIN", auth_code=454)
    nothing = _serve(SmtpHandler, mechanisms="", auth_code=235)
    try:
        with pytest.raises(p.StoreError, match=r"SMTP 127.0.0.1:\d+: AUTH answered 454 4.7.0 Temporary authentication failure"):
            _probe("probe_smtp", server.server_address[1]).holds(PASSWORD)
        with pytest.raises(p.StoreError, match=r"offers no AUTH PLAIN or LOGIN over this connection \(security: none\)"):
            _probe("probe_smtp", nothing.server_address[1]).holds(PASSWORD)
    finally:
        for s in (server, nothing):
            s.shutdown()
            s.server_close()


def test_smtp_starttls_not_offered_is_an_error():
    server = _serve(SmtpHandler, mechanisms="PLAIN", auth_code=235)
    try:
        probe = _probe("probe_smtp", server.server_address[1])
        probe.security = "starttls"
        with pytest.raises(p.StoreError, match=r"SMTP 127.0.0.1:\d+: STARTTLS failed: STARTTLS extension not supported by server"):
            probe.holds(PASSWORD)
    finally:
        server.shutdown()
        server.server_close()


def test_imap_login_ascii_and_authenticate_plain_for_utf8():
    server = _serve(ImapHandler, extra_caps="")
    try:
        probe = _probe("probe_imap", server.server_address[1])
        assert probe.holds(PASSWORD) is True      # non-ASCII: AUTHENTICATE PLAIN
        assert probe.holds(OTHER) is False        # ASCII: LOGIN
        assert probe.holds('we"ird\\pass') is False
        assert [s[0] for s in server.seen] == ["AUTHENTICATE", "LOGIN", "LOGIN"]
        assert server.seen[2][2] == b'we"ird\\pass', "LOGIN quoting round-trips"
    finally:
        server.shutdown()
        server.server_close()


def test_imap_logindisabled_is_an_error():
    server = _serve(ImapHandler, extra_caps=" LOGINDISABLED")
    try:
        with pytest.raises(p.StoreError, match=r"IMAP 127.0.0.1:\d+: the server disables LOGIN over this connection"):
            _probe("probe_imap", server.server_address[1]).holds(OTHER)
    finally:
        server.shutdown()
        server.server_close()


def test_audit_probe_joins_the_group_whose_value_logs_in(tmp_path):
    server = _serve(SmtpHandler, mechanisms="PLAIN", auth_code=235)
    try:
        def audit(values):
            specs = []
            for name, value in values:
                (tmp_path / name).write_text(value)
                specs.append(dict((k, None) for k in p.STORE_OPTIONS))
                specs[-1].update(name=name, type="file", path=str(tmp_path / name))
            probe = dict((k, None) for k in p.STORE_OPTIONS)
            probe.update(name="live", type="probe_smtp", host="127.0.0.1", port=server.server_address[1],
                         username=USER, security="none", timeout=5)
            return p.run(p.build_stores(specs + [probe]))[0]

        result = audit([("a", PASSWORD), ("b", PASSWORD), ("c", OTHER)])
        assert result["groups"] == [["a", "b", "live"], ["c"]] and result["drifted"] == ["c"]
        assert len(server.seen) == 1, "the most common value is tried first"
        # the live service accepts the minority's value: 2 against 2, no group is presumed right
        result = audit([("a", OTHER), ("b", OTHER), ("c", PASSWORD)])
        assert result["groups"] == [["a", "b"], ["c", "live"]]
        assert result["drifted"] == ["a", "b", "c", "live"] and result["in_parity"] is False
    finally:
        server.shutdown()
        server.server_close()
