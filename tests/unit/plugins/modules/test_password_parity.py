# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Both parity modules, driven through AnsibleModule, on the incident of the issue."""

from __future__ import annotations

import os

import pytest

from ansible_collections.imip.server.plugins.module_utils import _dovecot_hash as dh
from ansible_collections.imip.server.plugins.modules import password_parity, password_parity_info

from ..common import GATEWAY_INI, NEW, OTHER, PASSWORD, by_name, closed_port, snapshot


def test_info_audit_names_exactly_the_drifted_copy(run_module, site):
    tmp, stores = site
    before = snapshot(tmp)
    run = run_module(password_parity_info, dict(stores=stores))
    assert run.rc == 0 and run.result["changed"] is False
    assert run.result["drifted"] == ["gateway-smtp"] and run.result["in_parity"] is False
    assert run.result["groups"][1] == ["gateway-smtp"]
    assert snapshot(tmp) == before


def test_info_with_secret_and_a_broken_store_still_reports_the_rest(run_module, site):
    tmp, stores = site
    (tmp / "dir").mkdir()
    stores.append(dict(name="broken", type="file", path=str(tmp / "dir")))
    run = run_module(password_parity_info, dict(stores=stores, secret=PASSWORD))
    assert run.rc == 0 and not run.failed
    assert by_name(run.result)["broken"]["msg"] == "cannot read %s: Is a directory" % (tmp / "dir")
    assert by_name(run.result)["gateway-imap"]["status"] == "match"
    assert run.result["drifted"] == ["gateway-smtp"]


def test_info_in_check_mode_is_the_same(run_module, site):
    _tmp, stores = site
    assert run_module(password_parity_info, dict(stores=stores, secret=PASSWORD), check=True).result["drifted"] == ["gateway-smtp"]


def warnings(run):
    """The warnings' text (plain strings, or ansible-core's structured warning summaries)."""
    return [w if isinstance(w, str) else w["event"]["msg"] for w in run.result.get("warnings", [])]


def test_rotation_check_then_one_run_then_nothing(run_module, rotation):
    """The incident this collection exists for: the password is changed, every copy is stale."""
    tmp, stores = rotation
    before = snapshot(tmp)
    check = run_module(password_parity, dict(stores=stores, secret=NEW), check=True, diff=True)
    assert check.rc == 0 and check.result["changed"] is True and check.result["in_parity"] is False
    assert [d["before_header"].split(" ")[0] for d in check.result["diff"]] == [s["name"] for s in stores]
    assert snapshot(tmp) == before

    fix = run_module(password_parity, dict(stores=stores, secret=NEW), diff=True)
    assert fix.rc == 0 and not fix.failed and fix.result["changed"] is True and fix.result["in_parity"] is True
    assert "groups" not in fix.result
    assert (tmp / "gateway.ini").read_text() == GATEWAY_INI.format(smtp=NEW, imap=NEW)

    again = run_module(password_parity, dict(stores=stores, secret=NEW), diff=True)
    assert again.result["changed"] is False and again.result["in_parity"] is True and "diff" not in again.result
    audit = run_module(password_parity_info, dict(stores=stores))
    assert audit.result["in_parity"] is True and audit.result["groups"] == [[s["name"] for s in stores]]
    assert run_module(password_parity_info, dict(stores=stores, secret=OTHER)).result["drifted"] == [s["name"] for s in stores]


def test_a_world_readable_copy_is_a_warning_or_with_fail_an_error(run_module, rotation):
    tmp, stores = rotation
    os.chmod(tmp / "gateway.ini", 0o644)
    run = run_module(password_parity_info, dict(stores=stores, secret=OTHER))
    assert run.result["in_parity"] is True
    assert warnings(run) == ["%s holds a copy of the password (gateway-smtp, gateway-imap) and is world-readable "
                             "(mode 0644); fix: chmod o-rwx,g-w %s" % (tmp / "gateway.ini", tmp / "gateway.ini")]
    before = snapshot(tmp)
    run = run_module(password_parity, dict(stores=stores, secret=NEW, insecure_files="fail"))
    assert run.failed and run.result["msg"].startswith(
        "cannot bring the password into parity: gateway-smtp: %s holds a copy of the password" % (tmp / "gateway.ini"))
    assert snapshot(tmp) == before


