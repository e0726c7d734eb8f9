# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The file stores of password parity: an ini key, a whole file, a Dovecot passwd-file user
(private to imip.server).

Each lives in a file that other stores may share (parity.shared_file): reads and staged writes
go through the SharedFile, which the engine writes once.
"""

from __future__ import annotations

import os

from ansible_collections.imip.server.plugins.module_utils import _dovecot_hash as dh
from ansible_collections.imip.server.plugins.module_utils import _dovecot_passwd_format as passwd_format
from ansible_collections.imip.server.plugins.module_utils import _ini_editor as ini
from ansible_collections.imip.server.plugins.module_utils._fileio import loose_mode, strip_newline
from ansible_collections.imip.server.plugins.module_utils._textlines import has_edge_space, has_line_break
from ansible_collections.imip.server.plugins.module_utils.parity.store import CREATE, MISSING, READONLY, Store, StoreError

DEFAULT_SCHEME = "SHA512-CRYPT"


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
        create=CREATE,
        readonly=READONLY,
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
        create=CREATE,
        readonly=READONLY,
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
        create=CREATE,
        readonly=READONLY,
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
