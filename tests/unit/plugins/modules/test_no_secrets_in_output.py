# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""No test password, hash or stored value in anything the modules print, in any mode.

Ansible masks the values of no_log options in module output, but the parity modules also
read passwords and hashes from files (in an audit, none of them is an option): those must
stay out of results, messages and diffs by construction.
"""

from __future__ import annotations

import re

from ansible_collections.imip.server.plugins.modules import keychain_item, password_parity, password_parity_info

from ..conftest import OTHER
from ..module_utils.test_dovecot_hash import DOVEADM, PASSWORD
from ..module_utils.test_parity import closed_port

NEW = "Brand-New-Password-8"


def _hash_parts(text):
    """Every {SCHEME}hash field, and the salt/digest pieces inside it, found in `text`."""
    parts = set()
    for field in re.findall(r"\{[A-Z0-9-]+\}[^:\n]+", text):
        parts.add(field)
        parts.update(piece for piece in re.split(r"[${},=]", field) if len(piece) >= 8)
    return parts


def test_no_secret_or_hash_in_any_module_output(run_module, site, tmp_path):
    tmp, stores = site
    port = closed_port()
    stores = stores + [dict(name="live-smtp", type="probe_smtp", host="127.0.0.1", port=port, username="inv", security="none")]
    kc = dict(name="imip-gateway.imap", backend="file", path=str(tmp_path / "kc"))
    forbidden = {PASSWORD, OTHER, NEW} | _hash_parts((tmp / "users").read_text(encoding="utf-8")) | _hash_parts("\n".join(DOVEADM.values()))

    runs = [
        run_module(keychain_item, dict(kc, secret=OTHER, account="invites@example.test"), diff=True),
        run_module(keychain_item, dict(kc, secret=PASSWORD), check=True, diff=True),
        run_module(keychain_item, dict(kc, secret=PASSWORD), diff=True),
        run_module(password_parity_info, dict(stores=stores)),                       # audit: values read from files
        run_module(password_parity_info, dict(stores=stores, secret=PASSWORD)),
        run_module(password_parity, dict(stores=stores, secret=PASSWORD), check=True, diff=True),
        run_module(password_parity, dict(stores=stores[:-1], secret=NEW), diff=True),  # rewrites every store
        run_module(password_parity_info, dict(stores=stores[:-1])),                  # audit after the rewrite
        run_module(password_parity, dict(stores=stores, secret=PASSWORD), diff=True),  # fails on the probe
        run_module(keychain_item, dict(kc, state="absent"), diff=True),
    ]
    forbidden |= _hash_parts((tmp / "users").read_text(encoding="utf-8"))  # the hash written for NEW
    # The capture works and the runs did what they should; otherwise this test would prove nothing.
    assert len(run_module.outputs) == len(runs) == 10
    assert runs[3].result["drifted"] == ["gateway-smtp"] and runs[6].result["changed"] is True
    assert runs[8].failed and "live-smtp" in runs[8].raw and "diff" in runs[5].result
    assert OTHER in (tmp / "gateway.ini").read_text() or NEW in (tmp / "gateway.ini").read_text()
    for raw in run_module.outputs:
        for value in forbidden:
            assert value not in raw
