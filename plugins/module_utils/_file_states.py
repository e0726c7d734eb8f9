# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a path on the host is (imip.server.file_states_info) and whether it is already what a
task wants (imip.server.files).

A drift run finds every file in place. ansible.builtin.template spends two module runs per file
to say so (a stat with the checksum, then the file module for owner and mode); the files action
reads every path of a task in one run of file_states_info and hands only the paths that differ
here to the builtin that writes them. The rule is deliberately narrow: anything it cannot judge
for certain (a symbolic mode, a link, a missing file) counts as different, so the builtin decides.
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import re
import stat

_OCTAL_MODE = re.compile(r"^0?[0-7]{3,4}$")


def file_state(path):
    """What `path` is, without following a link: a dict with `exists`, and for an existing path
    `type` (file, directory, link, other), `mode` ('0644'), `owner` and `group` (names, or the
    number when the name is unknown), and for a regular file `checksum` (SHA-1, as Ansible's)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return {"exists": False}
    if stat.S_ISLNK(st.st_mode):
        kind = "link"
    elif stat.S_ISREG(st.st_mode):
        kind = "file"
    elif stat.S_ISDIR(st.st_mode):
        kind = "directory"
    else:
        kind = "other"
    state = {"exists": True, "type": kind, "mode": "%04o" % stat.S_IMODE(st.st_mode),
             "owner": _name(pwd.getpwuid, st.st_uid), "group": _name(grp.getgrgid, st.st_gid)}
    if kind == "file":
        state["checksum"] = _sha1(path)
    return state


def _name(lookup, number):
    try:
        return lookup(number)[0]
    except KeyError:
        return str(number)


def _sha1(path):
    digest = hashlib.sha1()  # nosec: the checksum Ansible compares files with, not a security use
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(65536), b""):
            digest.update(block)
    return digest.hexdigest()


def content_checksum(text):
    """The SHA-1 of rendered text as it would be written (UTF-8)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()  # nosec: as _sha1


def in_place(want, state):
    """True when the path described by `state` (file_state) already is what `want` asks: of the
    `type` asked (file, the default, or directory), for a file the same content (`checksum`),
    and, where `want` names them, the same `mode` (an octal string), `owner` and `group`. Anything
    this cannot judge for certain counts as not in place. With `force` false any existing path is
    in place, as for the template and copy modules."""
    if want.get("force") is False and state.get("exists"):
        # Written when missing only (force=false): ansible.builtin.template then leaves whatever
        # is there alone, content, owner and mode.
        return True
    if not state.get("exists") or state.get("type") != want.get("type", "file"):
        return False
    if state["type"] == "file" and state.get("checksum") != want["checksum"]:
        return False
    mode = want.get("mode")
    if mode is not None:
        if not isinstance(mode, str) or not _OCTAL_MODE.match(mode):
            return False
        if int(mode, 8) != int(state["mode"], 8):
            return False
    for key in ("owner", "group"):
        if want.get(key) is not None and str(want[key]) != state.get(key):
            return False
    return True
