# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The keychain: file backend, and systemd-creds for real where the host can run it."""

from __future__ import annotations

import json
import os
import stat
import subprocess

import pytest

from ansible_collections.imip.server.plugins.module_utils import _keychain as kc

from ..common import needs_systemd_creds, run_subprocess

SECRET = "Keychain test: s3cr\u00e9t!"
OTHER = "Stale-Password-7"


class Recorder(object):
    """Wrap the real runner and record argv and stdin, to prove where the secret travels."""

    def __init__(self):
        self.calls = []

    def __call__(self, argv, data=None):
        self.calls.append((list(argv), data))
        return run_subprocess(argv, data)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_file_backend_roundtrip_modes_and_meta(tmp_path):
    store = tmp_path / "etc" / "keychain"
    chain = kc.Keychain("file", str(store))
    assert chain.read("imip-gateway.smtp") is None
    plan = kc.plan_item(chain, "imip-gateway.smtp", SECRET, "invites@example.test", "present")
    assert plan["changes"] == ["secret", "account", "directory"]
    assert not store.exists(), "planning writes nothing"
    kc.apply_item(chain, "imip-gateway.smtp", SECRET, "invites@example.test", "present", plan)
    item = store / "imip-gateway.smtp"
    assert item.read_bytes() == SECRET.encode("utf-8")
    assert mode(item) == 0o600 and mode(store) == 0o700
    assert json.loads((store / "imip-gateway.smtp.meta").read_text()) == {"account": "invites@example.test"}
    assert mode(store / "imip-gateway.smtp.meta") == 0o600
    assert chain.read("imip-gateway.smtp") == SECRET
    again = kc.plan_item(chain, "imip-gateway.smtp", SECRET, "invites@example.test", "present")
    assert again["changes"] == []


def test_file_backend_trailing_newline_is_not_part_of_the_secret(tmp_path):
    (tmp_path / "x").write_text(SECRET + "\n")
    os.chmod(tmp_path, 0o700)
    chain = kc.Keychain("file", str(tmp_path))
    assert kc.plan_item(chain, "x", SECRET, None, "present")["changes"] == []


def test_changed_secret_keeps_owner_group_mode(tmp_path):
    os.chmod(tmp_path, 0o700)
    item = tmp_path / "item"
    item.write_text(OTHER)
    os.chmod(item, 0o640)
    os.chown(item, 0, 4)  # root:adm stays root:adm
    chain = kc.Keychain("file", str(tmp_path))
    plan = kc.plan_item(chain, "item", SECRET, None, "present")
    assert plan["changes"] == ["secret"]
    assert plan["diff"]["before"]["secret"] == "(hidden)"
    assert plan["diff"]["after"]["secret"] == "(hidden, changed)"
    kc.apply_item(chain, "item", SECRET, None, "present", plan)
    assert chain.read("item") == SECRET
    st = os.stat(item)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, 0, 4)
    assert [p.name for p in tmp_path.iterdir()] == ["item"], "no temporary file is left behind"


def test_loose_directory_mode_is_a_change(tmp_path):
    os.chmod(tmp_path, 0o755)
    (tmp_path / "x").write_text(SECRET)
    chain = kc.Keychain("file", str(tmp_path))
    plan = kc.plan_item(chain, "x", SECRET, None, "present")
    assert plan["changes"] == ["directory"]
    kc.apply_item(chain, "x", SECRET, None, "present", plan)
    assert mode(tmp_path) == 0o700


def test_absent_removes_item_and_meta(tmp_path):
    chain = kc.Keychain("file", str(tmp_path / "k"))
    chain.write("x", SECRET)
    chain.write_account("x", "a@example.test")
    plan = kc.plan_item(chain, "x", None, None, "absent")
    assert plan["changes"] == ["remove"]
    kc.apply_item(chain, "x", None, None, "absent", plan)
    assert list((tmp_path / "k").iterdir()) == []
    assert kc.plan_item(chain, "x", None, None, "absent")["changes"] == []


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "../x", "x.meta", "with space", "a:b"])
def test_bad_names_are_refused(name, tmp_path):
    with pytest.raises(kc.KeychainError, match="invalid keychain item name"):
        kc.Keychain("file", str(tmp_path)).item_path(name)


def test_auto_backend():
    assert kc.resolve_backend("auto", "/usr/bin/systemd-creds") == "systemd_creds"
    assert kc.resolve_backend("auto", None) == "file"
    assert kc.Keychain("file").path == "/etc/imip/keychain"


def test_systemd_creds_backend_without_binary_is_an_error(monkeypatch):
    monkeypatch.setattr(kc, "find_systemd_creds", lambda: None)
    with pytest.raises(kc.KeychainError, match="needs the systemd-creds binary"):
        kc.Keychain("systemd_creds", "/nonexistent")


def test_unreadable_item_names_path_and_reason(tmp_path):
    (tmp_path / "x").mkdir()  # a directory where the item should be: EISDIR, even for root
    with pytest.raises(kc.KeychainError, match=r"cannot read .*/x: Is a directory"):
        kc.Keychain("file", str(tmp_path)).read("x")


@needs_systemd_creds
def test_systemd_creds_roundtrip_secret_only_on_stdin(tmp_path):
    rec = Recorder()
    chain = kc.Keychain("systemd_creds", str(tmp_path / "credstore.encrypted"), run=rec)
    plan = kc.plan_item(chain, "imip-gateway.smtp", SECRET, None, "present")
    assert plan["changes"] == ["secret", "directory"]
    kc.apply_item(chain, "imip-gateway.smtp", SECRET, None, "present", plan)
    cred = tmp_path / "credstore.encrypted" / "imip-gateway.smtp.cred"
    assert plan["path"] == str(cred)
    assert mode(cred) == 0o600
    assert SECRET.encode("utf-8") not in cred.read_bytes(), "the item is encrypted"
    # systemd itself can decrypt it under the item's name
    out = subprocess.run([kc.find_systemd_creds(), "decrypt", "--name=imip-gateway.smtp", str(cred), "-"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True).stdout
    assert out == SECRET.encode("utf-8")
    encrypted = cred.read_bytes()
    # same value: decrypted and compared, never re-encrypted
    again = kc.plan_item(chain, "imip-gateway.smtp", SECRET, None, "present")
    assert again["changes"] == []
    assert cred.read_bytes() == encrypted
    for argv, _data in rec.calls:
        assert not any(SECRET in arg for arg in argv), "the secret never appears in argv"
    assert any(data == SECRET.encode("utf-8") for _argv, data in rec.calls), "it goes through stdin"
    changed = kc.plan_item(chain, "imip-gateway.smtp", OTHER, None, "present")
    assert changed["changes"] == ["secret"]


@needs_systemd_creds
def test_systemd_creds_wrong_name_is_an_error(tmp_path):
    chain = kc.Keychain("systemd_creds", str(tmp_path), run=run_subprocess)
    chain.write("right", SECRET)
    os.rename(tmp_path / "right.cred", tmp_path / "wrong.cred")
    with pytest.raises(kc.KeychainError, match=r"cannot decrypt .*wrong.cred with systemd-creds"):
        chain.read("wrong")
