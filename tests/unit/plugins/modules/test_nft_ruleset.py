# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""nft_ruleset and nft_ruleset_confirm against a fake `nft` (a tiny kernel kept in a JSON file) and
fake systemd tools: the four steps (check, apply, check unchanged, apply unchanged), drift, bad
rulesets, the rollback armed and the boot-time file written only on confirmation."""

from __future__ import annotations

import json
import os
import stat
import textwrap

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.imip.server.plugins.modules import nft_ruleset, nft_ruleset_confirm

FAKE_NFT = r'''#!/usr/bin/env python3
import json, os, re, sys
state = os.environ["FAKE_NFT_STATE"]
kernel = json.load(open(state)) if os.path.exists(state) else {}
args = sys.argv[1:]
with open(state + ".log", "a") as log:
    log.write(" ".join(args) + "\n")
def blocks(text):
    out, i = {}, 0
    for m in re.finditer(r"^table (\S+) (\S+) \{", text, re.M):
        depth, j = 0, m.end() - 1
        while True:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
            if depth == 0:
                break
        out[m.group(1) + " " + m.group(2)] = text[m.start():j] + "\n"
    return out
if args[:1] == ["-c"] or args[:1] == ["-f"]:
    text = open(args[-1]).read()
    if "BAD" in text:
        sys.stderr.write(args[-1] + ":5:1-3: Error: syntax error, unexpected BAD\n"); sys.exit(1)
    if args[0] == "-f":
        for t in re.findall(r"^delete table (\S+ \S+)$", text, re.M):
            kernel.pop(t, None)
        kernel.update(blocks(text))
        json.dump(kernel, open(state, "w"))
    sys.exit(0)
if args[:3] == ["-s", "list", "table"]:
    key = " ".join(args[3:5])
    if key not in kernel:
        sys.stderr.write("Error: No such file or directory\n"); sys.exit(1)
    sys.stdout.write(kernel[key]); sys.exit(0)
sys.exit(2)
'''

FAKE_LOGGER = "#!/bin/sh\necho \"$(basename $0) $*\" >> \"$FAKE_NFT_STATE.log\"\n"

RULESET = textwrap.dedent("""\
    table inet imip_filter
    delete table inet imip_filter
    table ip imip_nat
    delete table ip imip_nat
    table inet imip_filter {
    \tchain input { type filter hook input priority filter; policy drop; }
    }
    """)
TABLES = ["inet imip_filter", "ip imip_nat"]


@pytest.fixture
def host(tmp_path, monkeypatch):
    """A fake host: nft, systemctl and systemd-run on PATH; the kernel in kernel.json."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name, text in (("nft", FAKE_NFT), ("systemctl", FAKE_LOGGER), ("systemd-run", FAKE_LOGGER)):
        (bindir / name).write_text(text)
        (bindir / name).chmod(0o755)
    # systemctl is-active: "not active", so no rollback is pending.
    (bindir / "systemctl").write_text(FAKE_LOGGER + '[ "$1" = is-active ] && exit 3\nexit 0\n')
    monkeypatch.setenv("PATH", "%s:%s" % (bindir, os.environ["PATH"]))
    monkeypatch.setenv("FAKE_NFT_STATE", str(tmp_path / "kernel.json"))
    return tmp_path


def kernel(host):
    path = host / "kernel.json"
    return json.loads(path.read_text()) if path.exists() else {}


def log(host):
    path = host / "kernel.json.log"
    return path.read_text().splitlines() if path.exists() else []


def run(host, content=RULESET, check=False, diff=True, **extra):
    args = dict(content=content, path=str(host / "etc" / "firewall.nft"), tables=TABLES,
                state_dir=str(host / "state"), _ansible_check_mode=check, _ansible_diff=diff,
                _ansible_tmpdir=str(host))
    args.update(extra)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            nft_ruleset.main()


def confirm(host, **extra):
    args = dict(path=str(host / "etc" / "firewall.nft"), tables=TABLES, state_dir=str(host / "state"))
    args.update(extra)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            nft_ruleset_confirm.main()


@pytest.fixture
def result(capsys):
    def get():
        return json.loads(capsys.readouterr().out)
    return get


def test_check_apply_check_apply(host, result):
    run(host, check=True)
    first = result()
    assert first["changed"] and first["file_changed"] and not first["applied"]
    assert first["diff"][0]["after"] == RULESET
    assert kernel(host) == {} and not (host / "etc" / "firewall.nft").exists(), "check mode changes nothing"

    run(host)
    applied = result()
    assert applied["changed"] and applied["applied"] and not applied["rollback_armed"]
    assert list(kernel(host)) == ["inet imip_filter"]
    assert (host / "etc" / "firewall.nft").read_text() == RULESET
    assert stat.S_IMODE(os.stat(host / "state").st_mode) == 0o700
    assert (host / "state" / "applied.nft").read_text() == kernel(host)["inet imip_filter"]

    before = log(host)
    run(host, check=True)
    assert result()["changed"] is False
    run(host)
    again = result()
    assert again["changed"] is False and again["applied"] is False
    assert not [line for line in log(host)[len(before):] if line.startswith("-f")], "unchanged: the kernel is not touched"


