# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The keychain store of password parity: an item of imip.server's keychain (private to imip.server).

The item is read and written with _keychain (systemd-creds or a root-only file), the library
the keychain_item module uses too.
"""

from __future__ import annotations

import os

from ansible_collections.imip.server.plugins.module_utils._fileio import loose_mode
from ansible_collections.imip.server.plugins.module_utils._keychain import (
    DEFAULT_PATHS as KEYCHAIN_PATHS,
    Keychain,
    KeychainError,
    resolve_backend,
)
from ansible_collections.imip.server.plugins.module_utils.parity.store import CREATE, MISSING, READONLY, Store, StoreError


class KeychainStore(Store):
    type = "keychain"
    options = dict(
        item=dict(type="str", required=True),
        backend=dict(type="str", choices=["auto", "systemd_creds", "file"]),
        path=dict(type="path"),
        create=CREATE,
        readonly=READONLY,
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