def test_an_input_rule_fails_before_anything_is_written(run_module, rotation):
    tmp, stores = rotation
    before = snapshot(tmp)
    run = run_module(password_parity, dict(stores=stores, secret=NEW + " "))
    assert run.failed and run.result["msg"] == ("store gateway-smtp (ini): the password cannot be an ini value: it starts "
                                                "or ends with white space, which an ini value cannot keep")
    assert snapshot(tmp) == before


def test_parity_check_diff_then_fix_then_nothing(run_module, site):
    tmp, stores = site
    before = snapshot(tmp)
    check = run_module(password_parity, dict(stores=stores, secret=PASSWORD), check=True, diff=True)
    assert check.rc == 0 and check.result["changed"] is True and snapshot(tmp) == before
    assert [d["before_header"].split(" ")[0] for d in check.result["diff"]] == ["gateway-smtp"]
    assert check.result["in_parity"] is False

    fix = run_module(password_parity, dict(stores=stores, secret=PASSWORD), diff=True)
    assert fix.rc == 0 and fix.result["changed"] is True and fix.result["in_parity"] is True
    assert (tmp / "gateway.ini").read_text() == GATEWAY_INI.format(smtp=PASSWORD, imap=PASSWORD)

    again = run_module(password_parity, dict(stores=stores, secret=PASSWORD), diff=True)
    assert again.result["changed"] is False and "diff" not in again.result
    assert run_module(password_parity_info, dict(stores=stores)).result["in_parity"] is True


def test_parity_fails_and_writes_nothing_when_a_store_is_unreadable(run_module, site):
    tmp, stores = site
    (tmp / "dir").mkdir()
    stores.append(dict(name="broken", type="ini", path=str(tmp / "dir"), section="s", key="password"))
    before = snapshot(tmp)
    run = run_module(password_parity, dict(stores=stores, secret=PASSWORD))
    assert run.failed and run.rc == 1
    assert run.result["msg"] == "cannot bring the password into parity: broken: cannot read %s: Is a directory" % (tmp / "dir")
    assert by_name(run.result)["gateway-smtp"]["status"] == "drift" and snapshot(tmp) == before


def test_parity_fails_when_a_probe_cannot_connect(run_module, site):
    _tmp, stores = site
    port = closed_port()
    stores.append(dict(name="live-imap", type="probe_imap", host="127.0.0.1", port=port, username="inv"))
    run = run_module(password_parity, dict(stores=stores, secret=PASSWORD))
    assert run.failed
    assert "live-imap: IMAP 127.0.0.1:%d: cannot connect: Connection refused" % port in run.result["msg"]


def test_parity_fails_when_still_not_in_parity(run_module, site):
    _tmp, stores = site
    stores[1]["readonly"] = True
    run = run_module(password_parity, dict(stores=stores, secret=PASSWORD))
    assert run.failed and run.result["msg"].startswith("still not in parity: gateway-smtp:")
    check = run_module(password_parity, dict(stores=stores, secret=PASSWORD), check=True)
    assert not check.failed and check.result["changed"] is False and check.result["in_parity"] is False


@pytest.mark.parametrize("module", [password_parity, password_parity_info])
def test_missing_passlib_says_how_to_install(run_module, site, monkeypatch, module):
    _tmp, stores = site
    monkeypatch.setattr(dh, "_passlib_hash", None)
    run = run_module(module, dict(stores=stores, secret=PASSWORD))
    assert run.failed and "python3-passlib" in run.result["msg"] and "libpass" in run.result["msg"]


@pytest.mark.parametrize("module", [password_parity, password_parity_info])
def test_bad_store_options_fail_before_anything(run_module, tmp_path, module):
    run = run_module(module, dict(secret=PASSWORD, stores=[dict(name="a", type="file", path=str(tmp_path / "x"), key="k")]))
    assert run.failed and run.result["msg"].startswith("store a (file): option key does not apply")
    run = run_module(module, dict(secret=PASSWORD, stores=[dict(name="a", type="nope")]))
    assert run.failed and "value of type must be one of" in run.result["msg"]


def test_parity_requires_the_secret(run_module, site):
    _tmp, stores = site
    run = run_module(password_parity, dict(stores=stores))
    assert run.failed and "missing required arguments: secret" in run.result["msg"]
