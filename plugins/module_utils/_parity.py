# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The password parity engine shared by password_parity_info and password_parity.

One password, many stored copies ("stores"): keychain items, ini keys, whole files, Dovecot
passwd-file hashes, and live SMTP/IMAP logins. The engine reads every store, compares each
with the secret (or, without one, with each other), rewrites drifted copies when asked to, and
runs the live probes last so that a run reports whether the services accept the password now.

Results carry names, types, statuses and messages only: never a secret, a hash, or anything
derived from one. Messages never quote file content.
"""

from __future__ import annotations

import base64
import imaplib
import os
import re
import smtplib
import socket
import ssl

from ansible_collections.imip.server.plugins.module_utils import _dovecot_hash as dh
from ansible_collections.imip.server.plugins.module_utils._fileio import (
    atomic_write,
    os_reason,
    read_text,
    ReadError,
    strip_newline,
)
from ansible_collections.imip.server.plugins.module_utils._keychain import (
    Keychain,
    KeychainError,
)

STORE_TYPES = ("keychain", "ini", "file", "passwd_file", "probe_smtp", "probe_imap")
PROBE_TYPES = ("probe_smtp", "probe_imap")
MATCH, DRIFT, MISSING, ERROR = "match", "drift", "missing", "error"

# The `stores` suboptions, shared by both modules (documented in the parity_stores doc
# fragment). No defaults here: the engine fills type-specific defaults and rejects options
# that do not apply to a store's type, so a misplaced option is an error, not ignored.
STORE_OPTIONS = dict(
    name=dict(type="str", required=True),
    type=dict(type="str", required=True, choices=list(STORE_TYPES)),
    item=dict(type="str"),
    backend=dict(type="str", choices=["auto", "systemd_creds", "file"]),
    path=dict(type="path"),
    section=dict(type="str"),
    key=dict(type="str", no_log=False),
    user=dict(type="str"),
    scheme=dict(type="str"),
    passwd_fields=dict(type="str", no_log=False),
    host=dict(type="str"),
    port=dict(type="int"),
    security=dict(type="str", choices=["starttls", "tls", "none"]),
    username=dict(type="str"),
    validate_certs=dict(type="bool"),
    ca_path=dict(type="path"),
    timeout=dict(type="int"),
    create=dict(type="bool"),
    readonly=dict(type="bool"),
)
STORES_SPEC = dict(type="list", elements="dict", required=True, options=STORE_OPTIONS)

_WRITE = ("create", "readonly")
_PROBE = ("host", "port", "security", "username", "validate_certs", "ca_path", "timeout")
FIELDS = {
    # type: (required, optional)
    "keychain": (("item",), ("backend", "path") + _WRITE),
    "ini": (("path", "key"), ("section",) + _WRITE),
    "file": (("path",), _WRITE),
    "passwd_file": (("path", "user"), ("scheme", "passwd_fields") + _WRITE),
    "probe_smtp": (("host", "username"), _PROBE),
    "probe_imap": (("host", "username"), _PROBE),
}
DEFAULT_SCHEME = "SHA512-CRYPT"
DEFAULT_TIMEOUT = 10


class ParityInputError(Exception):
    """Bad module input; the module fails before touching anything."""


class StoreError(Exception):
    """A store cannot be read, parsed, written or probed; the message says where and why."""


class _Missing(object):
    def __repr__(self):
        return "MISSING"


MISSING_VALUE = _Missing()


# ---------------------------------------------------------------------------------------
# Reading and writing text files
# ---------------------------------------------------------------------------------------

def _read_text(path):
    """File content as text, or MISSING_VALUE. Raises StoreError with the OS reason."""
    try:
        text = read_text(path)
    except ReadError as exc:
        raise StoreError(str(exc))
    return MISSING_VALUE if text is None else text


def _write_text(path, text):
    try:
        atomic_write(path, text.encode("utf-8"), 0o600)
    except OSError as exc:
        raise StoreError("cannot write %s: %s" % (path, os_reason(exc)))


def _eol_of(lines):
    """The line ending to use for an added line: that of the last line that has one."""
    for line in reversed(lines):
        if line.endswith("\n"):
            return _split_eol(line)[1]
    return "\n"


def _split_eol(line):
    if line.endswith("\r\n"):
        return line[:-2], "\r\n"
    if line.endswith("\n"):
        return line[:-1], "\n"
    return line, ""


# ---------------------------------------------------------------------------------------
# ini: a careful line editor (never a configparser round trip)
# ---------------------------------------------------------------------------------------

_INI_BLANK = re.compile(r"^\s*$")
_INI_COMMENT = re.compile(r"^\s*[#;]")
_INI_SECTION = re.compile(r"^\s*\[([^\]]*)\]\s*(?:[#;].*)?$")
# key, delimiter, value: the first = or : ends the key; everything after it is the value,
# so values may themselves contain = : # ; (there are no inline comments).
_INI_KEY = re.compile(r"^(\s*)([^\s=:\[#;][^=:]*?)(\s*[=:]\s*)(.*?)(\s*)$")


class IniDocument(object):
    """An ini file as lines; edits change one value and nothing else.

    Sections are case-sensitive and keys case-insensitive, as Python's configparser (which
    the iMIP gateway uses) treats them. `section=None` means keys before the first header.
    """

    def __init__(self, text, path="ini file"):
        self.path = path
        self.lines = text.splitlines(True)
        self.entries = []   # (index, section, key, prefix, value, suffix)
        self.headers = {}   # section -> [index, ...]
        section = None
        for index, line in enumerate(self.lines):
            content, _eol = _split_eol(line)
            if _INI_BLANK.match(content) or _INI_COMMENT.match(content):
                continue
            match = _INI_SECTION.match(content)
            if match:
                section = match.group(1).strip()
                self.headers.setdefault(section, []).append(index)
                continue
            match = _INI_KEY.match(content)
            if not match:
                raise StoreError("%s line %d: malformed (expected [section], key = value or a comment)" % (path, index + 1))
            indent, key, delim, value, trail = match.groups()
            self.entries.append((index, section, key.strip(), indent + key + delim, value, trail))

    def find(self, section, key):
        found = [e for e in self.entries if e[1] == section and e[2].lower() == key.lower()]
        if len(found) > 1:
            raise StoreError(
                "%s lines %s: key %s appears more than once in %s"
                % (self.path, ", ".join(str(e[0] + 1) for e in found), key, _section_label(section))
            )
        return found[0] if found else None

    def value(self, section, key):
        entry = self.find(section, key)
        return MISSING_VALUE if entry is None else entry[4]

    def set(self, section, key, value):
        """Return the text with only this key's value changed (or the key/section added)."""
        entry = self.find(section, key)
        lines = list(self.lines)
        if entry is not None:
            index, _s, _k, prefix, _old, trail = entry
            _content, eol = _split_eol(lines[index])
            lines[index] = prefix + value + trail + eol
            return "".join(lines)
        eol = _eol_of(lines)
        new_line = "%s = %s%s" % (key, value, eol)
        in_section = [e[0] for e in self.entries if e[1] == section]
        if in_section:
            at = max(in_section) + 1
        elif section in self.headers:
            at = self.headers[section][-1] + 1
        elif section is None:
            at = min([i for v in self.headers.values() for i in v] or [len(lines)])
        else:
            if lines and not lines[-1].endswith("\n"):
                lines[-1] += eol
            if lines and not _INI_BLANK.match(lines[-1]):
                lines.append(eol)
            lines.append("[%s]%s" % (section, eol))
            at = len(lines)
        if at > 0 and at == len(lines) and lines and not lines[-1].endswith("\n"):
            lines[-1] += eol
        lines.insert(at, new_line)
        return "".join(lines)


