# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""dkim_keys driven through AnsibleModule, with real keys from the host's openssl."""

from __future__ import annotations

import base64
import grp
import os
import pwd
import subprocess

import pytest

from ansible_collections.imip.server.plugins.module_utils import _dkim_keys as dk
from ansible_collections.imip.server.plugins.modules import dkim_keys as mod


def openssl(argv, data):
    """The module's runner outside a module: (rc, stdout, stderr) with data on stdin."""
    proc = subprocess.run(argv, input=data, capture_output=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def me():
    return pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name


def args(directory, selectors, **extra):
    owner, group = me()
    return dict(dict(directory=str(directory), selectors=selectors, owner=owner, group=group, bits=1024), **extra)


def record_key(record):
    """The public key DER of a `v=DKIM1; k=rsa; p=...` record."""
    assert record.startswith("v=DKIM1; k=rsa; p=")
    return base64.b64decode(record.split("p=", 1)[1])


def test_a_key_is_made_once_and_its_record_matches_the_file(tmp_path, run_module):
    first = run_module(mod, args(tmp_path, ["imip1"]))
    assert first.rc == 0 and first.result["changed"] and first.result["made"] == ["imip1"]
    key_file = tmp_path / "imip1.key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert record_key(first.result["public_keys"]["imip1"]) == dk.public_der(key_file.read_bytes(), openssl)
    # The record a verifier fetches checks a signature made with the file's key.
    signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(key_file)], input=b"mail",
                               capture_output=True, check=True).stdout
    public = tmp_path / "pub.der"
    public.write_bytes(record_key(first.result["public_keys"]["imip1"]))
    (tmp_path / "sig").write_bytes(signature)
    verified = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(public), "-keyform", "DER",
                               "-signature", str(tmp_path / "sig")], input=b"mail", capture_output=True, check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    again = run_module(mod, args(tmp_path, ["imip1"]))
    assert not again.result["changed"] and again.result["public_keys"] == first.result["public_keys"]
    assert key_file.read_bytes()  # kept, not remade


def test_check_mode_makes_nothing_and_reports_the_new_selector(tmp_path, run_module):
    run = run_module(mod, args(tmp_path, ["imip1"]), check=True, diff=True)
    assert run.result["changed"] and run.result["made"] == ["imip1"] and run.result["public_keys"] == {}
    assert "imip1: new key" in run.result["diff"]["after"]
    assert list(tmp_path.iterdir()) == []


def test_a_given_key_is_written_and_never_shown(tmp_path, run_module):
    pem = dk.generate(1024, openssl).decode()
    run = run_module(mod, args(tmp_path, ["imip1"], keys={"imip1": pem}), diff=True)
    assert run.result["changed"] and (tmp_path / "imip1.key").read_text().strip() == pem.strip()
    assert record_key(run.result["public_keys"]["imip1"]) == dk.public_der(pem.encode(), openssl)
    body = pem.strip().splitlines()[1]
    assert body not in "".join(run_module.outputs)
    # The same key again: nothing to do; a file changed behind our back is rewritten.
    assert not run_module(mod, args(tmp_path, ["imip1"], keys={"imip1": pem})).result["changed"]
    (tmp_path / "imip1.key").write_bytes(dk.generate(1024, openssl))
    fixed = run_module(mod, args(tmp_path, ["imip1"], keys={"imip1": pem}))
    assert fixed.result["replaced"] == ["imip1"] and (tmp_path / "imip1.key").read_text().strip() == pem.strip()


def test_rotation_keeps_both_keys_then_retires_the_old_one(tmp_path, run_module):
    old = run_module(mod, args(tmp_path, ["imip1"])).result["public_keys"]["imip1"]
    both = run_module(mod, args(tmp_path, ["imip1", "imip2"]))
    assert both.result["made"] == ["imip2"] and both.result["public_keys"]["imip1"] == old
    assert both.result["public_keys"]["imip2"] != old
    after = run_module(mod, args(tmp_path, ["imip2"]), check=True)
    assert after.result["retired"] == ["imip1"] and (tmp_path / "imip1.key").exists()
    after = run_module(mod, args(tmp_path, ["imip2"]))
    assert after.result["retired"] == ["imip1"] and not (tmp_path / "imip1.key").exists()
    assert list(after.result["public_keys"]) == ["imip2"]


def test_a_broken_key_file_is_replaced_with_a_warning(tmp_path, run_module):
    (tmp_path / "imip1.key").write_text("not a key\n")
    run = run_module(mod, args(tmp_path, ["imip1"]))
    assert run.result["replaced"] == ["imip1"] and "holds no usable DKIM key" in str(run.result.get("warnings"))
    assert dk.public_der((tmp_path / "imip1.key").read_bytes(), openssl)


def test_a_loose_mode_is_fixed(tmp_path, run_module):
    run_module(mod, args(tmp_path, ["imip1"]))
    os.chmod(tmp_path / "imip1.key", 0o644)
    run = run_module(mod, args(tmp_path, ["imip1"]))
    assert run.result["changed"] and run.result["owner_fixed"] == ["imip1"]
    assert oct((tmp_path / "imip1.key").stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("extra, message", [
    (dict(selectors=["imip_1"]), "selectors: 'imip_1' is not a DNS label"),
    (dict(selectors=[]), "selectors is empty"),
    (dict(selectors=["a", "a"]), "lists a selector twice"),
    (dict(keys={"other": "x"}), "keys has a key for 'other', which is not in selectors"),
    (dict(keys={"imip1": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"}), "keys[imip1] is not a usable DKIM key"),
    (dict(bits=512), "bits is 512"),
])
def test_bad_input_is_named_and_nothing_is_written(tmp_path, run_module, extra, message):
    given = dict(args(tmp_path, ["imip1"]), **extra)
    run = run_module(mod, given)
    assert run.result.get("failed") and message in run.result["msg"]
    assert list(tmp_path.iterdir()) == []


def test_an_ed25519_key_is_refused(tmp_path, run_module):
    ed = subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519"], capture_output=True, check=True).stdout.decode()
    run = run_module(mod, args(tmp_path, ["imip1"], keys={"imip1": ed}))
    assert run.result.get("failed") and "not an RSA key" in run.result["msg"]


def test_modulus_bits_reads_the_key_size():
    for bits in (1024, 2048):
        assert dk.modulus_bits(dk.public_der(dk.generate(bits, openssl), openssl)) == bits


def test_the_directory_is_made_for_the_signer_only(tmp_path, run_module):
    keys = tmp_path / "keys"
    assert run_module(mod, args(keys, ["imip1"]), check=True).result["changed"] and not keys.exists()
    run = run_module(mod, args(keys, ["imip1"]))
    assert run.result["made"] == ["imip1"] and oct(keys.stat().st_mode & 0o777) == "0o750"


def test_check_mode_on_a_host_without_the_signer(tmp_path, run_module):
    """--check on a fresh host: neither the signer's directory nor its user exist yet."""
    run = run_module(mod, dict(args(tmp_path / "etc" / "keys", ["imip1"]), owner="no-such-signer", group="no-such-signer"),
                     check=True)
    assert run.rc == 0 and run.result["made"] == ["imip1"] and run.result["public_keys"] == {}
    failed = run_module(mod, dict(args(tmp_path / "etc" / "keys", ["imip1"]), owner="no-such-signer", group="no-such-signer"))
    assert failed.result.get("failed") and "does not exist" in failed.result["msg"]
