# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The stores of password parity: one class per store type (private to imip.server).

Each type declares its own options, the rules its spec and the secret must follow, how it
reads, compares and (if writable) stages a write, and its messages; the engine (_parity)
only calls these methods. Stores that live in the same file (two ini keys, two passwd-file
users) share one SharedFile: each store edits the same in-memory text, and the engine writes
each file once, after every edit, so no store's write undoes another's.

Messages name files, keys, users and hosts; never a value, a hash or a line's content.
"""

from __future__ import annotations

import os

from ansible_collections.imip.server.plugins.module_utils import _dovecot_hash as dh
from ansible_collections.imip.server.plugins.module_utils import _dovecot_passwd_format as passwd_format
from ansible_collections.imip.server.plugins.module_utils import _ini_editor as ini
from ansible_collections.imip.server.plugins.module_utils import _parity_probes as probes
from ansible_collections.imip.server.plugins.module_utils._fileio import (
    ReadError,
    atomic_write,
    loose_mode,
    os_reason,
    read_text,
    strip_newline,
)
from ansible_collections.imip.server.plugins.module_utils._keychain import (
    DEFAULT_PATHS as KEYCHAIN_PATHS,
    Keychain,
    KeychainError,
    resolve_backend,
)
from ansible_collections.imip.server.plugins.module_utils._textlines import has_edge_space, has_line_break

DEFAULT_SCHEME = "SHA512-CRYPT"
DEFAULT_TIMEOUT = 10


class ParityInputError(Exception):
    """Bad module input; the module fails before reading or writing anything."""


class StoreError(Exception):
    """A store cannot be read, parsed, written or probed; the message says where and why."""


class _Missing(object):
    def __repr__(self):
        return "MISSING"


MISSING = _Missing()


# ---------------------------------------------------------------------------------------
# Files shared by several stores
# ---------------------------------------------------------------------------------------

class SharedFile(object):
    """One file on disk, read once, edited in memory by every store in it, written once."""

    def __init__(self, path):
        self.path = path
        self.loaded = False
        self.error = None
        self.on_disk = None   # text as read, or MISSING
        self.text = None      # text with the staged edits

    def load(self):
        """The current text (staged edits included), or MISSING. Raises StoreError."""
        if not self.loaded:
            self.loaded = True
            try:
                text = read_text(self.path)
            except ReadError as exc:
                self.error = str(exc)
            else:
                self.on_disk = self.text = MISSING if text is None else text
        if self.error:
            raise StoreError(self.error)
        return self.text

    def reload(self):
        self.loaded, self.error = False, None
        try:
            self.load()
        except StoreError:
            pass  # each store reading the file reports it

    def edit(self, text):
        self.text = text

    @property
    def dirty(self):
        return self.loaded and not self.error and self.text is not MISSING and self.text != self.on_disk

    def write(self):
        try:
            atomic_write(self.path, self.text.encode("utf-8"), 0o600)
        except OSError as exc:
            raise StoreError("cannot write %s: %s" % (self.path, os_reason(exc)))


class SharedFiles(object):
    """Every file the stores of one run live in, by real path (a link and its target are one)."""

    def __init__(self):
        self.by_real_path = {}

    def get(self, path):
        return self.by_real_path.setdefault(os.path.realpath(path), SharedFile(path))

    def all(self):
        return list(self.by_real_path.values())


# ---------------------------------------------------------------------------------------
# Stores
# ---------------------------------------------------------------------------------------

_CREATE = dict(type="bool")
_READONLY = dict(type="bool")


class Store(object):
    """One stored copy of the password.

    Class attributes declare the type: `options` (suboption specs, `required` meaning required
    for this type), `probe` (a live check: never written, run after the writes), `plaintext`
    (read gives the value itself, so an audit can group by it), `file_format` (what a shared
    file holds; None when the store has no shared file).
    """

    type = None
    options = {}
    probe = False
    plaintext = True
    writable_type = True
    needs_passlib = False
    file_format = None

    def __init__(self, spec, context):
        self.spec = spec
        self.name = spec["name"]
        self.context = context
        self.create = bool(spec.get("create"))
        self.readonly = bool(spec.get("readonly"))
        self.value = None
        self.status = None
        self.msg = ""
        self.changed = False
        self.file = None
        self.where = self.describe()

    # Declarations ------------------------------------------------------------------------

    @classmethod
    def spec_problem(cls, spec, context):
        """Why this spec cannot work (beyond required/unknown options), or None."""
        return None

    def secret_problem(self, secret, writing):
        """Why this store cannot hold `secret` (a rule of its format or scheme), or None."""
        return None

    def identity(self):
        """What makes two stores the same copy."""
        raise NotImplementedError

    def describe(self):
        raise NotImplementedError

    @property
    def writable(self):
        return self.writable_type and not self.readonly

    def attach(self, files):
        """Take this store's SharedFile from `files` (stores that have one)."""

    def loose_files(self):
        """[(path, mode)] of the files holding this copy that are group/world-writable or world-readable."""
        return []

    # Reading and comparing ---------------------------------------------------------------

    def read(self):
        raise NotImplementedError

    def holds(self, candidate):
        """True when the store holds `candidate` (only after a successful read)."""
        return self.value is not MISSING and self.value == candidate

    def match_message(self):
        return "holds the password"

    def missing_message(self):
        return "%s does not exist" % self.where

    def drift_message(self):
        return "%s holds a different value" % self.where

    # Writing -----------------------------------------------------------------------------

    def create_problem(self):
        """Why a missing store is not created even with create: true, or None."""
        return None

    def stage(self, secret):
        """Prepare the write in memory; nothing reaches the disk. Raises StoreError."""
        raise NotImplementedError

    def commit(self):
        """Write what stage() prepared, for stores that are not in a SharedFile."""

    def result(self):
        return dict(name=self.name, type=self.type, status=self.status, writable=self.writable,
                    changed=self.changed, msg=self.msg)