def _section_label(section):
    return "the keys before the first section" if section is None else "section [%s]" % section


# ---------------------------------------------------------------------------------------
# Dovecot passwd-file
# ---------------------------------------------------------------------------------------

class PasswdFile(object):
    """A Dovecot passwd-file: user:password:uid:gid:gecos:home:shell:extra_fields."""

    def __init__(self, text, path="passwd-file"):
        self.path = path
        self.lines = text.splitlines(True)
        self.users = {}  # user -> [index, ...]
        for index, line in enumerate(self.lines):
            content, _eol = _split_eol(line)
            if not content.strip() or content.lstrip().startswith("#"):
                continue
            user, sep, _rest = content.partition(":")
            if not sep or not user or user != user.strip():
                raise StoreError("%s line %d: malformed (expected user:password[:uid:gid:gecos:home:shell:extra])" % (path, index + 1))
            self.users.setdefault(user, []).append(index)

    def line_of(self, user):
        found = self.users.get(user, [])
        if len(found) > 1:
            raise StoreError("%s lines %s: user %s appears more than once" % (self.path, ", ".join(str(i + 1) for i in found), user))
        return found[0] if found else None

    def password_field(self, user):
        index = self.line_of(user)
        if index is None:
            return MISSING_VALUE, None
        content, _eol = _split_eol(self.lines[index])
        return content.split(":")[1], index + 1

    def set(self, user, field, passwd_fields=None):
        lines = list(self.lines)
        index = self.line_of(user)
        if index is not None:
            content, eol = _split_eol(lines[index])
            parts = content.split(":", 2)
            parts[1] = field
            lines[index] = ":".join(parts) + eol
            return "".join(lines)
        eol = _eol_of(lines)
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += eol
        new = "%s:%s" % (user, field)
        if passwd_fields:
            new += ":" + passwd_fields
        lines.append(new + eol)
        return "".join(lines)


