# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A whole Dovecot passwd-file holding exactly the given users (private to imip.server).

Used by the dovecot_passwd_file module. The file is read with the collection's one passwd-file
parser (_dovecot_passwd_format, which password_parity uses too), hashes are verified and made
with the collection's Dovecot scheme table (_dovecot_hash), and the file is replaced atomically
(_fileio.atomic_write).

A stored hash is kept while it verifies against the user's password, whatever its scheme; only
a hash that does not verify (or cannot be verified) is rewritten, with the user's scheme.

Results, messages and diffs name users only: never a password, a hash or a piece of one.
"""

from __future__ import annotations

from ansible_collections.imip.server.plugins.module_utils import _dovecot_hash as dh
from ansible_collections.imip.server.plugins.module_utils._dovecot_passwd_format import (
    PasswdFile,
    PasswdFormatError,
    user_problem,
)
from ansible_collections.imip.server.plugins.module_utils._fileio import ReadError, atomic_write, os_reason, read_text
from ansible_collections.imip.server.plugins.module_utils._textlines import has_line_break

DEFAULT_SCHEME = "SHA512-CRYPT"


class PasswdError(Exception):
    """Bad input, or a file that cannot be read, parsed or written; nothing was written."""


class PasslibMissing(PasswdError):
    """passlib is needed (to verify or to hash) and is not installed on this host."""


def _checked_scheme(where, password, written):
    """The canonical scheme of one user's password, checked with it; raises PasswdError naming where."""
    if not password:
        raise PasswdError("%s: the password is empty" % where)
    if "\0" in password or "\r" in password or "\n" in password:
        raise PasswdError("%s: the password must not contain line breaks or NUL" % where)
    problem = dh.write_problem(written)
    if problem:
        raise PasswdError("%s: %s" % (where, problem))
    scheme = dh.canonical(written)
    if scheme == "PLAIN" and (":" in password or has_line_break(password)):
        raise PasswdError("%s: scheme PLAIN cannot hold a password containing ':' or a line separator "
                          "(the passwd-file's field and line separators); use a hashed scheme" % where)
    problem = dh.secret_problem(scheme, password)
    if problem:
        raise PasswdError("%s: %s" % (where, problem))
    return scheme


def check_users(users, default_scheme=DEFAULT_SCHEME):
    """The users as [(address, password, SCHEME)], checked; raises PasswdError naming users[i]."""
    problem = dh.write_problem(default_scheme)
    if problem:
        raise PasswdError("scheme: %s" % problem)
    checked, seen = [], {}
    for index, user in enumerate(users):
        address, password = user.get("address"), user.get("password")
        where = "users[%d]" % index
        problem = user_problem(address or "", "address")
        if problem:
            shown = (" (%s)" % address.encode("unicode_escape").decode("ascii")) if address else ""
            raise PasswdError("%s%s: %s" % (where, shown, problem))
        scheme = _checked_scheme("%s (%s)" % (where, address), password, user.get("scheme") or default_scheme)
        if address in seen:
            raise PasswdError("users[%d] and users[%d]: %s is listed twice" % (seen[address], index, address))
        seen[address] = index
        checked.append((address, password, scheme))
    return checked


def read_file(path):
    """The file's text, or None when it does not exist. Raises PasswdError."""
    try:
        return read_text(path)
    except ReadError as exc:
        raise PasswdError(str(exc))


class Plan(object):
    """What the file is and what it must become; `text` is None in check mode when a hash is due."""

    def __init__(self):
        self.added, self.removed, self.rehashed, self.warnings = [], [], [], []
        self.text = None
        self.content_changed = False
        self.diff = None


def plan(path, existing, users, hash_new=True):
    """Decide the new content of `path` (current text `existing`, or None) for checked `users`.

    `hash_new=False` (check mode) makes no new hash: a user to add or rehash is only named, so
    the plan needs passlib only to verify existing hashes. Raises PasswdError.
    """
    result = Plan()
    try:
        document = PasswdFile(existing or "", path)
        fields = {}
        for address, _password, _scheme in users:
            field, lineno = document.password_field(address)
            if lineno is not None:
                fields[address] = (field, lineno)
    except PasswdFormatError as exc:
        raise PasswdError(str(exc))
    wanted = set(u[0] for u in users)
    in_file = sorted(document.users, key=lambda u: document.users[u][0])
    result.removed = [u for u in in_file if u not in wanted]

    lines = [_line(path, address, password, scheme, fields, hash_new, result) for address, password, scheme in users]
    if None not in lines:
        result.text = "".join(line + "\n" for line in lines)
    # A placeholder stands for a new hash: then something was added or rehashed anyway.
    result.content_changed = bool(result.added or result.rehashed or result.removed) or result.text != existing
    result.diff = _diff(path, document, users, result)
    return result


def _keeps(path, address, password, fields, hash_new, result):
    """Whether the stored hash of address verifies the password (a warning when it cannot be verified)."""
    if address not in fields:
        return False
    field, lineno = fields[address]
    try:
        return dh.verify(password, field)
    except dh.SchemeError as exc:
        if not dh.have_passlib():
            if hash_new:
                raise PasslibMissing("%s line %d (%s): %s" % (path, lineno, address, dh.PASSLIB_INSTALL_HINT))
            result.warnings.append("%s: cannot verify without passlib (not installed yet); assuming a rehash" % address)
        else:
            result.warnings.append("%s line %d (%s): the stored hash cannot be verified (%s); it is rewritten"
                                   % (path, lineno, address, exc))
    return False


def _line(path, address, password, scheme, fields, hash_new, result):
    """The user's line: the stored one when its hash verifies, else a new hash (None: a placeholder
    under check mode); result's added or rehashed names the user."""
    if _keeps(path, address, password, fields, hash_new, result):
        return "%s:%s" % (address, fields[address][0])
    (result.rehashed if address in fields else result.added).append(address)
    if not hash_new:
        return None
    try:
        return "%s:%s" % (address, dh.make(password, scheme))
    except dh.SchemeError as exc:
        error = PasslibMissing if not dh.have_passlib() else PasswdError
        raise error("cannot hash the password of %s: %s" % (address, exc))


def _diff(path, document, users, result):
    """Before and after with names and placeholders only (a hash can be cracked offline)."""
    before = []
    for line in document.lines:
        content = line.rstrip("\r\n")
        if not content.strip():
            before.append("")
        elif content.lstrip().startswith("#"):
            before.append("# <comment>")
        else:
            user = content.split(":", 1)[0]
            marker = "<hash that does not verify>" if user in result.rehashed else "<hash>"
            extra = ":<other fields>" if content.count(":") > 1 else ""
            before.append("%s:%s%s" % (user, marker, extra))
    after = ["%s:%s" % (address, "<new hash>" if address in result.added + result.rehashed else "<hash>")
             for address, _password, _scheme in users]
    return dict(before_header=path, after_header=path,
                before="".join(line + "\n" for line in before),
                after="".join(line + "\n" for line in after))


def write(path, text):
    """Replace `path` atomically; an existing file keeps its owner, group and mode, a new one is 0600
    until the caller sets its attributes. Raises PasswdError."""
    try:
        atomic_write(path, text.encode("utf-8"), 0o600)
    except OSError as exc:
        raise PasswdError("cannot write %s: %s" % (path, os_reason(exc)))
