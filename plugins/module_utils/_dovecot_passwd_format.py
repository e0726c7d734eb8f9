# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The Dovecot passwd-file format: user:password:uid:gid:gecos:home:shell:extra (private).

One parser for the collection: the passwd_file stores of password_parity and the
dovecot_passwd_file module read files alike. Errors name the file and line numbers, never a
line's content (it holds a hash, or a PLAIN password).
"""

from __future__ import annotations

from ansible_collections.imip.server.plugins.module_utils._textlines import (
    eol_of,
    has_line_break,
    split_eol,
    split_lines,
)

COMMENT = "#"


class PasswdFormatError(Exception):
    """A malformed line or a duplicate user; the message names the file and lines."""


class PasswdFile(object):
    """The lines of one passwd-file, parsed once."""

    def __init__(self, text, path="passwd-file"):
        self.path = path
        self.lines = split_lines(text)
        self.users = {}  # user -> [index, ...]
        for index, line in enumerate(self.lines):
            content, _eol = split_eol(line)
            if not content.strip() or content.lstrip().startswith(COMMENT):
                continue
            user, sep, _rest = content.partition(":")
            if not sep or not user or user != user.strip():
                raise PasswdFormatError("%s line %d: malformed (expected user:password[:uid:gid:gecos:home:shell:extra])"
                                        % (path, index + 1))
            self.users.setdefault(user, []).append(index)

    def line_of(self, user):
        found = self.users.get(user, [])
        if len(found) > 1:
            raise PasswdFormatError("%s lines %s: user %s appears more than once"
                                    % (self.path, ", ".join(str(i + 1) for i in found), user))
        return found[0] if found else None

    def password_field(self, user):
        """(password field, line number), or (None, None) when the user is not in the file."""
        index = self.line_of(user)
        if index is None:
            return None, None
        content, _eol = split_eol(self.lines[index])
        return content.split(":")[1], index + 1

    def set(self, user, field, passwd_fields=None):
        """Return the text with only this user's password field changed (or the user added)."""
        lines = list(self.lines)
        index = self.line_of(user)
        if index is not None:
            content, eol = split_eol(lines[index])
            parts = content.split(":", 2)
            parts[1] = field
            lines[index] = ":".join(parts) + eol
            return "".join(lines)
        eol = eol_of(lines)
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += eol
        new = "%s:%s" % (user, field)
        if passwd_fields:
            new += ":" + passwd_fields
        lines.append(new + eol)
        return "".join(lines)


def user_problem(user, what="user name"):
    """Why `user` cannot be a passwd-file user name that Dovecot and we read back, or None.

    `what` is how the message calls it (the mail role's accounts are addresses).
    """
    if not user:
        return "the %s is empty" % what
    if ":" in user or has_line_break(user) or any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in user):
        return "the %s must not contain ':', white space or control characters" % what
    if user.startswith(COMMENT):
        return "the %s must not start with '#' (its line would be a comment)" % what
    return None


def fields_problem(passwd_fields):
    """Why `passwd_fields` (what follows the password on a line) cannot be written, or None."""
    if has_line_break(passwd_fields):
        return "passwd_fields must be one line (no line break or other line separator)"
    return None