# ---------------------------------------------------------------------------------------
# Stores
# ---------------------------------------------------------------------------------------

class Store(object):
    """One stored copy. Subclasses read into self.value (plaintext, hash field or MISSING)."""

    writable_type = True
    plaintext = True

    def __init__(self, spec, context):
        self.spec = spec
        self.name = spec["name"]
        self.type = spec["type"]
        self.context = context
        self.create = bool(spec.get("create"))
        self.readonly = bool(spec.get("readonly"))
        self.value = None
        self.status = None
        self.msg = ""
        self.changed = False
        self.where = ""

    @property
    def writable(self):
        return self.writable_type and not self.readonly

    def read(self):
        raise NotImplementedError

    def holds(self, candidate):
        """True when the store holds `candidate` (only after a successful read)."""
        return self.value is not MISSING_VALUE and self.value == candidate

    def write(self, secret):
        raise NotImplementedError

    def diff_label(self):
        return self.where

    def result(self):
        return dict(name=self.name, type=self.type, status=self.status, writable=self.writable,
                    changed=self.changed, msg=self.msg)


class KeychainStore(Store):
    def __init__(self, spec, context):
        super(KeychainStore, self).__init__(spec, context)
        self.keychain = None

    def _open(self):
        if self.keychain is None:
            try:
                self.keychain = Keychain(self.spec.get("backend") or "auto", self.spec.get("path"),
                                         systemd_creds_bin=self.context.get("systemd_creds_bin"),
                                         run=self.context.get("run"))
            except KeychainError as exc:
                raise StoreError(str(exc))
        return self.keychain

    def read(self):
        keychain = self._open()
        try:
            self.where = "%s item %s" % (keychain.backend, keychain.item_path(self.spec["item"]))
            value = keychain.read(self.spec["item"])
        except KeychainError as exc:
            raise StoreError(str(exc))
        self.value = MISSING_VALUE if value is None else value

    def write(self, secret):
        try:
            self._open().write(self.spec["item"], secret)
        except KeychainError as exc:
            raise StoreError(str(exc))