class KeychainStore(Store):
    type = "keychain"
    options = dict(
        item=dict(type="str", required=True),
        backend=dict(type="str", choices=["auto", "systemd_creds", "file"]),
        path=dict(type="path"),
        create=_CREATE,
        readonly=_READONLY,
    )

    def __init__(self, spec, context):
        self.backend = resolve_backend(spec.get("backend") or "auto", context.get("systemd_creds_bin"))
        self.directory = spec.get("path") or KEYCHAIN_PATHS[self.backend]
        self.keychain = None
        self.sealed = None
        super(KeychainStore, self).__init__(spec, context)

    @classmethod
    def spec_problem(cls, spec, context):
        if spec.get("backend") == "systemd_creds" and not context.get("systemd_creds_bin"):
            return "backend systemd_creds needs the systemd-creds binary, which is not installed"
        return None

    def identity(self):
        return ("keychain", self.backend, os.path.realpath(self.directory), self.spec["item"])

    def describe(self):
        suffix = ".cred" if self.backend == "systemd_creds" else ""
        return "%s item %s" % (self.backend, os.path.join(self.directory, self.spec["item"] + suffix))

    def _open(self):
        if self.keychain is None:
            try:
                self.keychain = Keychain(self.backend, self.directory, systemd_creds_bin=self.context.get("systemd_creds_bin"),
                                         run=self.context.get("run"))
            except KeychainError as exc:
                raise StoreError(str(exc))
        return self.keychain

    def loose_files(self):
        if self.backend != "file":  # an encrypted credential is not the secret
            return []
        path = os.path.join(self.directory, self.spec["item"])
        mode = loose_mode(path)
        return [(path, mode)] if mode is not None else []

    def read(self):
        try:
            value = self._open().read(self.spec["item"])
        except KeychainError as exc:
            raise StoreError(str(exc))
        self.value = MISSING if value is None else value

    def stage(self, secret):
        try:
            self.sealed = self._open().seal(self.spec["item"], secret)
        except KeychainError as exc:
            raise StoreError(str(exc))

    def commit(self):
        try:
            self._open().store(self.spec["item"], self.sealed)
        except KeychainError as exc:
            raise StoreError(str(exc))


class _FileStore(Store):
    """A store in a file that other stores may share."""

    def identity(self):
        return (self.type, os.path.realpath(self.spec["path"])) + self.identity_in_file()

    def identity_in_file(self):
        return ()

    def attach(self, files):
        self.file = files.get(self.spec["path"])

    def loose_files(self):
        mode = loose_mode(self.spec["path"])
        return [(self.spec["path"], mode)] if mode is not None else []


