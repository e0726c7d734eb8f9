# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.imip.server.plugins.modules import keychain_item

from ..common import SYSTEMD_CREDS

SECRET = "Keychain test: s3cr\u00e9t!"
OTHER = "Stale-Password-7"


def test_file_backend_converges_then_is_idempotent(run_module, tmp_path):
    store = tmp_path / "keychain"
    args = dict(name="imip-gateway.smtp", secret=SECRET, account="invites@example.test", backend="file", path=str(store))
    first = run_module(keychain_item, args)
    assert first.result["changed"] is True and first.rc == 0
    assert first.result["backend"] == "file" and first.result["item_path"] == str(store / "imip-gateway.smtp")
    assert (store / "imip-gateway.smtp").read_text() == SECRET
    assert stat.S_IMODE(os.stat(store).st_mode) == 0o700
    assert json.loads((store / "imip-gateway.smtp.meta").read_text()) == {"account": "invites@example.test"}
    second = run_module(keychain_item, args)
    assert second.result["changed"] is False


def test_check_mode_and_diff_say_the_secret_would_change(run_module, tmp_path):
    os.chmod(tmp_path, 0o700)
    (tmp_path / "item").write_text(OTHER)
    run = run_module(keychain_item, dict(name="item", secret=SECRET, backend="file", path=str(tmp_path)), check=True, diff=True)
    assert run.result["changed"] is True
    assert run.result["diff"]["before"]["secret"] == "(hidden)"
    assert run.result["diff"]["after"]["secret"] == "(hidden, changed)"
    assert (tmp_path / "item").read_text() == OTHER, "check mode writes nothing"


def test_account_change_alone_is_a_change(run_module, tmp_path):
    args = dict(name="item", secret=SECRET, backend="file", path=str(tmp_path / "k"), account="a@example.test")
    run_module(keychain_item, args)
    run = run_module(keychain_item, dict(args, account="b@example.test"), diff=True)
    assert run.result["changed"] is True
    assert run.result["diff"]["before"]["account"] == "a@example.test" and run.result["diff"]["after"]["account"] == "b@example.test"
    assert run_module(keychain_item, dict(args, account=None)).result["changed"] is False, "no account: metadata kept"


def test_absent(run_module, tmp_path):
    args = dict(name="item", secret=SECRET, backend="file", path=str(tmp_path / "k"))
    run_module(keychain_item, args)
    assert run_module(keychain_item, dict(name="item", state="absent", backend="file", path=str(tmp_path / "k"))).result["changed"] is True
    assert list((tmp_path / "k").iterdir()) == []
    assert run_module(keychain_item, dict(name="item", state="absent", backend="file", path=str(tmp_path / "k"))).result["changed"] is False


@pytest.mark.parametrize("args, message", [
    (dict(name="item"), "state is present but all of the following are missing: secret"),
    (dict(name="../x", secret=SECRET), "invalid keychain item name"),
    (dict(name="item", secret="a\nb"), "must not contain line breaks"),
])
def test_bad_input_fails_clearly(run_module, tmp_path, args, message):
    run = run_module(keychain_item, dict(args, backend="file", path=str(tmp_path)))
    assert run.failed and message in run.result["msg"] and run.rc == 1


@pytest.mark.skipif(not SYSTEMD_CREDS, reason="systemd-creds cannot encrypt on this host")
def test_auto_backend_uses_systemd_creds(run_module, tmp_path):
    args = dict(name="imip-gateway.smtp", secret=SECRET, path=str(tmp_path))
    run = run_module(keychain_item, args)
    assert run.result["backend"] == "systemd_creds" and run.result["item_path"] == str(tmp_path / "imip-gateway.smtp.cred")
    encrypted = (tmp_path / "imip-gateway.smtp.cred").read_bytes()
    assert run_module(keychain_item, args).result["changed"] is False
    assert (tmp_path / "imip-gateway.smtp.cred").read_bytes() == encrypted, "never re-encrypted when the value is the same"
    assert run_module(keychain_item, dict(args, secret=OTHER)).result["changed"] is True


@pytest.mark.parametrize("backend", ["file"] + (["systemd_creds"] if SYSTEMD_CREDS else []))
def test_nothing_returned_tells_the_secrets_length(run_module, tmp_path, backend):
    """Ansible adds a returned `path`'s stats (size!) to the result: the module returns none."""
    results = []
    for secret in ("short", "a much, much longer secret of another length"):
        store = tmp_path / ("k%d" % len(results))
        args = dict(name="imip-gateway.smtp", secret=secret, account="invites@example.test", backend=backend, path=str(store))
        for check in (True, False, False):
            run = run_module(keychain_item, args, check=check, diff=True)
            results.append(json.loads(json.dumps(run.result).replace(str(store), "STORE")))
    assert "path" not in results[0] and "size" not in results[0]
    assert results[:3] == results[3:], "the same results, whatever the secret's length"
    assert [r["changed"] for r in results[:3]] == [True, True, False]


def test_query_says_where_an_item_is_and_how_a_unit_loads_it(run_module, tmp_path, monkeypatch):
    """state=query: the systemd-creds store wins over a file-store copy; nothing is read or changed."""
    from ansible_collections.imip.server.plugins.module_utils import _keychain
    creds, files = tmp_path / "credstore.encrypted", tmp_path / "keychain"
    monkeypatch.setattr(_keychain, "DEFAULT_PATHS", {"systemd_creds": str(creds), "file": str(files)})
    run_module(keychain_item, dict(name="imip-gateway.smtp", secret=SECRET, backend="file", path=str(files)))
    query = dict(name="imip-gateway.smtp", state="query")

    in_file = run_module(keychain_item, query, check=True)
    assert in_file.rc == 0 and in_file.result["changed"] is False
    assert in_file.result["found"] is True and in_file.result["backend"] == "file"
    assert in_file.result["credential"] == "LoadCredential=imip-gateway.smtp:%s/imip-gateway.smtp" % files
    assert SECRET not in json.dumps(in_file.result)

    creds.mkdir()
    (creds / "imip-gateway.smtp.cred").write_bytes(b"sealed")
    sealed = run_module(keychain_item, query)
    assert sealed.result["backend"] == "systemd_creds"
    assert sealed.result["item_path"] == "%s/imip-gateway.smtp.cred" % creds
    assert sealed.result["credential"] == (
        "LoadCredentialEncrypted=imip-gateway.smtp:%s/imip-gateway.smtp.cred" % creds)

    missing = run_module(keychain_item, dict(name="imip-gateway.imap", state="query"))
    assert missing.result["found"] is False and missing.result["credential"] == ""
    assert missing.result["item_path"] == "%s/imip-gateway.imap.cred" % creds

    only_file = run_module(keychain_item, dict(name="imip-gateway.smtp", state="query", backend="file"))
    assert only_file.result["backend"] == "file" and only_file.result["found"] is True

    bad = run_module(keychain_item, dict(name=".hidden", state="query"))
    assert bad.rc != 0 and "invalid keychain item name" in bad.result["msg"]