class IniStore(Store):
    def __init__(self, spec, context):
        super(IniStore, self).__init__(spec, context)
        self.text = None

    def read(self):
        path, section, key = self.spec["path"], self.spec.get("section"), self.spec["key"]
        self.where = "%s %s key %s" % (path, "[%s]" % section if section is not None else "(no section)", key)
        self.text = _read_text(path)
        if self.text is MISSING_VALUE:
            self.value = MISSING_VALUE
            return
        self.value = IniDocument(self.text, path).value(section, key)

    def write(self, secret):
        path = self.spec["path"]
        text = "" if self.text is MISSING_VALUE else self.text
        _write_text(path, IniDocument(text, path).set(self.spec.get("section"), self.spec["key"], secret))


class FileStore(Store):
    def __init__(self, spec, context):
        super(FileStore, self).__init__(spec, context)
        self.text = None

    def read(self):
        self.where = self.spec["path"]
        self.text = _read_text(self.spec["path"])
        self.value = MISSING_VALUE if self.text is MISSING_VALUE else strip_newline(self.text)

    def write(self, secret):
        # Keep the file's trailing-newline convention; a new file gets none, which is what
        # consumers that read a password file verbatim expect.
        eol = ""
        if self.text is not MISSING_VALUE and self.text is not None:
            eol = self.text[len(self.text.rstrip("\r\n")):]
        _write_text(self.spec["path"], secret + eol)


class PasswdFileStore(Store):
    plaintext = False

    def __init__(self, spec, context):
        super(PasswdFileStore, self).__init__(spec, context)
        self.text = None
        self.lineno = None

    def read(self):
        path, user = self.spec["path"], self.spec["user"]
        self.where = "%s user %s" % (path, user)
        self.text = _read_text(path)
        if self.text is MISSING_VALUE:
            self.value = MISSING_VALUE
            return
        self.value, self.lineno = PasswdFile(self.text, path).password_field(user)
        if self.value is not MISSING_VALUE:
            # Check the scheme now, so an unknown one is an error before anything is compared.
            written, _data = dh.split(self.value)
            if dh.canonical(written) is None:
                raise StoreError(
                    "%s line %d (user %s): unknown password scheme {%s}; supported: %s"
                    % (path, self.lineno, user, written, ", ".join(dh.supported_verify()))
                )

    def holds(self, candidate):
        if self.value is MISSING_VALUE:
            return False
        if self.value == "":
            return False
        try:
            return dh.verify(candidate, self.value)
        except dh.SchemeError as exc:
            raise StoreError("%s line %d (user %s): %s" % (self.spec["path"], self.lineno, self.spec["user"], exc))

    def write(self, secret):
        path = self.spec["path"]
        try:
            field = dh.make(secret, self.spec.get("scheme") or DEFAULT_SCHEME)
        except dh.SchemeError as exc:
            raise StoreError("cannot hash for %s: %s" % (path, exc))
        text = "" if self.text is MISSING_VALUE else self.text
        _write_text(path, PasswdFile(text, path).set(self.spec["user"], field, self.spec.get("passwd_fields")))


class ProbeStore(Store):
    writable_type = False
    plaintext = False
    protocol = ""

    def __init__(self, spec, context):
        super(ProbeStore, self).__init__(spec, context)
        self.security = spec.get("security") or self.default_security
        self.port = spec.get("port") or self.default_ports[self.security]
        self.timeout = spec.get("timeout") or DEFAULT_TIMEOUT
        self.where = "%s %s:%d as %s" % (self.protocol, spec["host"], self.port, spec["username"])
        self._trying = None

    def read(self):
        self.value = None  # nothing to read: a probe only answers "does this password log in?"

    def ssl_context(self):
        validate = self.spec.get("validate_certs")
        if validate is None or validate:
            context = ssl.create_default_context(cafile=_file_or_none(self.spec.get("ca_path")),
                                                 capath=_dir_or_none(self.spec.get("ca_path")))
        else:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def fail(self, what, exc):
        reason = os_reason(exc) if isinstance(exc, OSError) else str(exc)
        if isinstance(exc, (socket.timeout, TimeoutError)) and not reason:
            reason = "timed out"
        reason = _scrub(reason, self._trying)
        return StoreError("%s %s:%d: %s: %s" % (self.protocol, self.spec["host"], self.port, what, reason or type(exc).__name__))

    def holds(self, candidate):
        self._trying = candidate
        try:
            return self.login(candidate)
        finally:
            self._trying = None


