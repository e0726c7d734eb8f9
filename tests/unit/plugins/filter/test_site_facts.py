# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The facts several roles share (imip.server.site_facts): one rule for a host's DNS name, the
filter for mail addresses, and no role that defines or re-derives them on its own."""

from __future__ import annotations

import re
import types
from pathlib import Path

import pytest
import yaml

from ansible_collections.imip.server.plugins.module_utils import _site_facts as sf

ROOT = Path(__file__).resolve().parents[4]
SHARED = ("imip_host_fqdn", "imip_invitation_address", "imip_tls_dir", "imip_tls_group",
          "imip_mail_auth_socket", "imip_mail_auth_group")


@pytest.fixture(scope="module")
def plugin():
    """The filter plugin (imports controller code; the mode switch is undone afterwards)."""
    from ansible.module_utils import _internal
    was = _internal.is_controller
    from ansible.errors import AnsibleFilterError
    from ansible_collections.imip.server.plugins.filter import site_facts
    yield types.SimpleNamespace(filters=site_facts.FilterModule().filters(), AnsibleFilterError=AnsibleFilterError)
    _internal.is_controller = was


HOSTVARS = {
    "cal": {"imip_domain": "example.test"},
    "mx": {"imip_domain": "example.test", "imip_host_fqdn": "mail.example.test."},
    "ext": {"imip_domain": "external.test", "imip_host_fqdn": "ext.external.test"},
    "bare": {},
}


@pytest.mark.parametrize("host,expected", [("cal", "cal.example.test"), ("mx", "mail.example.test"),
                                           ("ext", "ext.external.test"), ("bare", None)])
def test_a_hosts_name_is_its_own_or_derived_from_its_domain(host, expected):
    assert sf.host_fqdn(host, HOSTVARS[host]) == expected


def test_the_filter_names_any_host_and_says_what_is_missing(plugin):
    host_fqdn = plugin.filters["host_fqdn"]
    assert [host_fqdn(h, HOSTVARS) for h in ("cal", "mx", "ext")] == ["cal.example.test", "mail.example.test", "ext.external.test"]
    with pytest.raises(plugin.AnsibleFilterError, match="bare has neither imip_host_fqdn nor imip_domain"):
        host_fqdn("bare", HOSTVARS)
    with pytest.raises(plugin.AnsibleFilterError, match="nope is not a host of the inventory"):
        host_fqdn("nope", HOSTVARS)


@pytest.mark.parametrize("address", ["calendar-invites@example.test", "Alice.Smith@Example.ORG", "a_b-c@x.y.example"])
def test_good_addresses(address, plugin):
    assert plugin.filters["invalid_mail_addresses"]([address]) == []


@pytest.mark.parametrize("address", ["invites+x@example.test", "a:b@example.test", "nodomain@localhost", "@example.test",
                                     "two@@example.test", "space @example.test", "trailing.@example.test", 7])
def test_bad_addresses_are_returned(address, plugin):
    assert plugin.filters["invalid_mail_addresses"](["ok@example.test", address]) == [address]


@pytest.mark.parametrize("value", ["one@example.test", {"a": "b"}, None])
def test_invalid_mail_addresses_wants_a_list(value, plugin):
    with pytest.raises(plugin.AnsibleFilterError, match="expects a list"):
        plugin.filters["invalid_mail_addresses"](value)


def test_shared_facts_are_defined_once_in_site_facts():
    own = yaml.safe_load((ROOT / "roles/site_facts/defaults/main.yml").read_text())
    assert set(SHARED) <= set(own)
    for role in sorted(p for p in (ROOT / "roles").iterdir() if p.name != "site_facts"):
        defaults = yaml.safe_load((role / "defaults/main.yml").read_text()) or {}
        assert not set(SHARED) & set(defaults), f"{role.name} defines {set(SHARED) & set(defaults)} itself"


def test_no_role_re_derives_a_shared_fact_or_reads_one_through_default():
    pattern = re.compile(r"(%s)\s*\|\s*default\(" % "|".join(SHARED) + r"|inventory_hostname\s*~\s*'\.'\s*~\s*imip_domain")
    offenders = []
    for path in sorted((ROOT / "roles").rglob("*")):
        if path.is_file() and path.suffix in (".yml", ".j2"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_every_role_that_reads_a_shared_fact_depends_on_site_facts():
    for role in sorted(p for p in (ROOT / "roles").iterdir() if p.name != "site_facts"):
        text = "\n".join(p.read_text() for p in role.rglob("*") if p.is_file() and p.suffix in (".yml", ".j2"))
        if any(re.search(r"\b%s\b" % name, text) for name in SHARED):
            meta = yaml.safe_load((role / "meta/main.yml").read_text())
            names = [d["role"] if isinstance(d, dict) else d for d in meta.get("dependencies") or []]
            assert "imip.server.site_facts" in names, f"{role.name} reads a shared fact but does not depend on site_facts"


# --- one predicate per kind of value: None when good, else the reason ------------------------------
# (domain names and mail addresses: tests/unit/plugins/module_utils/test_names.py)

@pytest.mark.parametrize("value,good", [
    ("203.0.113.7", True), ("203.0.113.300", False), ("203.0.113", False), ("2001:db8::1", False),
    ("203.0.113.0/24", False), (None, False),
])
def test_ipv4_problem(value, good):
    assert (sf.ipv4_problem(value) is None) is good


@pytest.mark.parametrize("value,good", [
    ("192.0.2.0/24", True), ("192.0.2.7", True), ("2001:db8::/32", True), ("192.0.2.1/24", False),
    ("192.0.2.0/33", False), ("fe80::1%eth0", False), ("anywhere", False), ("", False),
])
def test_network_problem(value, good):
    assert (sf.network_problem(value) is None) is good
