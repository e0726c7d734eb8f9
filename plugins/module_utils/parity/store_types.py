# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Every store type of password parity and the `stores` option they make (private to imip.server)."""

from __future__ import annotations

from ansible_collections.imip.server.plugins.module_utils.parity.file_stores import IniStore, PasswdFileStore, WholeFileStore
from ansible_collections.imip.server.plugins.module_utils.parity.keychain_store import KeychainStore
from ansible_collections.imip.server.plugins.module_utils.parity.probe_stores import ImapProbe, SmtpProbe


STORE_CLASSES = [KeychainStore, IniStore, WholeFileStore, PasswdFileStore, SmtpProbe, ImapProbe]
TYPES = dict((cls.type, cls) for cls in STORE_CLASSES)


def _merged_options():
    """The `stores` suboptions of both modules: the union of every type's options.

    `required` is per type (checked by the engine), so it is left out here; an option
    declared by several types must be declared alike.
    """
    merged = dict(name=dict(type="str", required=True),
                  type=dict(type="str", required=True, choices=[cls.type for cls in STORE_CLASSES]))
    for cls in STORE_CLASSES:
        for option, declared in cls.options.items():
            spec = dict((k, v) for k, v in declared.items() if k != "required")
            if merged.setdefault(option, spec) != spec:
                raise AssertionError("option %s is declared differently by two store types" % option)
    return merged


STORE_OPTIONS = _merged_options()