def _file_or_none(path):
    return path if path and os.path.isfile(path) else None


def _dir_or_none(path):
    return path if path and os.path.isdir(path) else None


def _b64(data):
    return base64.b64encode(data).decode("ascii")


class SmtpProbe(ProbeStore):
    protocol = "SMTP"
    default_security = "starttls"
    default_ports = {"starttls": 587, "tls": 465, "none": 587}

    def login(self, secret):
        """True when the server accepts AUTH, False when it rejects it; StoreError otherwise.

        smtplib's own login() encodes credentials as ASCII; AUTH PLAIN / LOGIN are done here
        with UTF-8 (RFC 4616), so non-ASCII passwords work.
        """
        host = self.spec["host"]
        context = self.ssl_context() if self.security != "none" else None
        try:
            if self.security == "tls":
                conn = smtplib.SMTP_SSL(host, self.port, timeout=self.timeout, context=context)
            else:
                conn = smtplib.SMTP(host, self.port, timeout=self.timeout)
        except (OSError, smtplib.SMTPException) as exc:
            raise self.fail("cannot connect", exc)
        try:
            try:
                conn.ehlo()
                if self.security == "starttls":
                    conn.starttls(context=context)
                    conn.ehlo()
            except (OSError, smtplib.SMTPException) as exc:
                raise self.fail("STARTTLS failed" if self.security == "starttls" else "EHLO failed", exc)
            mechanisms = conn.esmtp_features.get("auth", "").upper().split()
            user, password = self.spec["username"].encode("utf-8"), secret.encode("utf-8")
            try:
                if "PLAIN" in mechanisms:
                    code, reply = conn.docmd("AUTH", "PLAIN " + _b64(b"\0" + user + b"\0" + password))
                elif "LOGIN" in mechanisms:
                    code, reply = conn.docmd("AUTH", "LOGIN " + _b64(user))
                    if code == 334:
                        code, reply = conn.docmd(_b64(password))
                else:
                    raise StoreError("SMTP %s:%d: the server offers no AUTH PLAIN or LOGIN over this connection (security: %s)"
                                     % (host, self.port, self.security))
            except (OSError, smtplib.SMTPException) as exc:
                raise self.fail("AUTH failed", exc)
        finally:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                conn.close()
        if code == 235:
            return True
        if code == 535:
            return False
        raise StoreError("SMTP %s:%d: AUTH answered %d %s" % (host, self.port, code, _scrub(_reply_text(reply), secret)))


