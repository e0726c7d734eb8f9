# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""nftables tables that imip.server owns: decide, validate, apply, roll back (private).

Only named tables are ever touched. A ruleset file starts with `table F N` + `delete table F N`
for every owned table and then defines the wanted ones, so `nft -f FILE` replaces exactly those
tables in one transaction and leaves every other table (Docker's `ip nat`, fail2ban's, ...) alone.

Whether the kernel drifted is decided by comparing `nft -s list table` (no counters, no handles)
with the listing saved right after the last apply, so an unchanged converge never touches the
kernel.
"""

from __future__ import annotations

import re

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


def rollback_script(nft, rollback_file, path, previous_file, applied_file):
    """The shell script the rollback timer runs: tables, then the persisted file."""
    lines = [
        "#!/bin/sh",
        "# imip.server: run by the rollback timer when a new ruleset was not confirmed in time.",
        "set -e",
        "%s -f %s" % (_q(nft), _q(rollback_file)),
    ]
    if previous_file:
        lines.append("cp -p %s %s" % (_q(previous_file), _q(path)))
    else:
        lines.append("rm -f %s" % _q(path))
    # The next converge must look again at the kernel, not trust the listing of the rolled-back apply.
    lines.append("rm -f %s" % _q(applied_file))
    lines.append('logger -t imip-firewall "ruleset rolled back: the new one was not confirmed in time" || true')
    return "\n".join(lines) + "\n"


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
