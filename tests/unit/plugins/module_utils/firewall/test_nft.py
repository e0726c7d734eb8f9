# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The nftables decisions: which tables, when to apply, what the diff says, how to roll back; the
rule files both modules read, write and remove, and the rollback timer they stop."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.imip.server.plugins.module_utils.firewall.nft import (
    Nft,
    NftError,
    parse_table,
    plan,
    preamble,
    read_file,
    remove_file,
    rollback_ruleset,
    stop_rollback,
    write_file,
)

TABLES = [("inet", "imip_filter"), ("ip", "imip_nat")]
LISTING = "table inet imip_filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n\t}\n}\n"
DESIRED = preamble(TABLES) + "table inet imip_filter {\n  chain input { type filter hook input priority 0; policy drop; }\n}\n"


@pytest.mark.parametrize("spec, expected", [
    ("inet imip_filter", ("inet", "imip_filter")),
    ("ip  imip_nat", ("ip", "imip_nat")),
    ("ip6 x-y.z_1", ("ip6", "x-y.z_1")),
])
def test_parse_table_accepts_family_and_name(spec, expected):
    assert parse_table(spec) == expected


@pytest.mark.parametrize("spec", ["imip_filter", "inet", "ipv4 imip_filter", "inet imip filter", "inet 1abc", "inet a;b"])
def test_parse_table_refuses_anything_else(spec):
    with pytest.raises(ValueError, match="is not a table"):
        parse_table(spec)


def test_preamble_makes_then_deletes_each_owned_table():
    assert preamble(TABLES) == (
        "table inet imip_filter\ndelete table inet imip_filter\n"
        "table ip imip_nat\ndelete table ip imip_nat\n"
    )


def test_rollback_restores_previous_tables_and_removes_new_ones():
    text = rollback_ruleset(TABLES, LISTING)
    assert text.startswith("# imip.server")
    assert preamble(TABLES) in text and text.endswith(LISTING)
    assert "flush" not in text
    empty = rollback_ruleset(TABLES, "")
    assert empty.splitlines()[1:] == preamble(TABLES).splitlines(), "no previous tables: ours are only removed"


def test_plan_unchanged_when_file_and_kernel_are_as_applied():
    decision = plan(DESIRED, DESIRED, LISTING, LISTING)
    assert decision == dict(changed=False, file_changed=False, drift=False, diff=[])


def test_plan_ignores_trailing_whitespace_in_listings():
    assert not plan(DESIRED, DESIRED, LISTING + "\n", LISTING.replace("}\n", "}  \n"))["changed"]


def test_plan_fresh_host_shows_the_whole_file():
    decision = plan(DESIRED, None, "", None, "/etc/imip/firewall.nft")
    assert decision["changed"] and decision["file_changed"] and decision["drift"]
    assert decision["diff"] == [dict(before_header="/etc/imip/firewall.nft", before="",
                                     after_header="/etc/imip/firewall.nft", after=DESIRED)]


def test_plan_hand_edit_of_the_kernel_is_drift_with_its_diff():
    edited = LISTING.replace("\t}\n}", "\t\ttcp dport 8080 accept\n\t}\n}")
    decision = plan(DESIRED, DESIRED, edited, LISTING)
    assert decision["changed"] and decision["drift"] and not decision["file_changed"]
    (diff,) = decision["diff"]
    assert "8080" in diff["before"] and "8080" not in diff["after"]
    assert diff["before_header"] == "kernel ruleset now (our tables)"


def test_plan_hand_edit_of_the_file_is_a_change():
    decision = plan(DESIRED, DESIRED + "# edited\n", LISTING, LISTING)
    assert decision["changed"] and decision["file_changed"] and not decision["drift"]
    assert "# edited" in decision["diff"][0]["before"]


def test_plan_without_a_saved_listing_applies_again():
    decision = plan(DESIRED, DESIRED, LISTING, None)
    assert decision["changed"] and decision["drift"]
    assert "not recorded" in decision["diff"][0]["after"]


class FakeRun(object):
    """run(argv) from a table of expected commands -> (rc, out, err)."""

    def __init__(self, answers):
        self.answers, self.calls = answers, []

    def __call__(self, argv):
        self.calls.append(argv)
        return self.answers.get(tuple(argv), (0, "", ""))


def test_listing_joins_existing_tables_and_skips_missing_ones():
    run = FakeRun({
        ("nft", "-s", "list", "table", "inet", "imip_filter"): (0, LISTING.rstrip("\n"), ""),
        ("nft", "-s", "list", "table", "ip", "imip_nat"): (1, "", "Error: No such file or directory\nlist table ip imip_nat"),
    })
    assert Nft(run).listing(TABLES) == LISTING


def test_listing_error_other_than_missing_table_is_raised():
    run = FakeRun({("nft", "-s", "list", "table", "inet", "imip_filter"): (1, "", "Error: Operation not permitted")})
    with pytest.raises(NftError, match="Operation not permitted"):
        Nft(run).listing(TABLES)


def test_check_and_apply_report_nft_errors():
    run = FakeRun({("nft", "-c", "-f", "/x.nft"): (1, "", "/x.nft:3:1-5: Error: syntax error")})
    with pytest.raises(NftError, match=r"validating the ruleset failed \(`nft -c -f /x.nft`, exit 1\): .*syntax error"):
        Nft(run).check("/x.nft")
    Nft(run).apply("/x.nft")
    assert run.calls[-1] == ["nft", "-f", "/x.nft"]


def test_stop_rollback_stops_the_timer_and_forgets_a_failed_run():
    run = FakeRun({})
    stop_rollback(run, "imip-firewall-rollback")
    assert run.calls == [["systemctl", "stop", "imip-firewall-rollback.timer"],
                         ["systemctl", "reset-failed", "imip-firewall-rollback.timer", "imip-firewall-rollback.service"]]


def test_rule_files_are_read_written_with_their_mode_and_removed(tmp_path):
    path = str(tmp_path / "etc" / "imip" / "firewall.nft")
    assert read_file(path) is None
    write_file(path, LISTING, 0o644)
    assert read_file(path) == LISTING
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(tmp_path / "etc" / "imip").st_mode) == 0o755 & ~_umask()
    os.chmod(path, 0o640)
    write_file(path, DESIRED)
    assert read_file(path) == DESIRED and stat.S_IMODE(os.stat(path).st_mode) == 0o640, "an existing file keeps its mode"
    assert sorted(os.listdir(tmp_path / "etc" / "imip")) == ["firewall.nft"], "no temporary file is left behind"
    write_file(str(tmp_path / "state.nft"), LISTING)
    assert stat.S_IMODE(os.stat(tmp_path / "state.nft").st_mode) == 0o600, "a new file is private by default"
    remove_file(path)
    remove_file(path)
    assert read_file(path) is None


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