def test_hand_edit_of_the_kernel_is_drift_and_repaired(host, result):
    run(host)
    result()
    state = kernel(host)
    state["inet imip_filter"] = state["inet imip_filter"].replace("policy drop;", "policy drop; tcp dport 8080 accept")
    (host / "kernel.json").write_text(json.dumps(state))
    run(host, check=True)
    drift = result()
    assert drift["changed"] and drift["drift"] and not drift["file_changed"]
    assert "8080" in drift["diff"][0]["before"] and "8080" not in drift["diff"][0]["after"]
    run(host)
    assert result()["applied"]
    assert "8080" not in kernel(host)["inet imip_filter"]


def test_other_tables_are_never_touched(host, result):
    (host / "kernel.json").write_text(json.dumps({"ip nat": "table ip nat {\n}\n"}))
    run(host)
    result()
    assert set(kernel(host)) == {"ip nat", "inet imip_filter"}
    assert not [line for line in log(host) if "flush" in line]


def test_bad_ruleset_fails_before_anything_is_written(host, result):
    run(host)
    result()
    run(host, content=RULESET.replace("policy drop;", "policy drop; BAD"))
    failed = result()
    assert failed["failed"] and "syntax error" in failed["msg"] and "validating" in failed["msg"]
    assert (host / "etc" / "firewall.nft").read_text() == RULESET
    assert "BAD" not in json.dumps(kernel(host))


def test_rollback_is_armed_and_the_boot_time_file_waits_for_the_confirmation(host, result):
    run(host)
    result()
    first_listing = kernel(host)["inet imip_filter"]
    new = RULESET.replace("policy drop; }", "policy drop; tcp dport 25 accept }")
    run(host, content=new, rollback_timeout=30)
    armed = result()
    assert armed["applied"] and armed["rollback_armed"] and armed["rollback_unit"] == "imip-firewall-rollback.timer"
    assert "tcp dport 25" in kernel(host)["inet imip_filter"], "the new tables are loaded"
    assert (host / "etc" / "firewall.nft").read_text() == RULESET, "a reboot now boots the last confirmed ruleset"
    assert armed["pending"] == str(host / "state" / "pending.nft")
    assert (host / "state" / "pending.nft").read_text() == new
    assert (host / "state" / "pending.listing").read_text() == kernel(host)["inet imip_filter"]
    assert (host / "state" / "applied.nft").read_text() == first_listing, "the confirmed listing is kept until confirmed"
    (arm,) = [line for line in log(host) if line.startswith("systemd-run")]
    assert "--on-active 30s" in arm and arm.endswith("/bin/sh %s" % (host / "state" / "rollback.sh"))
    previous = (host / "state" / "previous.nft").read_text()
    assert first_listing in previous and "delete table ip imip_nat" in previous
    script = (host / "state" / "rollback.sh").read_text()
    assert "previous.nft" in script and "flock 9" in script
    assert "firewall.nft" not in script, "the rollback never writes the boot-time file"

    confirm(host)
    confirmed = result()
    assert confirmed["changed"] and not confirmed.get("failed"), confirmed
    assert (host / "etc" / "firewall.nft").read_text() == new
    assert (host / "state" / "applied.nft").read_text() == kernel(host)["inet imip_filter"]
    assert not (host / "state" / "pending.nft").exists()
    assert "systemctl stop imip-firewall-rollback.timer" in log(host)

    run(host, content=new, rollback_timeout=30)
    assert result()["changed"] is False, "confirmed: the next converge has nothing to do"


def test_confirmation_after_the_rollback_fails_saying_so(host, result):
    run(host)
    result()
    new = RULESET.replace("policy drop; }", "policy drop; tcp dport 25 accept }")
    run(host, content=new, rollback_timeout=30)
    result()
    (host / "state" / "rolled-back").write_text("2026-11-25T10:00:00Z\n")
    (host / "state" / "pending.nft").unlink()
    confirm(host)
    failed = result()
    assert failed["failed"] and failed["rolled_back"] is True
    assert failed["msg"].startswith("not confirmed: the rollback had already fired (at 2026-11-25T10:00:00Z)")
    assert (host / "etc" / "firewall.nft").read_text() == RULESET


def test_without_rollback_the_file_is_written_at_once(host, result):
    run(host, rollback_timeout=0)
    applied = result()
    assert applied["applied"] and not applied["rollback_armed"]
    assert (host / "etc" / "firewall.nft").read_text() == RULESET
    assert not (host / "state" / "pending.nft").exists()


def test_rollback_timeout_must_not_be_negative(host, result):
    run(host, rollback_timeout=-1)
    assert "rollback_timeout" in result()["msg"]


def test_bad_table_name_is_refused(host, result):
    run(host, tables=["inet imip_filter", "nat"])
    failed = result()
    assert failed["failed"] and failed["msg"].startswith("tables: 'nat' is not a table")
