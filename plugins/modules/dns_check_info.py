#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: dns_check_info
short_description: Check DNS records and forward-confirmed reverse DNS from a resolver's point of view
version_added: 0.1.0
description:
  - Asks one DNS server (address and port) for the records a deployment needs and for
    forward-confirmed reverse DNS (A/AAAA to PTR to the same name), and reports per check what
    is, what should be, and the exact zone-file lines to add or remove.
  - It never changes anything and never fails because a check failed; use RV(ok) or
    RV(failed_checks) in a later task to decide. Only bad options make it fail.
  - The P(imip.server.dns#role) role serves or pushes the records and runs this module after
    converging.
  - Expected and answered records are compared as records, both parsed by dnspython, never as
    text, so quoting, escapes, non-ASCII TXT text, name case and trailing dots never make a
    right record look wrong. Reports and fixes show both in dnspython's canonical form.
  - Timeouts, SERVFAIL and REFUSED are retried and then reported as V(unknown) ("could not
    determine"), never as a pass or a failure.
  - The queries leave from the managed host, so the answer is the one that host's network
    position gets (for example the inside or the outside view of a split-horizon server).
author:
  - imip.server developers (@imip-server)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - imip.server.attributes
  - imip.server.attributes.info_module
attributes:
  idempotent:
    support: full
  platform:
    platforms: posix
options:
  server:
    description: Address of the DNS server to ask (a resolver or the authoritative server).
    type: str
    required: true
  port:
    description: Its port.
    type: int
    default: 53
  source:
    description: Source address for the queries (to pick a view on a split-horizon server).
    type: str
  timeout:
    description: Seconds to wait for each answer.
    type: float
    default: 2.0
  retries:
    description: How often a query that timed out is sent again.
    type: int
    default: 2
  ttl:
    description: TTL written in the suggested zone-file lines.
    type: int
    default: 3600
  records:
    description:
      - Records that must exist. Entries with the same O(records[].name) and O(records[].type)
        form one RRset that must match exactly (missing values are to add, others to remove).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Owner name (absolute; the trailing dot is optional).
        type: str
        required: true
      type:
        description: Record type.
        type: str
        required: true
        choices: [A, AAAA, CNAME, MX, NS, PTR, SRV, TXT, CAA]
      value:
        description:
          - Data in zone-file presentation format, for example V(10 cal.example.test.) or
            V(0 issue "letsencrypt.org"); names may lack the trailing dot.
          - A TXT value without quotes is one text (cut into strings of 255 bytes); with quotes it
            is read as a zone file has it, escapes included.
        type: str
        required: true
  fcrdns:
    description: Name/address pairs whose forward and reverse records must agree.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The host name.
        type: str
        required: true
      address:
        description: The IPv4 or IPv6 address the name must have and whose PTR must be the name.
        type: str
        required: true
      address_owner:
        description:
          - Who controls the reverse zone of the address. V(us) when this site serves it;
            otherwise a description such as V(the router's owner or the internet provider),
            quoted in the message when the PTR is wrong.
        type: str
        default: us
requirements:
  - dnspython on the managed host (Debian package C(python3-dnspython))
seealso:
  - plugin: imip.server.dns_zone_plan
    plugin_type: filter
    description: The records a site needs, derived from its inventory (what the P(imip.server.dns#role) role checks with this module).
  - name: RFC 8499 (DNS terminology), forward-confirmed reverse DNS
    description: What FCrDNS means.
    link: https://www.rfc-editor.org/rfc/rfc8499
"""

EXAMPLES = r"""
- name: Check what the outside world sees
  imip.server.dns_check_info:
    server: 198.51.100.10
    records:
      - {name: example.test, type: MX, value: "10 cal.example.test."}
      - {name: _caldavs._tcp.example.test, type: SRV, value: "0 1 443 cal.example.test."}
    fcrdns:
      - name: cal.example.test
        address: 198.51.100.10
        address_owner: the internet provider
  register: dns

- name: Fail with the report when something is wrong
  ansible.builtin.assert:
    that: dns.ok
    fail_msg: "{{ dns.report }}"
"""

RETURN = r"""
ok:
  description: True when every check passed (no failure, nothing undetermined).
  returned: always
  type: bool
failed_checks:
  description: How many checks failed.
  returned: always
  type: int
unknown_checks:
  description: How many checks could not be determined (timeouts, server errors).
  returned: always
  type: int
checks:
  description: One entry per RRset and per FCrDNS pair.
  returned: always
  type: list
  elements: dict
  contains:
    check:
      description: V(record) or V(fcrdns).
      type: str
    name:
      description: The owner name checked.
      type: str
    type:
      description: The record type.
      type: str
    status:
      description: V(ok), V(fail) or V(unknown).
      type: str
    is:
      description: What the server answered.
      type: raw
    should:
      description: What it should answer.
      type: raw
    fix:
      description: Zone-file lines to add or remove, each prefixed V(add:) or V(remove:).
      type: list
      elements: str
      sample: ["add: 132.100.51.198.in-addr.arpa. 3600 IN PTR cal.example.test."]
    message:
      description: One sentence on the result.
      type: str
report:
  description: The checks as lines, V(✓), V(✖) or V(?) first, fixes indented below.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.imip.server.plugins.module_utils.dns import check as _dns_check

TYPES = ["A", "AAAA", "CNAME", "MX", "NS", "PTR", "SRV", "TXT", "CAA"]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            server=dict(type="str", required=True),
            port=dict(type="int", default=53),
            source=dict(type="str"),
            timeout=dict(type="float", default=2.0),
            retries=dict(type="int", default=2),
            ttl=dict(type="int", default=3600),
            records=dict(type="list", elements="dict", default=[], options=dict(
                name=dict(type="str", required=True),
                type=dict(type="str", required=True, choices=TYPES),
                value=dict(type="str", required=True),
            )),
            fcrdns=dict(type="list", elements="dict", default=[], options=dict(
                name=dict(type="str", required=True),
                address=dict(type="str", required=True),
                address_owner=dict(type="str", default="us"),
            )),
        ),
        supports_check_mode=True,
    )
    if not _dns_check.HAS_DNSPYTHON:
        module.fail_json(msg=missing_required_lib("dnspython (Debian: python3-dnspython)"),
                         exception=str(_dns_check.DNSPYTHON_ERROR))
    p = module.params
    resolver = _dns_check.Resolver(p["server"], p["port"], p["timeout"], p["retries"], p["source"])
    try:
        checks = _dns_check.run_checks(resolver, p["records"], p["fcrdns"], p["ttl"])
    except ValueError as exc:
        module.fail_json(msg="bad record in the options: %s" % exc)
    counts, report = _dns_check.summary(checks)
    module.exit_json(changed=False, ok=counts["fail"] == 0 and counts["unknown"] == 0,
                     failed_checks=counts["fail"], unknown_checks=counts["unknown"],
                     checks=checks, report=report)


if __name__ == "__main__":
    main()
