# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The dns role's filters: imip.server.dns_zone_plan and imip.server.dns_zone_serial.

The planner itself is tested in module_utils/dns/test_planner.py; here: the filters hand their
input to it unchanged, refuse what is not a plan input, and work inside Ansible's templating
(lazy, trusted-template variables, FQCN lookup), with the very expressions the role uses.
"""

from __future__ import annotations

import base64
import datetime
from pathlib import Path

import pytest
import yaml

from ansible_collections.imip.server.plugins.module_utils.dns import planner as records

INPUT = {
    "domain": "example.test",
    "hosts": [
        {"host": "gw", "fqdn": "gw.example.test", "ipv4": "198.51.100.130", "ipv6": ""},
        {"host": "ns1", "fqdn": "ns1.example.test", "ipv4": "198.51.100.131", "ipv6": ""},
        {"host": "cal", "fqdn": "cal.example.test", "ipv4": "198.51.100.132", "ipv6": ""},
    ],
    "nameservers": ["ns1.example.test"],
    "mail_hosts": ["cal.example.test"],
    "calendar_hosts": ["cal.example.test"],
    "public_ipv4": "198.51.100.10",
    "views": True,
    "reverse_networks": [],
    "extra_records": [],
    "ttl": 3600,
    "soa_timers": [3600, 900, 1209600, 300],
    "caldav_path": "/",
    "spf": "v=spf1 mx -all",
    "dmarc": "v=DMARC1; p=quarantine",
}
TODAY = int(datetime.date.today().strftime("%Y%m%d")) * 100


def installed(body, serial, header="; Ansible managed\n"):
    """A zone file as the role writes it: the header, then the body with the serial."""
    return header + body.replace("SERIAL", str(serial))


def test_filter_module_offers_both_filters(ctl):
    assert set(ctl.dns_zone.FilterModule().filters()) == {"dns_zone_plan", "dns_zone_serial"}


def test_plan_is_the_planners(ctl):
    plan = ctl.dns_zone.dns_zone_plan(INPUT)
    assert plan == records.plan(**INPUT)
    assert plan["errors"] == []
    assert [v["name"] for v in plan["views"]] == ["inside", "outside"]
    assert ("inside", "100.51.198.in-addr.arpa") in [(z["view"], z["name"]) for z in plan["zone_files"]]


def test_bad_input_is_returned_as_errors_not_raised(ctl):
    plan = ctl.dns_zone.dns_zone_plan(dict(INPUT, reverse_networks=["10.0.0.0/8"]))
    assert plan["views"] == []
    assert any("lies outside every reverse zone" in e for e in plan["errors"])


@pytest.mark.parametrize("data, message", [
    (["example.test"], "expects a dict"),
    (dict(INPUT, domian="example.test"), "unknown keys domian"),
    ({"domain": "example.test", "hosts": []}, "missing keys nameservers"),
])
def test_what_is_not_a_plan_input_is_refused(ctl, data, message):
    with pytest.raises(ctl.AnsibleFilterError, match=message):
        ctl.dns_zone.dns_zone_plan(data)


def test_serial_of_a_new_zone_is_todays_first(ctl):
    body = ctl.dns_zone.dns_zone_plan(INPUT)["zone_files"][0]["body"]
    assert ctl.dns_zone.dns_zone_serial(body) == TODAY
    assert ctl.dns_zone.dns_zone_serial(body, "") == TODAY
    assert ctl.dns_zone.dns_zone_serial(body, None) == TODAY


def test_serial_stays_while_the_content_does_and_moves_when_it_changes(ctl):
    body = ctl.dns_zone.dns_zone_plan(INPUT)["zone_files"][0]["body"]
    old = TODAY + 500  # a serial above today's: kept, then + 1
    assert ctl.dns_zone.dns_zone_serial(body, installed(body, old)) == old
    changed = ctl.dns_zone.dns_zone_plan(dict(INPUT, extra_records=[{"name": "www", "type": "CNAME", "value": "cal"}]))
    assert ctl.dns_zone.dns_zone_serial(changed["zone_files"][0]["body"], installed(body, old)) == old + 1
    # An old serial from an earlier day jumps to today's first.
    assert ctl.dns_zone.dns_zone_serial(changed["zone_files"][0]["body"], installed(body, 2020010100)) == TODAY


def test_serial_needs_a_body(ctl):
    with pytest.raises(ctl.AnsibleFilterError, match="zone body"):
        ctl.dns_zone.dns_zone_serial(None)


def test_role_expressions_render_in_ansible(ctl, templar):
    """The role's set_fact and template vars, with lazily templated input as in roles/dns/vars."""
    variables = dict(
        imip_dns_ttl="3600",
        plan_input=dict(INPUT, ttl=ctl.trust_as_template("{{ imip_dns_ttl | int }}"),
                        views=ctl.trust_as_template("{{ true and '198.51.100.10' | length > 0 }}")),
    )
    plan = templar("{{ plan_input | imip.server.dns_zone_plan }}", variables)
    assert plan == records.plan(**INPUT)

    body = plan["zone_files"][0]["body"]
    current = {"content": base64.b64encode(installed(body, TODAY + 7).encode()).decode()}
    expression = "{{ item.0.body | imip.server.dns_zone_serial(item.1.content | default('', true) | b64decode) }}"
    assert templar(expression, {"item": [plan["zone_files"][0], current]}) == TODAY + 7
    # slurp of a missing file (failed_when: false): no content, today's first serial.
    assert templar(expression, {"item": [plan["zone_files"][0], {"failed": True, "msg": "file not found"}]}) == TODAY


