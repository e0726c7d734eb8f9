# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Safe apply, second half: the rollback script (run for real by /bin/sh, with flock) and the
confirmation take one lock, so exactly one of them wins; a confirmation after the rollback, or
after the tables were lost (a reboot loads the boot-time file), fails and writes nothing."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import pytest

from ansible_collections.imip.server.plugins.module_utils.firewall.nft import (
    Nft,
    NotConfirmed,
    State,
    confirm,
    locked,
    read_file,
    remove_file,
    rollback_script,
)

TABLES = [("inet", "imip_filter")]
NEW = "table inet imip_filter {\n\tchain input {\n\t\ttcp dport 25 accept\n\t}\n}\n"
OLD = "table inet imip_filter {\n\tchain input {\n\t}\n}\n"

FAKE_NFT = """#!/bin/sh
# A kernel of one table, kept in $KERNEL: `-f FILE` loads the file's table, `-s list table` shows it.
echo "nft $*" >> "$KERNEL.log"
case "$1" in
  -f) sed -n '/^table inet imip_filter {/,$p' "$2" > "$KERNEL" ;;
  -s) cat "$KERNEL" ;;
esac
"""


@pytest.fixture
def host(tmp_path, monkeypatch):
    """A state directory in the middle of a safe apply: NEW is loaded and pending, OLD was before."""
    state = State(str(tmp_path / "state"))
    os.mkdir(state.dir, 0o700)
    nft = tmp_path / "nft"
    nft.write_text(FAKE_NFT)
    nft.chmod(0o755)
    kernel = tmp_path / "kernel"
    kernel.write_text(NEW)
    monkeypatch.setenv("KERNEL", str(kernel))
    (tmp_path / "firewall.nft").write_text("# the last confirmed ruleset\n" + OLD)
    with open(state.previous, "w") as handle:
        handle.write("table inet imip_filter\ndelete table inet imip_filter\n" + OLD)
    with open(state.pending, "w") as handle:
        handle.write("# the new ruleset\n" + NEW)
    with open(state.pending_listing, "w") as handle:
        handle.write(NEW)
    with open(state.applied, "w") as handle:
        handle.write(OLD)
    with open(state.script, "w") as handle:
        handle.write(rollback_script(str(nft), state))
    return tmp_path, state


def write(path, text, mode):
    """A plain write that always sets `mode` (write_file keeps an existing file's mode, which here
    would be the umask's)."""
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, mode)


