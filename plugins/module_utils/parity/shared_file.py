# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Files shared by several stores of password parity (private to imip.server).

Stores that live in the same file (two ini keys, two passwd-file users) share one SharedFile:
each store edits the same in-memory text, and the engine writes each file once, after every
edit, so no store's write undoes another's.
"""

from __future__ import annotations

import os

from ansible_collections.imip.server.plugins.module_utils._fileio import ReadError, atomic_write, os_reason, read_text
from ansible_collections.imip.server.plugins.module_utils.parity.store import MISSING, StoreError


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
