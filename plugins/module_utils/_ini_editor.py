# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""An ini file as lines: read one value, change one value and nothing else (private).

Never a configparser round trip, which would drop comments and reorder keys. Sections are
case-sensitive and keys case-insensitive, as Python's configparser (which the iMIP gateway
uses) treats them. `section=None` means the keys before the first section header.

Errors name the file and line numbers, never a line's content (it may hold a secret).
"""

from __future__ import annotations

import re

from ansible_collections.imip.server.plugins.module_utils._textlines import (
    eol_of,
    has_edge_space,
    has_line_break,
    split_eol,
    split_lines,
)

_BLANK = re.compile(r"^\s*$")
_COMMENT = re.compile(r"^\s*[#;]")
_SECTION = re.compile(r"^\s*\[([^\]]*)\]\s*(?:[#;].*)?$")
# key, delimiter, value: the first = or : ends the key; everything after it is the value,
# so values may themselves contain = : # ; (there are no inline comments).
_KEY = re.compile(r"^(\s*)([^\s=:\[#;][^=:]*?)(\s*[=:]\s*)(.*?)(\s*)$")
COMMENT_CHARS = "#;"


class IniError(Exception):
    """The file cannot be parsed, or the key is ambiguous; the message names file and lines."""


class IniDocument(object):
    """The lines of one ini file, parsed once."""

    def __init__(self, text, path="ini file"):
        self.path = path
        self.lines = split_lines(text)
        self.entries = []   # (index, section, key, prefix, value, suffix)
        self.headers = {}   # section -> [index, ...]
        section = None
        for index, line in enumerate(self.lines):
            content, _eol = split_eol(line)
            if _BLANK.match(content) or _COMMENT.match(content):
                continue
            match = _SECTION.match(content)
            if match:
                section = match.group(1).strip()
                self.headers.setdefault(section, []).append(index)
                continue
            match = _KEY.match(content)
            if not match:
                raise IniError("%s line %d: malformed (expected [section], key = value or a comment)" % (path, index + 1))
            indent, key, delim, value, trail = match.groups()
            self.entries.append((index, section, key.strip(), indent + key + delim, value, trail))

    def find(self, section, key):
        found = [e for e in self.entries if e[1] == section and e[2].lower() == key.lower()]
        if len(found) > 1:
            raise IniError(
                "%s lines %s: key %s appears more than once in %s"
                % (self.path, ", ".join(str(e[0] + 1) for e in found), key, section_label(section))
            )
        return found[0] if found else None

    def value(self, section, key):
        """The key's value, or None when the key (or its section) does not exist."""
        entry = self.find(section, key)
        return None if entry is None else entry[4]

    def set(self, section, key, value):
        """Return the text with only this key's value changed (or the key/section added)."""
        entry = self.find(section, key)
        lines = list(self.lines)
        if entry is not None:
            index, _s, _k, prefix, _old, trail = entry
            _content, eol = split_eol(lines[index])
            lines[index] = prefix + value + trail + eol
            return "".join(lines)
        eol = eol_of(lines)
        new_line = "%s = %s%s" % (key, value, eol)
        at = self._insert_at(lines, section, eol)
        if at > 0 and at == len(lines) and lines and not lines[-1].endswith("\n"):
            lines[-1] += eol
        lines.insert(at, new_line)
        return "".join(lines)

    def _insert_at(self, lines, section, eol):
        """Where a new key of section goes: after the section's last key, after its header, before
        the first header (section None), or in a new section appended to lines."""
        in_section = [e[0] for e in self.entries if e[1] == section]
        if in_section:
            return max(in_section) + 1
        if section in self.headers:
            return self.headers[section][-1] + 1
        if section is None:
            return min([i for v in self.headers.values() for i in v] or [len(lines)])
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += eol
        if lines and not _BLANK.match(lines[-1]):
            lines.append(eol)
        lines.append("[%s]%s" % (section, eol))
        return len(lines)


def section_label(section):
    return "the keys before the first section" if section is None else "section [%s]" % section


# What this editor can write and then read back exactly. Each check returns the broken rule as
# text (for a message that names the store), or None.

def section_problem(section):
    if section == "":
        return "section is empty (leave it out for the keys before the first section)"
    if has_line_break(section):
        return "section contains a line break or another line separator"
    if has_edge_space(section):
        return "section starts or ends with white space (it would be read back without it)"
    if "]" in section:
        return "section contains ']', which ends a section header"
    return _round_trip("[%s]\nk = v\n" % section, section, "k", "v", "section")


def key_problem(key):
    if not key:
        return "key is empty"
    if has_line_break(key):
        return "key contains a line break or another line separator"
    if has_edge_space(key):
        return "key starts or ends with white space (it would be read back without it)"
    if "=" in key or ":" in key:
        return "key contains '=' or ':', which end a key"
    if key[0] in COMMENT_CHARS + "[":
        return "key starts with '%s' (a comment or a section header)" % key[0]
    return _round_trip("%s = v\n" % key, None, key, "v", "key")


def value_problem(value):
    """Why `value` cannot be an ini value that reads back verbatim, or None."""
    if has_line_break(value):
        return "it contains a line break or another line separator, which ends an ini line"
    if has_edge_space(value):
        return "it starts or ends with white space, which an ini value cannot keep"
    return None


def _round_trip(text, section, key, value, what):
    try:
        if IniDocument(text).value(section, key) == value:
            return None
    except IniError:
        pass
    return "%s would not be read back as written" % what
