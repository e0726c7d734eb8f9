# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""nftables tables that imip.server owns: decide, validate, apply, roll back (private to imip.server).

Only named tables are ever touched. A ruleset file starts with `table F N` + `delete table F N`
for every owned table and then defines the wanted ones, so `nft -f FILE` replaces exactly those
tables in one transaction and leaves every other table (Docker's `ip nat`, fail2ban's, ...) alone.

Whether the kernel drifted is decided by comparing `nft -s list table` (no counters, no handles)
with the listing saved when the last ruleset was confirmed, so an unchanged converge never
touches the kernel.

Safe apply, so that a reboot at any moment boots a confirmed ruleset: with a rollback armed, an
apply loads the new tables but leaves the boot-time file alone (the new ruleset waits in the
state directory); only the confirmation, after Ansible has reached the host over a new
connection, writes it (atomically) as the boot-time file. The rollback timer and the
confirmation take the same lock, so exactly one of them wins, and a confirmation that comes
after the rollback fails instead of reporting success with the old tables loaded.

Both modules (nft_ruleset, nft_ruleset_confirm) read, write and remove the rule and state files,
and stop the rollback timer, with the functions here.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re

from ansible_collections.imip.server.plugins.module_utils._fileio import atomic_write

FAMILIES = ("ip", "ip6", "inet", "arp", "bridge", "netdev")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]*$")


class NftError(Exception):
    """An nft command failed; the message says which and why."""


def parse_table(spec):
    """'inet imip_filter' -> ('inet', 'imip_filter'); ValueError for anything else."""
    parts = str(spec).split()
    if len(parts) != 2 or parts[0] not in FAMILIES or not _NAME.match(parts[1]):
        raise ValueError(
            "%r is not a table: write 'FAMILY NAME' with FAMILY one of %s, e.g. 'inet imip_filter'"
            % (spec, ", ".join(FAMILIES))
        )
    return parts[0], parts[1]


def preamble(tables):
    """Lines that make every owned table exist and then delete it (atomic replace, no error
    when the table is missing)."""
    lines = []
    for family, name in tables:
        lines.append("table %s %s" % (family, name))
        lines.append("delete table %s %s" % (family, name))
    return "\n".join(lines) + "\n"


def rollback_ruleset(tables, previous_listing):
    """A file that puts the owned tables back as `previous_listing` shows them (absent tables
    stay absent)."""
    text = "# imip.server: the tables as they were before the last apply\n" + preamble(tables)
    if previous_listing.strip():
        text += previous_listing if previous_listing.endswith("\n") else previous_listing + "\n"
    return text


def read_file(path):
    """The file's text, or None when it does not exist."""
    try:
        with open(path, "r") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def write_file(path, text, mode=0o600):
    """Replace `path` with `text` atomically (_fileio.atomic_write: a reader or a reboot sees the
    old or the new file, never a part of one). An existing file keeps its owner and mode, a new one
    gets `mode`; a missing parent directory is created (0755)."""
    directory = os.path.dirname(path)
    if directory and not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    atomic_write(path, text.encode("utf-8"), new_mode=mode)


