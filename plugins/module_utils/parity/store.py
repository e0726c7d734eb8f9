# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""What every store of password parity is: the Store base class, its statuses and errors
(private to imip.server).

A store is one stored copy of the password. Each type (parity.keychain_store,
parity.file_stores, parity.probe_stores) declares its own options, the rules its spec and the
secret must follow, how it reads, compares and (if writable) stages a write, and its messages;
the engine (parity.engine) only calls these methods.

Messages name files, keys, users and hosts; never a value, a hash or a line's content.
"""

from __future__ import annotations

# A store's status after a run.
MATCH, DRIFT, ABSENT, ERROR = "match", "drift", "missing", "error"


class ParityInputError(Exception):
    """Bad module input; the module fails before reading or writing anything."""


class StoreError(Exception):
    """A store cannot be read, parsed, written or probed; the message says where and why."""


class _Missing(object):
    def __repr__(self):
        return "MISSING"


MISSING = _Missing()

# Options that every writable store type declares alike.
CREATE = dict(type="bool")
READONLY = dict(type="bool")


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