class ImapProbe(ProbeStore):
    protocol = "IMAP"
    default_security = "tls"
    default_ports = {"starttls": 143, "tls": 993, "none": 143}

    def login(self, secret):
        """True when LOGIN succeeds, False when the server says NO; StoreError otherwise."""
        host = self.spec["host"]
        context = self.ssl_context() if self.security != "none" else None
        try:
            if self.security == "tls":
                conn = imaplib.IMAP4_SSL(host, self.port, ssl_context=context, timeout=self.timeout)
            else:
                conn = imaplib.IMAP4(host, self.port, timeout=self.timeout)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise self.fail("cannot connect", exc)
        try:
            try:
                if self.security == "starttls":
                    conn.starttls(ssl_context=context)
            except (OSError, imaplib.IMAP4.error) as exc:
                raise self.fail("STARTTLS failed", exc)
            if "LOGINDISABLED" in conn.capabilities:
                raise StoreError("IMAP %s:%d: the server disables LOGIN over this connection (security: %s)"
                                 % (host, self.port, self.security))
            try:
                if _is_ascii(secret) and _is_ascii(self.spec["username"]):
                    conn.login(self.spec["username"], secret)
                else:
                    # imaplib sends commands as ASCII; AUTHENTICATE PLAIN carries UTF-8.
                    token = b"\0" + self.spec["username"].encode("utf-8") + b"\0" + secret.encode("utf-8")
                    conn.authenticate("PLAIN", lambda _challenge: token)
                return True
            except imaplib.IMAP4.abort as exc:
                raise self.fail("connection lost during LOGIN", exc)
            except imaplib.IMAP4.error:
                return False
            except OSError as exc:
                raise self.fail("LOGIN failed", exc)
        finally:
            try:
                conn.logout()
            except (OSError, imaplib.IMAP4.error):
                pass


def _is_ascii(text):
    try:
        text.encode("ascii")
        return True
    except UnicodeEncodeError:
        return False


def _reply_text(reply):
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return " ".join(str(reply).split())


STORE_CLASSES = {
    "keychain": KeychainStore,
    "ini": IniStore,
    "file": FileStore,
    "passwd_file": PasswdFileStore,
    "probe_smtp": SmtpProbe,
    "probe_imap": ImapProbe,
}


# ---------------------------------------------------------------------------------------
# Input validation
# ---------------------------------------------------------------------------------------

def check_secret(secret):
    if secret is None:
        return
    if secret == "":
        raise ParityInputError("secret is empty")
    if "\n" in secret or "\r" in secret or "\0" in secret:
        raise ParityInputError("secret contains a line break or NUL character, which the stores cannot hold")


def build_stores(specs, context=None):
    """Validate the `stores` option and return Store objects. Raises ParityInputError."""
    context = context or {}
    if not specs:
        raise ParityInputError("stores is empty: give at least one store")
    seen = set()
    stores = []
    for number, spec in enumerate(specs, 1):
        name, kind = spec.get("name"), spec.get("type")
        label = "store %s (%s)" % (name, kind)
        if not name:
            raise ParityInputError("store number %d has no name" % number)
        if name in seen:
            raise ParityInputError("store name %s is used twice; names must be unique" % name)
        seen.add(name)
        if kind not in FIELDS:
            raise ParityInputError("%s: unknown type; supported: %s" % (label, ", ".join(STORE_TYPES)))
        required, optional = FIELDS[kind]
        missing = [f for f in required if spec.get(f) in (None, "")]
        if missing:
            raise ParityInputError("%s: missing %s" % (label, ", ".join(missing)))
        extra = sorted(f for f, v in spec.items()
                       if v is not None and f not in ("name", "type") + required + optional)
        if extra:
            raise ParityInputError("%s: option %s does not apply to this type (it takes %s)"
                                   % (label, ", ".join(extra), ", ".join(required + optional)))
        if kind == "passwd_file":
            scheme = spec.get("scheme") or DEFAULT_SCHEME
            if dh.canonical(scheme) is None or not dh.SCHEMES[dh.canonical(scheme)].writable:
                raise ParityInputError("%s: unknown scheme %s; supported for writing: %s"
                                       % (label, scheme, ", ".join(dh.supported_write())))
            if spec.get("passwd_fields") and ("\n" in spec["passwd_fields"] or "\r" in spec["passwd_fields"]):
                raise ParityInputError("%s: passwd_fields must be one line" % label)
            if ":" in spec["user"] or spec["user"] != spec["user"].strip():
                raise ParityInputError("%s: user must not contain ':' or surrounding spaces" % label)
        if kind == "ini":
            if "\n" in spec["key"] or "=" in spec["key"] or ":" in spec["key"] or not spec["key"].strip():
                raise ParityInputError("%s: key must be one word without = or :" % label)
        if kind == "keychain" and spec.get("backend") == "systemd_creds" and not context.get("systemd_creds_bin"):
            raise ParityInputError("%s: backend systemd_creds needs the systemd-creds binary, which is not installed" % label)
        if kind in PROBE_TYPES and spec.get("timeout") is not None and spec["timeout"] <= 0:
            raise ParityInputError("%s: timeout must be positive" % label)
        stores.append(STORE_CLASSES[kind](spec, context))
    return stores


