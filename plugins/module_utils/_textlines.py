# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Lines of a text file, split the way the programs that read our files split them (private).

Files are split on "\\n" only ("\\r\\n" endings are kept as they are). Python's
str.splitlines() also breaks at \\v \\f \\x1c-\\x1e \\x85 \\u2028 \\u2029: a form feed in a
comment or a password would then make a file unreadable to the module that wrote it.
"""

from __future__ import annotations

# Every character str.splitlines() breaks a line at. A value written into a line-based file
# must contain none of them: some reader of the file (an editor, a script) splits there.
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def split_lines(text):
    """The lines of `text`, each with its "\\n" (the last one may lack it); [] for ""."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def split_eol(line):
    """(content, ending) of one line: the ending is "\\r\\n", "\\n" or ""."""
    if line.endswith("\r\n"):
        return line[:-2], "\r\n"
    if line.endswith("\n"):
        return line[:-1], "\n"
    return line, ""


def eol_of(lines):
    """The line ending to use for an added line: that of the last line that has one."""
    for line in reversed(lines):
        if line.endswith("\n"):
            return split_eol(line)[1]
    return "\n"


def has_line_break(text):
    """True when `text` holds a line or paragraph separator of any kind (see LINE_BREAKS)."""
    return any(char in LINE_BREAKS for char in text)


def has_edge_space(text):
    """True when `text` starts or ends with white space (Unicode white space included)."""
    return text != text.strip()
