# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test data and helpers shared by the unit tests of the parity modules and their module_utils, and
the one fake SMTP server (SmtpHandler) of every unit test that talks SMTP.

One module, so that test modules never import each other. Fixtures (`site`, `run_module`) are
in conftest.py and use what is defined here.
"""

from __future__ import annotations

import base64
import os
import re
import socket
import socketserver
import ssl
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from ansible_collections.imip.server.plugins.module_utils import _dovecot_hash as dh
from ansible_collections.imip.server.plugins.module_utils import _keychain as kc
from ansible_collections.imip.server.plugins.module_utils.parity import engine as p

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _fixture_password():
    script = (FIXTURES / "make-doveadm-hashes.sh").read_text(encoding="utf-8")
    return re.search(r"^PASSWORD='([^']*)'$", script, re.M).group(1)


def _fixture_hashes():
    rows = {}
    for line in (FIXTURES / "doveadm-hashes.txt").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            scheme, field = line.split(" ", 1)
            rows[scheme] = field
    return rows


# The password of the real `doveadm pw` hashes in tests/unit/fixtures (non-ASCII, with ':').
PASSWORD = _fixture_password()
DOVEADM = _fixture_hashes()
OTHER = "Stale-Password-7"
NEW = "Brand-New-Password-8"
USER = "calendar-invites@example.test"

GATEWAY_INI = """\
# iMIP gateway configuration
; managed by hand

[smtp]
host = mail.example.test
port: 587
Password = {smtp}
# the imap password follows
[imap]
host=mail.example.test
password={imap}
timeout = 30