def remove_file(path):
    """Remove `path`; one that is already gone is fine."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def stop_rollback(run, unit):
    """Stop the rollback timer `unit`.timer and forget a failed run of it (run: AnsibleModule.run_command)."""
    run(["systemctl", "stop", unit + ".timer"])
    run(["systemctl", "reset-failed", unit + ".timer", unit + ".service"])


class State(object):
    """The files of the role's state directory (mode 0700).

    previous.nft     the owned tables as they were before the last apply (what a rollback loads)
    applied.nft      the listing of the last confirmed ruleset (drift is measured against it)
    pending.nft      a ruleset applied but not confirmed yet (it becomes the boot-time file on
                     confirmation; until then the boot-time file keeps the last confirmed one)
    pending.listing  the kernel's listing right after that apply
    rolled-back      written by the rollback when it fired (its time, UTC)
    rollback.sh      what the rollback timer runs
    lock             taken by the rollback and by the confirmation, so only one of them wins
    """

    def __init__(self, directory):
        self.dir = directory
        for name, filename in (("previous", "previous.nft"), ("applied", "applied.nft"),
                               ("pending", "pending.nft"), ("pending_listing", "pending.listing"),
                               ("rolled_back", "rolled-back"), ("script", "rollback.sh"), ("lock", "lock")):
            setattr(self, name, os.path.join(directory, filename))


def rollback_script(nft, state):
    """The shell script the rollback timer runs.

    It loads the previous tables only while the applied ruleset is still pending: once the
    confirmation has taken the lock and persisted it, there is nothing left to undo. The
    boot-time file is never touched here: it still holds the last confirmed ruleset.
    """
    return "\n".join([
        "#!/bin/sh",
        "# imip.server: run by the rollback timer when a new ruleset was not confirmed in time.",
        "set -e",
        "exec 9>>%s" % _q(state.lock),
        "flock 9",
        "# Confirmed meanwhile: nothing to undo.",
        "[ -e %s ] || exit 0" % _q(state.pending),
        "%s -f %s" % (_q(nft), _q(state.previous)),
        "date -u +%%Y-%%m-%%dT%%H:%%M:%%SZ > %s" % _q(state.rolled_back),
        "rm -f %s %s" % (_q(state.pending), _q(state.pending_listing)),
        'logger -t imip-firewall "ruleset rolled back: the new one was not confirmed in time" || true',
    ]) + "\n"


class NotConfirmed(NftError):
    """The applied ruleset can no longer be confirmed; the message says why and what is loaded."""

    def __init__(self, message, rolled_back=False):
        super(NotConfirmed, self).__init__(message)
        self.rolled_back = rolled_back


@contextlib.contextmanager
def locked(state):
    """The lock the rollback script takes too (flock(2) on the same file)."""
    fd = os.open(state.lock, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def confirm(nft, tables, path, state, read, write, remove, stop_rollback, check_mode=False):
    """Keep the applied ruleset: make it the boot-time file, then stop the rollback.

    Call it holding locked(state). Nothing is written unless the ruleset is still pending and
    still loaded: when the rollback already fired, or the tables are not the ones applied (the
    host restarted and booted the confirmed file, or someone changed them), NotConfirmed says
    so and the boot-time file keeps the last confirmed ruleset.

    read(path) -> text or None; write(path, text, mode); remove(path); stop_rollback().
    Returns the new boot-time file's content.
    """
    fired = read(state.rolled_back)
    if fired is not None:
        raise NotConfirmed(
            "the rollback had already fired (at %s), before this confirmation: the previous tables are "
            "loaded again and %s still holds the last confirmed ruleset" % (fired.strip() or "an unknown time", path),
            rolled_back=True)
    pending = read(state.pending)
    if pending is None:
        raise NotConfirmed("no applied ruleset is waiting for confirmation (%s is missing)" % state.pending)
    expected = read(state.pending_listing)
    live = nft.listing(tables)
    if expected is None or _norm(live) != _norm(expected):
        raise NotConfirmed(
            "the kernel no longer holds the tables that were applied (the host restarted and loaded the "
            "boot-time file, or the tables were changed) before this confirmation: %s still holds the last "
            "confirmed ruleset, and the rollback, if still armed, restores the previous tables" % path)
    if not check_mode:
        write(path, pending, 0o644)
        write(state.applied, expected, 0o600)
        remove(state.pending)
        remove(state.pending_listing)
        stop_rollback()
    return pending


def _q(text):
    return "'" + str(text).replace("'", "'\"'\"'") + "'"


def plan(desired, installed, live, applied, path="the ruleset file"):
    """What a converge must do.

    desired:   the ruleset file the role rendered
    installed: the persisted file now (None when missing)
    live:      `nft -s list table` of the owned tables now ('' when none exist)
    applied:   the listing saved after the last apply (None when unknown)

    Returns dict(changed, file_changed, drift, diff=[...]).
    """
    file_changed = installed != desired
    drift = applied is None or _norm(live) != _norm(applied)
    diff = []
    if file_changed:
        diff.append(dict(before_header=path, before=installed or "", after_header=path, after=desired))
    if drift and applied is not None:
        diff.append(dict(before_header="kernel ruleset now (our tables)", before=live,
                         after_header="kernel ruleset as last applied", after=applied))
    elif drift and not file_changed:
        diff.append(dict(before_header="kernel ruleset now (our tables)", before=live,
                         after_header="kernel ruleset after applying the persisted file",
                         after="(not recorded yet: the file will be applied again)\n"))
    return dict(changed=file_changed or drift, file_changed=file_changed, drift=drift, diff=diff)


def _norm(listing):
    return "\n".join(line.rstrip() for line in (listing or "").strip().splitlines())


class Nft(object):
    """nft through a runner: run(argv) -> (rc, stdout, stderr), e.g. AnsibleModule.run_command."""

    def __init__(self, run, binary="nft"):
        self.run = run
        self.binary = binary

    def _do(self, argv, what):
        rc, out, err = self.run([self.binary] + argv)
        if rc != 0:
            raise NftError("%s failed (`nft %s`, exit %s): %s" % (what, " ".join(argv), rc, (err or out).strip()))
        return out

    def check(self, path):
        self._do(["-c", "-f", path], "validating the ruleset")

    def apply(self, path):
        self._do(["-f", path], "applying the ruleset")

    def list_table(self, family, name):
        """The table's listing without counters and handles, or None when it does not exist."""
        rc, out, err = self.run([self.binary, "-s", "list", "table", family, name])
        if rc != 0:
            if "No such file or directory" in (err or ""):
                return None
            raise NftError("reading table %s %s failed (exit %s): %s" % (family, name, rc, (err or out).strip()))
        return out

    def listing(self, tables):
        """All owned tables that exist, one after the other ('' when none does)."""
        parts = []
        for family, name in tables:
            out = self.list_table(family, name)
            if out is not None:
                parts.append(out if out.endswith("\n") else out + "\n")
        return "".join(parts)
