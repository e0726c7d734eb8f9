# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Atomic, permission-preserving file writes for secret-bearing files (private to imip.server)."""

from __future__ import annotations

import errno
import os
import stat
import tempfile

# Group write, others write, others read: who must have none of these on a file holding a
# secret or a hash. Group read is fine (Dovecot reads its passwd-file as group dovecot).
LOOSE_BITS = 0o026


def strip_newline(text):
    """A stored secret without its trailing line break(s)."""
    return text.rstrip("\r\n")


def os_reason(exc):
    """The OS reason of an OSError, without Python's repr noise."""
    return exc.strerror or str(exc)


def loose_mode(path):
    """The mode of the file at `path` (a link's target) when it is group- or world-writable or
    world-readable, else None (also None when the file does not exist)."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None
    return mode if mode & LOOSE_BITS else None


def describe_loose_mode(mode):
    """What is wrong with `mode` in words: 'world-readable', 'group-writable and world-writable'."""
    what = []
    if mode & 0o020:
        what.append("group-writable")
    if mode & 0o002:
        what.append("world-writable")
    if mode & 0o004:
        what.append("world-readable")
    return " and ".join(what)


class ReadError(Exception):
    """A file that exists but cannot be read as UTF-8 text; the message names path and reason."""


def read_text(path):
    """The file's text, or None when it does not exist.

    Raises ReadError with the OS reason, or with the line of the first byte that is not UTF-8
    (never the line's content: it may hold a secret).
    """
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ReadError("cannot read %s: %s" % (path, os_reason(exc)))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReadError("%s line %d: not UTF-8 text" % (path, raw[:exc.start].count(b"\n") + 1))


def atomic_write(path, data, new_mode=0o600):
    """Replace `path` with `data` (bytes) through a temporary file and rename.

    An existing file keeps its owner, group and mode; a new file gets `new_mode` and the
    caller's owner. The temporary file is created 0600 in the same directory, so the secret
    is never world-readable, not even for a moment, and readers see the old or the new
    content, never a mix.

    A symbolic link is kept and its target is written (as AnsibleModule.atomic_move does):
    replacing the link with a file would leave the target, which others read, stale.
    Returns the path that was written.
    """
    if os.path.islink(path):
        path = os.path.realpath(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        current = os.stat(path)
    except FileNotFoundError:
        current = None
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if current is not None:
                os.fchmod(handle.fileno(), current.st_mode & 0o7777)
                try:
                    os.fchown(handle.fileno(), current.st_uid, current.st_gid)
                except PermissionError:
                    # Not root: chown to another owner is impossible; keep going only when
                    # the owner would not change anyway.
                    if (current.st_uid, current.st_gid) != (os.geteuid(), os.getegid()):
                        raise
            else:
                os.fchmod(handle.fileno(), new_mode)
            os.fsync(handle.fileno())
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError as exc:  # pragma: no cover
            if exc.errno != errno.ENOENT:
                raise
        raise
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover
        return path
    try:
        os.fsync(dir_fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(dir_fd)
    return path