[caldav]
password = unrelated = value : kept
"""


def spec(**kw):
    """A store spec as AnsibleModule hands it over: every option present, None when not given."""
    full = dict((k, None) for k in p.STORE_OPTIONS)
    full.update(kw)
    return full


def run(specs, secret=None, rewrite=False, check_mode=False, context=None, insecure_files="warn"):
    """The engine over `specs`: (result, diffs, warnings)."""
    stores = p.build_stores([spec(**s) for s in specs], context or {})
    return p.run(stores, secret=secret, rewrite=rewrite, check_mode=check_mode, insecure_files=insecure_files)


def by_name(result):
    return dict((s["name"], s) for s in result["stores"])


def snapshot(directory):
    """Every file under `directory`: bytes, mtime and mode (to prove nothing was written)."""
    return dict((str(f), (f.read_bytes(), os.stat(f).st_mtime_ns, stat.S_IMODE(os.stat(f).st_mode)))
                for f in Path(directory).rglob("*") if f.is_file() and not f.is_symlink())


def closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def hash_parts(text):
    """Every {SCHEME}hash field, and the salt/digest pieces inside it, found in `text`
    (not the scheme names, which messages list as the supported ones)."""
    parts = set()
    for field in re.findall(r"\{[A-Z0-9-]+\}[^:\n]+", text):
        parts.add(field)
        parts.update(piece for piece in re.split(r"[${},=]", field)
                     if len(piece) >= 8 and piece not in dh.supported_verify())
    return parts


# --- systemd-creds ----------------------------------------------------------------------------

def run_subprocess(argv, data=None):
    """The runner interface of _keychain over subprocess (modules use AnsibleModule.run_command)."""
    proc = subprocess.run(argv, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    return proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace")


def _systemd_creds_works():
    binary = kc.find_systemd_creds()
    if not binary:
        return False
    proc = subprocess.run([binary, "encrypt", "--name=probe", "-", "-"], input=b"x",
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    return proc.returncode == 0


SYSTEMD_CREDS = _systemd_creds_works()
needs_systemd_creds = pytest.mark.skipif(not SYSTEMD_CREDS, reason="systemd-creds cannot encrypt on this host")


# --- small SMTP and IMAP servers on 127.0.0.1 -------------------------------------------------
# Just enough SMTP (RFC 5321 + AUTH, RFC 4954; an MX's envelope; STARTTLS) and IMAP (RFC 9051
# LOGIN, AUTHENTICATE PLAIN) to answer the probes: real sockets, real smtplib/imaplib on the client
# side. `echo` makes a server put the password it received into its error reply, as a careless
# server might. SmtpHandler is the one fake SMTP server of the unit tests (status_common.MxHandler
# is the same server with an MX's defaults).

class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class LocalServer(object):
    """with LocalServer(Handler, **attrs) as server: server.port, server.seen"""

    def __init__(self, handler, **attrs):
        self.server = _Server(("127.0.0.1", 0), handler)
        self.server.seen = []
        self.server.echo = False
        for key, value in attrs.items():
            setattr(self.server, key, value)

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    @property
    def port(self):
        return self.server.server_address[1]

    @property
    def seen(self):
        return self.server.seen


class SmtpHandler(socketserver.StreamRequestHandler):
    """A submission server by default; options are attributes on the server (LocalServer(SmtpHandler, **options)),
    missing ones come from `defaults`:

    hostname, banner  in the greeting and the EHLO/HELO reply
    mechanisms        AUTH mechanisms offered ("PLAIN LOGIN"); "" offers none; None: AUTH is not a command
    auth_code         235 accepts USER/PASSWORD (535 for others); any other code fails every AUTH with it
    echo              the failure reply names the user and password received
    tls_context       offer STARTTLS with this ssl context (the server closes after the handshake)
    rcpt              None: MAIL, RCPT and RSET are not commands; else {address: RCPT reply} (default "250 2.1.5 Ok")
    mail_reply        the reply to MAIL FROM
    record            what `seen` gets: "logins" ((user, password) bytes per AUTH) or "commands" (every line)
    """

    defaults = dict(hostname="mail.example.test", banner=None, mechanisms=None, auth_code=235, echo=False,
                    tls_context=None, rcpt=None, mail_reply="250 2.1.0 Ok", record="logins")

    def option(self, name):
        return getattr(self.server, name, self.defaults[name])

    def send(self, line):
        self.wfile.write(line.encode("utf-8") + b"\r\n")
        self.wfile.flush()

    def check(self, user, password):
        if self.option("record") == "logins":
            self.server.seen.append((user, password))
        code = self.option("auth_code")
        if code != 235:
            said = (" for %s/%s" % (user.decode("utf-8"), password.decode("utf-8"))) if self.option("echo") else ""
            return self.send("%d 4.7.0 Temporary authentication failure%s" % (code, said))
        ok = user == USER.encode("utf-8") and password == PASSWORD.encode("utf-8")
        self.send("235 2.7.0 Authentication successful" if ok else "535 5.7.8 Error: authentication failed: x")

    def handle(self):
        self.send(self.option("banner") or "220 %s ESMTP" % self.option("hostname"))
        while True:
            line = self.rfile.readline().decode("utf-8", "replace").strip()
            if not line:
                return
            if self.option("record") == "commands":
                self.server.seen.append(line)
            if not self.answer(line.split(" ")[0].upper(), line):
                return

    def answer(self, verb, line):
        """Reply to one command line; False when the connection ends."""
        if verb in ("EHLO", "HELO"):
            self.ehlo()
        elif verb == "AUTH" and self.option("mechanisms") is not None:
            self.auth(line.split(" "))
        elif verb == "STARTTLS" and self.option("tls_context"):
            self.starttls()
            return False
        elif verb in ("MAIL", "RCPT", "RSET") and self.option("rcpt") is not None:
            self.envelope(verb, line)
        elif verb == "QUIT":
            self.send("221 2.0.0 Bye")
            return False
        else:
            self.send("502 5.5.2 Error: command not recognized")
        return True

    def ehlo(self):
        extensions = []
        if self.option("mechanisms"):
            extensions.append("AUTH %s" % self.option("mechanisms"))
        if self.option("tls_context"):
            extensions.append("STARTTLS")
        lines = [self.option("hostname")] + (extensions or ["8BITMIME"])
        for line in lines[:-1]:
            self.send("250-%s" % line)
        self.send("250 %s" % lines[-1])

    def auth(self, words):
        if words[1].upper() == "PLAIN":
            _authzid, user, password = base64.b64decode(words[2]).split(b"\0")
            self.check(user, password)
        elif words[1].upper() == "LOGIN":
            user = base64.b64decode(words[2])
            self.send("334 UGFzc3dvcmQ6")
            password = base64.b64decode(self.rfile.readline().strip())
            self.check(user, password)
        else:
            self.send("502 5.5.2 Error: command not recognized")

    def starttls(self):
        self.send("220 2.0.0 Ready to start TLS")
        tls = self.option("tls_context").wrap_socket(self.connection, server_side=True)
        try:
            tls.recv(1)  # the client closes after the handshake
        except (OSError, ssl.SSLError):
            pass

    def envelope(self, verb, line):
        if verb == "MAIL":
            self.send(self.option("mail_reply"))
        elif verb == "RCPT":
            address = line.split(":", 1)[1].strip().strip("<>")
            self.send(self.option("rcpt").get(address, "250 2.1.5 Ok"))
        else:
            self.send("250 2.0.0 Ok")


class ImapHandler(socketserver.StreamRequestHandler):
    """Attributes on the server: extra_caps (" LOGINDISABLED"), echo (BYE with the password)."""

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
                user, password = parse_quoted(line.split(" ", 2)[2])
                if self.reply(tag, user.encode("utf-8"), password.encode("utf-8"), "LOGIN"):
                    return
            elif command == "AUTHENTICATE":
                self.send("+ ")
                _authzid, user, password = base64.b64decode(self.rfile.readline().strip()).split(b"\0")
                if self.reply(tag, user, password, "AUTHENTICATE"):
                    return
            elif command == "LOGOUT":
                self.send("* BYE Logging out")
                self.send("%s OK Logout completed." % tag)
                return
            else:
                self.send("%s BAD Error in IMAP command" % tag)

    def reply(self, tag, user, password, how):
        """Answer a login; True when the connection is closed."""
        self.server.seen.append((how, user, password))
        if self.server.echo:
            self.send("* BYE Internal error while checking %s" % password.decode("utf-8"))
            self.send("%s NO Closing." % tag)
            return True
        if user == USER.encode("utf-8") and password == PASSWORD.encode("utf-8"):
            self.send("%s OK Logged in" % tag)
        else:
            self.send("%s NO [AUTHENTICATIONFAILED] Authentication failed." % tag)
        return False


def parse_quoted(args):
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
