# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The inventory check of site.yml's first play, against the collection's real argument specs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ansible_collections.imip.server.plugins.module_utils import _site_validation as sv

ROOT = Path(__file__).resolve().parents[4]
SPECS = {p.parts[-3]: yaml.safe_load(p.read_text())["argument_specs"] for p in ROOT.glob("roles/*/meta/argument_specs.yml")}
GOOD = {"imip_domain": "example.org", "imip_firewall_admin_sources": ["192.0.2.0/24"],
        "imip_invitation_password": "x"}
ALL = ["dns_servers", "mail_servers", "calendar_servers"]


def test_every_role_of_the_collection_has_its_hosts():
    assert set(sv.ROLE_GROUPS) == set(SPECS)


def test_a_good_host_has_no_problem():
    assert sv.host_problems(GOOD, ALL, SPECS) == []


def test_vantage_hosts_are_not_site_hosts():
    assert sv.roles_of(["vantage"]) == [] and sv.host_problems({}, ["vantage"], SPECS) == []


def test_required_variables_are_named_with_their_purpose():
    problems = sv.host_problems({}, ALL, SPECS)
    assert problems[0] == "imip_domain is required: the site's mail and calendar domain, e.g. example.org"
    assert any(p.startswith("imip_invitation_password is required (role invitation_account): ") for p in problems)
    # Markup of the documentation is shown as plain text.
    assert not any("C(" in p or "O(" in p for p in problems)


def test_roles_a_host_does_not_run_are_not_asked_for():
    """A DNS-only host runs no invitation_account role: its password is not required there."""
    problems = sv.host_problems({"imip_domain": "example.org", "imip_firewall_admin_sources": ["192.0.2.0/24"]},
                                ["dns_servers"], SPECS)
    assert problems == []


def test_a_wrong_type_names_the_variable_and_hides_a_secret():
    options = {"imip_secret": {"type": "int", "no_log": True}, "imip_count": {"type": "int"}}
    specs = {"site_facts": {"main": {"options": options}}}
    problems = sv.host_problems({"imip_domain": "example.org", "imip_secret": "hunter2", "imip_count": "many"},
                                [], specs)
    assert "imip_secret: (secret) is not a whole number" in problems
    assert "imip_count: 'many' is not a whole number" in problems
    assert not any("hunter2" in p for p in problems)


@pytest.mark.parametrize("variables,line", [
    ({"imip_host_ipv4": "10.0.0.300"}, "imip_host_ipv4: '10.0.0.300' is not an IPv4 address"),
    ({"imip_host_fqdn": "cal..example.org"}, "imip_host_fqdn: 'cal..example.org' is not a domain name: empty label"),
    ({"imip_invitation_address": "invites+x@example.org"}, "imip_invitation_address: 'invites+x@example.org' is not a mail"),
    ({"imip_public_ipv4": ""}, None),
])
def test_each_site_fact_by_its_rule(variables, line):
    problems = sv.host_problems({**GOOD, **variables}, ALL, SPECS)
    if line is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problems[0].startswith(line), problems