def nft_list(argv):
    """The fake kernel through Nft's runner interface (subprocess, as run_command)."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return done.returncode, done.stdout, done.stderr


def do_confirm(tmp_path, state, stops):
    with locked(state):
        return confirm(Nft(nft_list, str(tmp_path / "nft")), TABLES, str(tmp_path / "firewall.nft"), state,
                       read_file, write, remove_file, lambda: stops.append("stopped"))


def run_rollback(state):
    return subprocess.run(["/bin/sh", state.script], capture_output=True, text=True, check=False, timeout=20)


def test_confirmation_writes_the_boot_time_file_then_stops_the_rollback(host):
    tmp_path, state = host
    stops = []
    assert do_confirm(tmp_path, state, stops) == "# the new ruleset\n" + NEW
    assert read_file(str(tmp_path / "firewall.nft")) == "# the new ruleset\n" + NEW
    assert os.stat(tmp_path / "firewall.nft").st_mode & 0o777 == 0o644
    assert read_file(state.applied) == NEW, "drift is measured against the confirmed listing from now on"
    assert read_file(state.pending) is None and read_file(state.pending_listing) is None
    assert stops == ["stopped"]
    # The timer may still fire (stopping it is not atomic with the above): it finds nothing to undo.
    done = run_rollback(state)
    assert done.returncode == 0, done.stderr
    assert read_file(str(tmp_path / "kernel")) == NEW
    assert read_file(state.rolled_back) is None


def test_rollback_loads_the_previous_tables_and_never_touches_the_boot_time_file(host):
    tmp_path, state = host
    done = run_rollback(state)
    assert done.returncode == 0, done.stderr
    assert read_file(str(tmp_path / "kernel")) == OLD
    assert read_file(state.rolled_back).strip().endswith("Z")
    assert read_file(state.pending) is None
    assert read_file(str(tmp_path / "firewall.nft")) == "# the last confirmed ruleset\n" + OLD


def test_confirmation_after_the_rollback_fails_and_writes_nothing(host):
    tmp_path, state = host
    assert run_rollback(state).returncode == 0
    stops = []
    with pytest.raises(NotConfirmed) as failed:
        do_confirm(tmp_path, state, stops)
    assert failed.value.rolled_back
    assert str(failed.value).startswith("the rollback had already fired (at 20")
    assert "%s still holds the last confirmed ruleset" % (tmp_path / "firewall.nft") in str(failed.value)
    assert read_file(str(tmp_path / "firewall.nft")) == "# the last confirmed ruleset\n" + OLD
    assert read_file(state.applied) == OLD and stops == []


def test_confirmation_after_a_reboot_fails_and_writes_nothing(host):
    """The reboot loaded the boot-time file (OLD); the timer died with it; pending.nft survived."""
    tmp_path, state = host
    (tmp_path / "kernel").write_text(OLD)
    stops = []
    with pytest.raises(NotConfirmed) as failed:
        do_confirm(tmp_path, state, stops)
    assert not failed.value.rolled_back
    assert str(failed.value).startswith("the kernel no longer holds the tables that were applied (the host restarted")
    assert read_file(str(tmp_path / "firewall.nft")) == "# the last confirmed ruleset\n" + OLD
    assert read_file(state.pending) is not None and stops == []


def test_nothing_to_confirm_is_an_error(host):
    tmp_path, state = host
    os.unlink(state.pending)
    with pytest.raises(NotConfirmed, match="no applied ruleset is waiting for confirmation"):
        do_confirm(tmp_path, state, [])


def test_check_mode_checks_and_writes_nothing(host):
    tmp_path, state = host
    stops = []
    with locked(state):
        confirm(Nft(nft_list, str(tmp_path / "nft")), TABLES, str(tmp_path / "firewall.nft"), state,
                read_file, write, remove_file, lambda: stops.append("stopped"), check_mode=True)
    assert read_file(str(tmp_path / "firewall.nft")) == "# the last confirmed ruleset\n" + OLD
    assert read_file(state.pending) is not None and stops == []


def test_a_rollback_that_fires_during_the_confirmation_waits_and_then_does_nothing(host):
    """The race the lock closes: the timer fires while the confirmation persists the ruleset."""
    tmp_path, state = host
    with locked(state):
        rollback = subprocess.Popen(["/bin/sh", state.script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        assert rollback.poll() is None, "the rollback waits for the lock"
        confirm(Nft(nft_list, str(tmp_path / "nft")), TABLES, str(tmp_path / "firewall.nft"), state,
                read_file, write, remove_file, lambda: None)
    assert rollback.wait(timeout=20) == 0
    assert read_file(str(tmp_path / "kernel")) == NEW, "the confirmed tables stay"
    assert read_file(state.rolled_back) is None
    assert "nft -f" not in (read_file(str(tmp_path / "kernel.log")) or "")


def test_a_confirmation_during_the_rollback_waits_and_then_fails(host):
    tmp_path, state = host
    outcome = {}
    with locked(state):
        def late():
            try:
                do_confirm(tmp_path, state, [])
            except NotConfirmed as exc:
                outcome["error"] = exc
        thread = threading.Thread(target=late)
        thread.start()
        time.sleep(0.3)
        assert thread.is_alive(), "the confirmation waits for the lock"
        # What the rollback script does while it holds the lock.
        (tmp_path / "kernel").write_text(OLD)
        write(state.rolled_back, "2026-11-25T10:00:00Z\n", 0o600)
        remove_file(state.pending)
    thread.join(timeout=10)
    assert outcome["error"].rolled_back
    assert "(at 2026-11-25T10:00:00Z)" in str(outcome["error"])
    assert read_file(str(tmp_path / "firewall.nft")) == "# the last confirmed ruleset\n" + OLD
