# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""site.yml validates the inventory before it changes anything (playbooks/validate.yml).

Run with the repository's real ansible-playbook against an inventory of hosts that do not exist
(TEST-NET addresses): each bad input gets its one-line message naming the variable, no other play
starts, and no host is contacted (a connection attempt would show as UNREACHABLE)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
# Runs the repository's own Ansible (.venv/bin): the compat stage deselects it (tests/unit/conftest.py).
pytestmark = pytest.mark.repository_ansible
PASSWORD = "Val1dation-test-pw-4711"
GOOD = {"imip_domain": "example.org", "imip_public_ipv4": "203.0.113.7",
        "imip_firewall_admin_sources": ["192.0.2.0/24"], "imip_invitation_password": PASSWORD}
# host -> (variables that differ from GOOD, the line its run must print; None: no problem)
CASES = {
    "empty-label": ({"imip_domain": "example..org"}, "imip_domain: 'example..org' is not a domain name: empty label"),
    "underscore": ({"imip_domain": "exa_mple.org"},
                   "imip_domain: 'exa_mple.org' is not a domain name: label 'exa_mple' has a character other than "
                   "a-z, 0-9 and '-'"),
    "one-label": ({"imip_domain": "example"}, "imip_domain: 'example' is not a domain name: one label only"),
    "trailing-dot": ({"imip_domain": "example.org."},
                     "imip_domain: 'example.org.' is not a domain name: ends with a dot (write it without)"),
    "bad-public": ({"imip_public_ipv4": "203.0.113.300"},
                   "imip_public_ipv4: '203.0.113.300' is not an IPv4 address: Octet 300 (> 255) not permitted"),
    "no-admin": ({"imip_firewall_admin_sources": None},
                 "imip_firewall_admin_sources is required (role firewall): IPv4 and IPv6 addresses or networks "
                 "allowed to reach SSH"),
    "host-bits": ({"imip_firewall_admin_sources": ["192.0.2.1/24"]},
                  "imip_firewall_admin_sources[0]: '192.0.2.1/24' has host bits set"),
    "bad-ttl": ({"imip_dns_ttl": "many"}, "imip_dns_ttl: 'many' is not a whole number"),
    "fine": ({}, None),
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    inventory = tmp_path_factory.mktemp("bad-inventory")
    hosts = {}
    for index, (host, (changes, _line)) in enumerate(CASES.items()):
        variables = {**GOOD, **changes, "ansible_host": f"192.0.2.{index + 1}"}
        hosts[host] = {k: v for k, v in variables.items() if v is not None}
    groups = {group: {"hosts": {host: None for host in hosts}}
              for group in ("dns_servers", "mail_servers", "calendar_servers")}
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"all": {
        "vars": {"ansible_connection": "ssh", "ansible_ssh_common_args": "-o ConnectTimeout=1"},
        "hosts": hosts, "children": groups}}))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_COLLECTIONS_PATH=str(REPO / ".cache" / "collections"))
    proc = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", str(inventory), "site.yml"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("host", [h for h, (_changes, line) in CASES.items() if line])
def test_each_bad_input_gets_its_one_line_message(run, host):
    rc, output = run
    assert rc != 0
    line = CASES[host][1]
    # The failed result: the line `fatal: [host]: FAILED! =>` and its indented YAML below.
    block = re.search(r"^fatal: \[%s\]: FAILED! =>\s*\n((?:    .*\n?)+)" % re.escape(host), output, re.M)
    assert block, f"no failure reported for {host}:\n{output}"
    assert line in " ".join(block.group(1).split()), f"{host}: expected {line!r} in\n{block.group(1)}"
    # A short message, never a dump of the argument spec.
    assert "argument_spec" not in block.group(1) and len(block.group(1)) < 600, block.group(1)


def test_a_good_host_reports_nothing_and_no_host_is_touched(run):
    rc, output = run
    assert rc != 0
    assert "fatal: [fine]" not in output
    plays = re.findall(r"^PLAY \[(.*)\]", output, re.M)
    assert len(plays) == 1 and plays[0].startswith("Validate the inventory variables on "), plays
    assert "UNREACHABLE" not in output and "Gathering Facts" not in output
    assert re.findall(r"unreachable=(\d+)", output) and set(re.findall(r"unreachable=(\d+)", output)) == {"0"}
    assert PASSWORD not in output