def needs_passlib(specs):
    return any(spec.get("type") == "passwd_file" for spec in specs)


# ---------------------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------------------

def _read_all(stores):
    for store in stores:
        if store.type in PROBE_TYPES:
            continue
        try:
            store.read()
        except StoreError as exc:
            store.status, store.msg = ERROR, str(exc)
            continue
        if store.value is MISSING_VALUE:
            store.status = MISSING
            store.msg = "%s does not exist" % store.where


def _compare(store, secret):
    """Set match/drift for a store that was read; errors become status error."""
    try:
        held = store.holds(secret)
    except StoreError as exc:
        store.status, store.msg = ERROR, str(exc)
        return
    if held:
        store.status, store.msg = MATCH, "holds the password"
    else:
        store.status = DRIFT
        if store.type in PROBE_TYPES:
            store.msg = "%s rejects the password" % store.where
        elif store.type == "passwd_file" and store.value == "":
            store.msg = "%s has an empty password field (line %d)" % (store.where, store.lineno)
        elif store.type == "passwd_file":
            store.msg = "the hash of %s (line %d) does not verify the password" % (store.where, store.lineno)
        else:
            store.msg = "%s holds a different value" % store.where


def _audit(stores):
    """Group stores that hold the same value. Returns the groups, largest first."""
    groups = []  # [[value or None, [stores]]]
    for store in stores:
        if store.status is None and store.plaintext:
            for group in groups:
                if group[0] == store.value:
                    group[1].append(store)
                    break
            else:
                groups.append([store.value, [store]])
    groups.sort(key=lambda g: -len(g[1]))
    # Hashes and probes can only say yes or no to a candidate: try the plaintext values,
    # most common first; a store that accepts none of them holds some other value.
    candidates = list(groups)
    untried = []
    for store in stores:
        if store.status is not None or store.plaintext:
            continue
        if not candidates:
            untried.append(store)
            continue
        try:
            for group in candidates:
                if store.holds(group[0]):
                    group[1].append(store)
                    break
            else:
                groups.append([None, [store]])
        except StoreError as exc:
            store.status, store.msg = ERROR, str(exc)
    for store in untried:
        store.status = ERROR
        store.msg = "cannot be audited without a secret: no store with a readable value (keychain, ini, file) to try against it"
    groups.sort(key=lambda g: -len(g[1]))
    tie = len(groups) > 1 and len(groups[0][1]) == len(groups[1][1])
    for rank, (_value, members) in enumerate(groups):
        others = [s.name for s in members]
        for store in members:
            peers = [n for n in others if n != store.name]
            with_peers = ("with %s" % ", ".join(peers)) if peers else "alone"
            if rank == 0 and not tie:
                store.status = MATCH
                store.msg = "in the majority (%s)" % with_peers if len(groups) > 1 else (
                    "all stores agree" if peers else "the only store with a value")
            elif tie:
                store.status = DRIFT
                store.msg = "no majority: %d groups of %d stores tie for largest; this store is in a group %s" % (
                    sum(1 for g in groups if len(g[1]) == len(groups[0][1])), len(groups[0][1]), with_peers)
            else:
                store.status = DRIFT
                store.msg = "differs from the majority (%s)" % ", ".join(s.name for s in groups[0][1])
                if peers:
                    store.msg += "; holds the same value as %s" % ", ".join(peers)
                if store.type in PROBE_TYPES:
                    store.msg = "%s rejects the majority's password; %s" % (store.where, store.msg)
    return [[s.name for s in members] for _value, members in groups]


