# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""No test password, hash or stored value in anything the modules print, in any mode.

Ansible masks the values of no_log options in module output, but the parity modules also
read passwords and hashes from files (in an audit, none of them is an option): those must
stay out of results, messages and diffs by construction.
"""

from __future__ import annotations

from ansible_collections.imip.server.plugins.modules import keychain_item, password_parity, password_parity_info

from ..common import DOVEADM, GATEWAY_INI, NEW, OTHER, PASSWORD, USER, LocalServer, SmtpHandler, closed_port, hash_parts


def test_no_secret_or_hash_in_any_module_output(run_module, site, tmp_path):
    tmp, stores = site
    port = closed_port()
    stores = stores + [dict(name="live-smtp", type="probe_smtp", host="127.0.0.1", port=port, username="inv", security="none")]
    kc = dict(name="imip-gateway.imap", backend="file", path=str(tmp_path / "kc"))
    forbidden = {PASSWORD, OTHER, NEW} | hash_parts((tmp / "users").read_text(encoding="utf-8")) | hash_parts("\n".join(DOVEADM.values()))

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
    forbidden |= hash_parts((tmp / "users").read_text(encoding="utf-8"))  # the hash written for NEW
    # The capture works and the runs did what they should; otherwise this test would prove nothing.
    assert len(run_module.outputs) == len(runs) == 10
    assert runs[3].result["drifted"] == ["gateway-smtp"] and runs[6].result["changed"] is True
    assert runs[8].failed and "live-smtp" in runs[8].raw and "diff" in runs[5].result
    # run 6 rewrote every store to NEW; run 8 failed on the probe after rewriting to PASSWORD
    assert (tmp / "gateway.ini").read_text() == GATEWAY_INI.format(smtp=PASSWORD, imap=PASSWORD)
    for raw in run_module.outputs:
        for value in forbidden:
            assert value not in raw


def test_a_server_echoing_the_password_leaks_nothing_into_module_output(run_module, site):
    _tmp, stores = site
    with LocalServer(SmtpHandler, mechanisms="PLAIN", auth_code=454, echo=True) as server:
        live = dict(name="live-smtp", type="probe_smtp", host="127.0.0.1", port=server.port, username=USER,
                    security="none", timeout=5)
        runs = [run_module(password_parity, dict(stores=stores + [live], secret=PASSWORD), diff=True),
                run_module(password_parity_info, dict(stores=stores + [live], secret=PASSWORD)),
                run_module(password_parity_info, dict(stores=stores + [live]))]
        assert len(server.seen) == 3 and all(seen[1] == PASSWORD.encode("utf-8") for seen in server.seen)
    # With `secret` given, Ansible's no_log would mask its exact value anyway; in the audit (run 3)
    # Ansible knows no password: the values come from files, and only the module's own masking
    # keeps the echo out.
    assert runs[0].failed and "AUTH answered 454: 4.7.0 Temporary authentication failure for %s/********" % USER in runs[0].raw
    audit = [s for s in runs[2].result["stores"] if s["name"] == "live-smtp"][0]
    assert audit["status"] == "error"
    assert audit["msg"].endswith("AUTH answered 454: 4.7.0 Temporary authentication failure for %s/********" % USER)
    for run in runs:
        assert PASSWORD not in run.raw
        assert PASSWORD.encode("utf-8").decode("ascii", "replace") not in run.raw