class IniStore(_FileStore):
    type = "ini"
    file_format = "ini"
    options = dict(
        path=dict(type="path", required=True),
        section=dict(type="str"),
        key=dict(type="str", required=True, no_log=False),
        create=_CREATE,
        readonly=_READONLY,
    )

    @classmethod
    def spec_problem(cls, spec, context):
        if spec.get("section") is not None:
            problem = ini.section_problem(spec["section"])
            if problem:
                return problem
        return ini.key_problem(spec["key"])

    def secret_problem(self, secret, writing):
        problem = ini.value_problem(secret)
        return "the password cannot be an ini value: %s" % problem if problem else None

    def identity_in_file(self):
        return (self.spec.get("section"), self.spec["key"].lower())

    def describe(self):
        section = self.spec.get("section")
        return "%s %s key %s" % (self.spec["path"], "[%s]" % section if section is not None else "(no section)",
                                 self.spec["key"])

    def read(self):
        text = self.file.load()
        if text is MISSING:
            self.value = MISSING
            return
        try:
            value = ini.IniDocument(text, self.spec["path"]).value(self.spec.get("section"), self.spec["key"])
        except ini.IniError as exc:
            raise StoreError(str(exc))
        self.value = MISSING if value is None else value

    def stage(self, secret):
        text = self.file.load()
        try:
            document = ini.IniDocument("" if text is MISSING else text, self.spec["path"])
        except ini.IniError as exc:
            raise StoreError(str(exc))
        self.file.edit(document.set(self.spec.get("section"), self.spec["key"], secret))


class WholeFileStore(_FileStore):
    type = "file"
    file_format = "whole file"
    options = dict(
        path=dict(type="path", required=True),
        create=_CREATE,
        readonly=_READONLY,
    )

    def describe(self):
        return self.spec["path"]

    def read(self):
        text = self.file.load()
        self.value = MISSING if text is MISSING else strip_newline(text)

    def stage(self, secret):
        # Keep the file's trailing-newline convention; a new file gets none, which is what
        # consumers that read a password file verbatim expect.
        text = self.file.load()
        eol = "" if text is MISSING else text[len(text.rstrip("\r\n")):]
        self.file.edit(secret + eol)


class PasswdFileStore(_FileStore):
    type = "passwd_file"
    file_format = "passwd-file"
    plaintext = False
    needs_passlib = True
    options = dict(
        path=dict(type="path", required=True),
        user=dict(type="str", required=True),
        scheme=dict(type="str"),
        passwd_fields=dict(type="str", no_log=False),
        create=_CREATE,
        readonly=_READONLY,
    )

    def __init__(self, spec, context):
        self.scheme = dh.canonical(spec.get("scheme") or DEFAULT_SCHEME)
        self.lineno = None
        self.limit = None  # why the stored hash cannot hold the candidate, when that is the reason
        super(PasswdFileStore, self).__init__(spec, context)

    @classmethod
    def spec_problem(cls, spec, context):
        problem = dh.write_problem(spec.get("scheme") or DEFAULT_SCHEME)
        if problem:
            return problem
        problem = passwd_format.user_problem(spec["user"])
        if problem:
            return problem
        if spec.get("passwd_fields"):
            return passwd_format.fields_problem(spec["passwd_fields"])
        return None

    def secret_problem(self, secret, writing):
        if not writing:
            return None
        if self.scheme == "PLAIN" and (":" in secret or has_line_break(secret) or has_edge_space(secret)):
            return ("scheme PLAIN cannot hold a password containing ':' (the passwd-file field separator), "
                    "a line separator, or white space at either end; use a hashed scheme")
        return dh.secret_problem(self.scheme, secret)

    def identity_in_file(self):
        return (self.spec["user"],)

    def describe(self):
        return "%s user %s" % (self.spec["path"], self.spec["user"])

    def read(self):
        path, user = self.spec["path"], self.spec["user"]
        text = self.file.load()
        if text is MISSING:
            self.value = MISSING
            return
        try:
            field, self.lineno = passwd_format.PasswdFile(text, path).password_field(user)
        except passwd_format.PasswdFormatError as exc:
            raise StoreError(str(exc))
        self.value = MISSING if field is None else field
        if field:
            # Check the scheme now, so an unknown one is an error before anything is compared.
            # The prefix itself is file content: it is not quoted.
            written, _data = dh.split(field)
            if dh.canonical(written) is None:
                raise StoreError("%s line %d (user %s): the password field has an unknown {SCHEME} prefix; supported: %s"
                                 % (path, self.lineno, user, ", ".join(dh.supported_verify())))

    def holds(self, candidate):
        self.limit = None
        if self.value is MISSING or self.value == "":
            return False
        try:
            return dh.verify(candidate, self.value)
        except dh.SchemeLimitError as exc:
            self.limit = str(exc)
            return False
        except dh.SchemeError as exc:
            raise StoreError("%s line %d (user %s): %s" % (self.spec["path"], self.lineno, self.spec["user"], exc))

    def drift_message(self):
        if self.value == "":
            return "%s has an empty password field (line %d)" % (self.where, self.lineno)
        if self.limit:
            return "%s (line %d): %s" % (self.where, self.lineno, self.limit)
        return "the hash of %s (line %d) does not verify the password" % (self.where, self.lineno)

    def create_problem(self):
        if self.spec.get("passwd_fields") is None:
            return "a new user needs passwd_fields (the fields after the password)"
        return None

    def stage(self, secret):
        path = self.spec["path"]
        try:
            field = dh.make(secret, self.scheme)
        except dh.SchemeError as exc:
            raise StoreError("cannot hash for %s: %s" % (path, exc))
        text = self.file.load()
        try:
            document = passwd_format.PasswdFile("" if text is MISSING else text, path)
        except passwd_format.PasswdFormatError as exc:
            raise StoreError(str(exc))
        self.file.edit(document.set(self.spec["user"], field, self.spec.get("passwd_fields")))