def _scrub(text, secret):
    """Mask `secret` in text that came from outside (a server reply, an exception).

    Only foreign text is scrubbed: masking our own wording would itself reveal that the
    secret is a substring of it.
    """
    return text.replace(secret, "********") if secret else text


def run(stores, secret=None, rewrite=False, check_mode=False):
    """Read, compare, (re)write and probe. Returns (result dict, diff list).

    `rewrite` is password_parity: rewrite writable drifted stores (and missing stores that
    have `create: true`), but only when every non-probe store was read successfully.
    """
    if rewrite and secret is None:
        raise ParityInputError("rewriting needs the secret")
    if rewrite and ":" in secret:
        for store in stores:
            if store.type == "passwd_file" and dh.canonical(store.spec.get("scheme") or DEFAULT_SCHEME) == "PLAIN":
                raise ParityInputError("store %s (passwd_file): scheme PLAIN cannot hold a password containing ':' "
                                       "(the passwd-file field separator); use a hashed scheme" % store.name)
    _read_all(stores)
    diffs = []
    groups = []
    if secret is None:
        groups = _audit(stores)
    else:
        for store in stores:
            if store.status is None and store.type not in PROBE_TYPES:
                _compare(store, secret)
        if rewrite:
            diffs = _rewrite(stores, secret, check_mode)
        for store in stores:
            if store.type in PROBE_TYPES:
                _compare(store, secret)

    results = [store.result() for store in stores]

    def fixed(store):
        return store.changed and not check_mode and store.status in (DRIFT, MISSING)

    in_parity = all(s.status == MATCH or fixed(s) for s in stores) and bool(stores)
    if secret is None:
        in_parity = in_parity and len(groups) == 1
    result = dict(
        in_parity=in_parity,
        drifted=[s.name for s in stores if s.status == DRIFT],
        stores=results,
        groups=groups,
        changed=any(s.changed for s in stores),
    )
    return result, diffs


def _rewrite(stores, secret, check_mode):
    unread = [s.name for s in stores if s.type not in PROBE_TYPES and s.status == ERROR]
    diffs = []
    for store in stores:
        if store.type in PROBE_TYPES or store.status not in (DRIFT, MISSING):
            continue
        if store.readonly:
            store.msg += "; not rewritten: the store is readonly"
            continue
        if store.status == MISSING and not store.create:
            store.msg += "; not created (set create: true to create it)"
            continue
        if store.status == MISSING and store.type == "passwd_file" and store.spec.get("passwd_fields") is None:
            store.msg += "; not created: a new user needs passwd_fields (the fields after the password)"
            continue
        if unread:
            store.msg += "; not rewritten: nothing is written while a store cannot be read (%s)" % ", ".join(unread)
            continue
        verb = "create" if store.status == MISSING else "rewrite"
        diffs.append(dict(
            before_header="%s (%s)" % (store.name, store.diff_label()),
            after_header="%s (%s)" % (store.name, store.diff_label()),
            before="%s: %s\n" % (store.name, "(missing)" if store.status == MISSING else "(hidden: drifted value)"),
            after="%s: (hidden: the password)\n" % store.name,
        ))
        if check_mode:
            store.changed = True
            store.msg += "; would %s" % verb
            continue
        try:
            store.write(secret)
            store.read()
            verified = store.holds(secret)
        except StoreError as exc:
            store.msg += "; %s failed: %s" % (verb, exc)
            store.status = ERROR
            continue
        store.changed = True
        if verified:
            store.msg += "; rewritten" if verb == "rewrite" else "; created"
        else:
            store.status = ERROR
            store.msg += "; written, but reading it back does not give the password"
    return diffs