def test_tsig_key_is_checked_through_the_plan(ctl):
    """One copy of the TSIG checks (dns/inputs.py tsig_errors), through the filter the role calls."""
    bad = ctl.dns_zone.dns_zone_plan(INPUT, tsig_key={"name": "k", "secret": "no*base64*here=="})
    assert bad["views"] == []
    assert bad["errors"] == ["imip_dns_tsig_key.secret does not parse: it must be base64 (as `tsig-keygen` prints it)"]
    missing = ctl.dns_zone.dns_zone_plan(INPUT, tsig_key={}, tsig_required_by="the nsupdate provider signs its updates with it")
    assert missing["errors"][0].startswith("imip_dns_tsig_key is required (the nsupdate provider signs its updates with it)")
    assert ctl.dns_zone.dns_zone_plan(INPUT, tsig_key={}, tsig_required_by="") == records.plan(**INPUT)


def test_role_tsig_expression_renders_in_ansible(ctl, templar):
    """roles/dns/tasks/validate.yml's expression, with the key and the reason templated lazily."""
    key = {"name": "imip-update", "algorithm": "hmac-sha256", "secret": "QWpgkWO4tGIf9g8JqEJuht3vlw94dde6v/QoxRHSaJU="}
    variables = dict(
        __imip_dns_plan_input=INPUT, vault_secret=key["secret"],
        imip_dns_tsig_key=dict(key, secret=ctl.trust_as_template("{{ vault_secret }}")),
        __imip_dns_tsig_required_by=ctl.trust_as_template("{{ 'the nsupdate provider signs its updates with it' }}"),
    )
    expression = ("{{ __imip_dns_plan_input | imip.server.dns_zone_plan(tsig_key=imip_dns_tsig_key, "
                  "tsig_required_by=__imip_dns_tsig_required_by) }}")
    assert templar(expression, variables) == records.plan(**INPUT)
    variables["vault_secret"] = "c2hvcnQ="
    assert templar(expression, variables)["errors"] == [
        "imip_dns_tsig_key.secret is too short (5 bytes; use `tsig-keygen` for at least 16)"]


def test_default_inside_clients_are_the_sites_inside_addresses(ctl, templar):
    """roles/dns/vars/main.yml: localhost and the hosts' inside addresses, never the public one
    (an all-in-one host holds it itself), never `localnets`."""
    role_vars = yaml.safe_load((Path(__file__).resolve().parents[4] / "roles" / "dns" / "vars" / "main.yml").read_text())
    variables = dict(
        __imip_dns_default_inside_clients=ctl.trust_as_template(role_vars["__imip_dns_default_inside_clients"]),
        imip_dns_hosts=["gw", "ns1", "aio"], imip_dns_public_ipv4="198.51.100.10",
        hostvars={"gw": {"imip_host_ipv4": "198.51.100.130"},
                  "ns1": {"imip_host_ipv4": "198.51.100.131", "imip_host_ipv6": "2001:db8::131"},
                  "aio": {"imip_host_ipv4": "198.51.100.10"}},
    )
    assert templar("{{ __imip_dns_default_inside_clients }}", variables) == [
        "localhost", "198.51.100.130", "198.51.100.131", "2001:db8::131"]
