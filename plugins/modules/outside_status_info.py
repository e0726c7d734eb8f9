#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: outside_status_info
short_description: The status checks of a site seen from outside it (DNS, public ports, relay, greylisting)
version_added: 0.1.0
description:
  - Runs, from a host outside the site (the inventory group C(vantage)), every status check
    that needs the internet's point of view, in one call, and returns one result per check
    (V(ok), V(fail) or V(unknown)) saying what is, what it should be and how to fix it. It
    changes nothing and never fails because a check failed; only bad options make it fail.
    C(playbooks/check.yml) runs it and prints the report (docs/status.md).
  - DNS - O(dns_records) (the MX, SRV and TXT records the site publishes) and O(fcrdns)
    (forward-confirmed reverse DNS of the mail host's public address) as the resolver
    O(resolver) answers them, compared as records with the checks of M(imip.server.dns_check_info).
    A missing or wrong PTR says to ask the provider, who owns the address's reverse zone.
  - Ports - whether each of O(ports) of O(public_address) answers (a TCP connect; for UDP, a
    DNS query for the SOA of O(domain)). The report merges these observations with what the
    site host listens on.
  - Mail - one SMTP conversation with O(public_address) port 25 that never sends mail (EHLO,
    MAIL FROM, one RCPT TO per test, RSET, QUIT) - relaying to another domain refused, the
    invitation address's +TOKEN form accepted at once, an ordinary local address greylisted.
  - Probes that time out are tried again O(retries) times before they count; a DNS question
    still unanswered is V(unknown).
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
  domain:
    description: The site's mail domain (the check ids of records are relative to it).
    type: str
    required: true
  public_address:
    description: The address the internet sees (the router's, or the host's own).
    type: str
    required: true
  resolver:
    description: The DNS server to ask; empty - the first C(nameserver) of C(/etc/resolv.conf).
    type: str
    default: ""
  dns_records:
    description: Records the internet must see; entries with the same name and type form one RRset.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Owner name (absolute).
        type: str
        required: true
      type:
        description: Record type.
        type: str
        required: true
        choices: [A, AAAA, CNAME, MX, NS, PTR, SRV, TXT, CAA]
      value:
        description: Data in zone-file presentation format.
        type: str
        required: true
  fcrdns:
    description: Host names and the public address whose forward and reverse records must agree.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The host name (the MX target).
        type: str
        required: true
      address:
        description: Its public address.
        type: str
        required: true
  ports:
    description: Public ports of O(public_address) to try.
    type: list
    elements: dict
    default: []
    suboptions:
      port:
        description: The port number.
        type: int
        required: true
      proto:
        description: V(tcp) (a connect) or V(udp) (only port 53 - a DNS query).
        type: str
        choices: [tcp, udp]
        default: tcp
  smtp:
    description: The SMTP conversation with the MX (checks V(mail.relay), V(mail.greylisting.invitation), V(mail.greylisting.ordinary)); omit to skip it.
    type: dict
    suboptions:
      port:
        description: The SMTP port.
        type: int
        default: 25
      helo:
        description: The name given in EHLO.
        type: str
        required: true
      sender:
        description: MAIL FROM. Make it new on every run, so that a greylisting server never sees the same triplet twice.
        type: str
        required: true
      invitation_recipient:
        description: The invitation address with a +TOKEN, which must be accepted at once.
        type: str
        required: true
      ordinary_recipient:
        description: An existing local address that is not whitelisted (greylisted when greylisting is on); empty - that check is V(unknown).
        type: str
        default: ""
      relay_recipient:
        description: An address in another domain, which must be refused.
        type: str
        required: true
      greylisting:
        description: Whether the site greylists (C(imip_mail_greylisting_enabled)).
        type: bool
        default: true
  timeout:
    description: Seconds to wait for each network answer.
    type: float
    default: 3.0
  retries:
    description: How often a probe that timed out is tried again.
    type: int
    default: 2
requirements:
  - dnspython on the vantage host (Debian package C(python3-dnspython)); without it the DNS checks are V(unknown)
seealso:
  - module: imip.server.site_status_info
    description: The checks seen from the site's hosts.
  - module: imip.server.dns_check_info
    description: The same record checks, from any host.
  - plugin: imip.server.status_report
    plugin_type: filter
    description: Turns the results into the report.
"""

EXAMPLES = r"""
- name: The checks seen from outside
  imip.server.outside_status_info:
    domain: example.test
    public_address: 198.51.100.10
    dns_records:
      - {name: example.test., type: MX, value: "10 cal.example.test."}
    fcrdns:
      - {name: cal.example.test., address: 198.51.100.10}
    ports: [{port: 25}, {port: 587}, {port: 993}, {port: 443}, {port: 53}, {port: 53, proto: udp}]
    smtp:
      helo: ext.external.test
      sender: status-check-1a2b3c@external.test
      invitation_recipient: calendar-invites+statuscheck@example.test
      ordinary_recipient: alice@example.test
      relay_recipient: status-check@external.test
  register: outside_status
"""

RETURN = r"""
checks:
  description: One entry per DNS and mail check, as in M(imip.server.site_status_info).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The check's id, for example V(dns.fcrdns), V(dns.srv._caldavs._tcp), V(mail.relay).
      type: str
    heading:
      description: The report's heading it belongs under.
      type: str
    status:
      description: V(ok), V(fail) or V(unknown).
      type: str
    message:
      description: What is, in one sentence.
      type: str
    should:
      description: What it should be (empty when V(ok)).
      type: str
    fix:
      description: How to fix it, one step per line.
      type: list
      elements: str
ports:
  description: What each of O(ports) answered.
  returned: always
  type: list
  elements: dict
  sample: [{port: 25, proto: tcp, state: open, detail: accepts connections}]
resolver:
  description: The DNS server that was asked.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.imip.server.plugins.module_utils.status import checks as sc
from ansible_collections.imip.server.plugins.module_utils.status import outside
from ansible_collections.imip.server.plugins.module_utils.status import probes
from ansible_collections.imip.server.plugins.module_utils.dns import check as _dns_check

TYPES = ["A", "AAAA", "CNAME", "MX", "NS", "PTR", "SRV", "TXT", "CAA"]


def _argument_spec():
    """The options, as DOCUMENTATION describes them."""
    return dict(
        domain=dict(type="str", required=True),
        public_address=dict(type="str", required=True),
        resolver=dict(type="str", default=""),
        dns_records=dict(type="list", elements="dict", default=[], options=dict(
            name=dict(type="str", required=True),
            type=dict(type="str", required=True, choices=TYPES),
            value=dict(type="str", required=True),
        )),
        fcrdns=dict(type="list", elements="dict", default=[], options=dict(
            name=dict(type="str", required=True),
            address=dict(type="str", required=True),
        )),
        ports=dict(type="list", elements="dict", default=[], options=dict(
            port=dict(type="int", required=True),
            proto=dict(type="str", choices=["tcp", "udp"], default="tcp"),
        )),
        smtp=dict(type="dict", options=dict(
            port=dict(type="int", default=25),
            helo=dict(type="str", required=True),
            sender=dict(type="str", required=True),
            invitation_recipient=dict(type="str", required=True),
            ordinary_recipient=dict(type="str", default=""),
            relay_recipient=dict(type="str", required=True),
            greylisting=dict(type="bool", default=True),
        )),
        timeout=dict(type="float", default=3.0),
        retries=dict(type="int", default=2),
    )


def main():
    module = AnsibleModule(argument_spec=_argument_spec(), supports_check_mode=True)
    p = module.params
    for item in p["ports"]:
        if item["proto"] == "udp" and item["port"] != 53:
            module.fail_json(msg="ports: UDP is only tried for DNS (port 53), not %d" % item["port"])
    resolver_address = p["resolver"] or outside.system_resolver()

    def dns_part():
        if not (p["dns_records"] or p["fcrdns"]):
            return []
        if not _dns_check.HAS_DNSPYTHON:
            return outside.dns_unknown(p["dns_records"], p["fcrdns"], p["domain"],
                                       "cannot ask DNS from this host: dnspython is missing",
                                       "install python3-dnspython on the vantage host")
        if not resolver_address:
            return outside.dns_unknown(p["dns_records"], p["fcrdns"], p["domain"],
                                       "this host has no resolver in /etc/resolv.conf", "set imip_check_outside_resolver")
        resolver = _dns_check.Resolver(resolver_address, 53, p["timeout"], p["retries"])
        return outside.dns_checks(_dns_check, resolver, p["dns_records"], p["fcrdns"], p["domain"], resolver_address)

    def udp_probe(port):
        if not _dns_check.HAS_DNSPYTHON:
            return {"state": probes.ERROR, "detail": "cannot query DNS over UDP: dnspython is missing on this host"}
        import dns.message  # pylint: disable=import-outside-toplevel
        import dns.query  # pylint: disable=import-outside-toplevel
        return outside.udp_dns_answer(dns.query, dns.message, p["public_address"], port, p["domain"], p["timeout"], p["retries"])

    def mail_part():
        if p["smtp"] is None:
            return []
        smtp = dict(p["smtp"], address=p["public_address"])
        recipients = [smtp["relay_recipient"], smtp["invitation_recipient"]] + (
            [smtp["ordinary_recipient"]] if smtp["ordinary_recipient"] else [])
        session = probes.smtp_envelope(smtp["address"], smtp["port"], smtp["helo"], smtp["sender"], recipients,
                                       p["timeout"], p["retries"])
        return sc.as_list(sc.guarded("mail.relay", sc.MAIL, outside.mail_checks, session, smtp, smtp["helo"]))

    # DNS, the ports and the SMTP conversation wait on different servers: at once.
    try:
        dns_checks, ports, mail = sc.in_parallel([
            dns_part,
            lambda: outside.port_observations(p["public_address"], p["ports"], p["timeout"], p["retries"], udp_probe),
            mail_part])
    except ValueError as exc:
        module.fail_json(msg="bad record in dns_records: %s" % exc)
    checks = dns_checks + mail
    module.exit_json(changed=False, checks=checks, ports=ports, resolver=resolver_address or "")


if __name__ == "__main__":
    main()