class ProbeStore(Store):
    """A live login. It only answers "does this password log in now?"; it is never written."""

    probe = True
    plaintext = False
    writable_type = False
    protocol = None
    default_security = None
    default_ports = {}
    options = dict(
        host=dict(type="str", required=True),
        port=dict(type="int"),
        security=dict(type="str", choices=["starttls", "tls", "none"]),
        username=dict(type="str", required=True),
        validate_certs=dict(type="bool"),
        ca_path=dict(type="path"),
        timeout=dict(type="int"),
    )

    def __init__(self, spec, context):
        security = spec.get("security") or self.default_security
        validate = spec.get("validate_certs")
        self.endpoint = probes.Endpoint(
            self.protocol, spec["host"], spec.get("port") or self.default_ports[security], security, spec["username"],
            spec.get("timeout") or DEFAULT_TIMEOUT, validate is None or validate, spec.get("ca_path"))
        super(ProbeStore, self).__init__(spec, context)

    @classmethod
    def spec_problem(cls, spec, context):
        if spec.get("timeout") is not None and spec["timeout"] <= 0:
            return "timeout must be positive"
        if spec.get("port") is not None and not 0 < spec["port"] < 65536:
            return "port must be between 1 and 65535"
        return None

    def identity(self):
        return (self.type, self.endpoint.host, self.endpoint.port, self.endpoint.username)

    def describe(self):
        return "%s as %s" % (self.endpoint, self.endpoint.username)

    def read(self):
        self.value = None  # nothing to read

    def holds(self, candidate):
        try:
            return probes.LOGINS[self.protocol](self.endpoint, candidate)
        except probes.ProbeError as exc:
            raise StoreError(str(exc))

    def match_message(self):
        return "%s accepts the password" % self.where

    def drift_message(self):
        return "%s rejects the password" % self.where


class SmtpProbe(ProbeStore):
    type = "probe_smtp"
    protocol = "SMTP"
    default_security = "starttls"
    default_ports = {"starttls": 587, "tls": 465, "none": 587}


class ImapProbe(ProbeStore):
    type = "probe_imap"
    protocol = "IMAP"
    default_security = "tls"
    default_ports = {"starttls": 143, "tls": 993, "none": 143}


STORE_CLASSES = [KeychainStore, IniStore, WholeFileStore, PasswdFileStore, SmtpProbe, ImapProbe]
TYPES = dict((cls.type, cls) for cls in STORE_CLASSES)


def _merged_options():
    """The `stores` suboptions of both modules: the union of every type's options.

    `required` is per type (checked by the engine), so it is left out here; an option
    declared by several types must be declared alike.
    """
    merged = dict(name=dict(type="str", required=True),
                  type=dict(type="str", required=True, choices=[cls.type for cls in STORE_CLASSES]))
    for cls in STORE_CLASSES:
        for option, declared in cls.options.items():
            spec = dict((k, v) for k, v in declared.items() if k != "required")
            if merged.setdefault(option, spec) != spec:
                raise AssertionError("option %s is declared differently by two store types" % option)
    return merged


STORE_OPTIONS = _merged_options()
