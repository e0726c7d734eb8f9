# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""check.yml with no `vantage` group: the outside checks run on the controller, the report says
so, and no play warns about a missing group. Run with the repository's real ansible-playbook
against the all-in-one example pointed at a host that does not exist (what the checks then find
does not matter here; where they ran does). The lab's scenarios run the report with a vantage host."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

# Runs the repository's own ansible-playbook (deselected in the compat stage's other ansible-core).
pytestmark = pytest.mark.repository_ansible

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    inventory = tmp_path_factory.mktemp("no-vantage") / "site"
    shutil.copytree(REPO / "inventories" / "examples" / "all-in-one", inventory)
    (inventory / "group_vars" / "all" / "test.yml").write_text(
        "ansible_host: 192.0.2.1\nansible_ssh_common_args: -o ConnectTimeout=1\n"
        # As many inventories write it (the lab's does): the controller's own checks must not
        # trip over connection settings that only inventory hosts can resolve.
        "ansible_ssh_private_key_file: '{{ inventory_dir }}/.ssh/id_ed25519'\n"
        "imip_check_timeout: 0.5\nimip_check_retries: 0\n")
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_COLLECTIONS_PATH=str(REPO / ".cache" / "collections"))
    proc = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory),
                           "playbooks/check.yml", "-e", "imip_check_roundtrip=true"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)
    return proc.stdout + proc.stderr


def test_no_play_warns_about_a_missing_vantage_group(report):
    assert "Could not match supplied host pattern" not in report, report


def test_the_outside_checks_ran_on_the_controller_and_the_report_says_so(report):
    # The mail heading also holds the mail host's own check of outgoing IPv6 (mail.outbound_ipv6).
    for heading in ("DNS seen from outside (this controller)", "Ports seen from outside (this controller)",
                    "Mail from outside (cal, this controller)"):
        assert heading in report, report
    assert "no vantage host: add one" not in report
    assert "SMTP (25/tcp): 192.0.2.1:25 from this controller" in report or \
        "SMTP (25/tcp): 203.0.113.7:25 from this controller" in report


def test_the_round_trip_needs_a_vantage_host_with_a_mailbox(report):
    assert "no attendee mailbox: a `vantage` host with the attendee's Maildir, or imip_check_roundtrip_mailbox" in report
