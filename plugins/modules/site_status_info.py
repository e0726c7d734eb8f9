#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: site_status_info
short_description: The status checks of a site host (ports, TLS, the invitation password, the iMIP gateway, backups)
version_added: 0.1.0
description:
  - Runs every status check that needs the site host's own point of view, in one call, and
    returns one result per check (V(ok), V(fail) or V(unknown)) saying what is, what it should
    be and how to fix it. It changes nothing and never fails because a check failed; only bad
    options make it fail. C(playbooks/check.yml) runs it on the mail, calendar and DNS servers
    and prints the report (docs/status.md).
  - O(services) - the addresses each port listens on, read from the host's socket tables
    (C(/proc/net)), so that the report can tell "not running" and "loopback only" from "blocked
    on the way"; and the certificate each TLS port serves (STARTTLS for SMTP), verified with
    the host's trust store for the first of O(tls_names), carrying every name of O(tls_names),
    and valid for more than O(tls_min_days) days.
  - O(parity_stores) - every copy of the invitation password compared with O(parity_secret),
    by the same engine as M(imip.server.password_parity_info), live SMTP AUTH and IMAP LOGIN
    included; one check per store.
  - O(gateway) - the iMIP gateway's unit, its Radicale hook, its queue, its logins since
    its last start, and every other failure the gateway reports about itself (a dead or wedged
    service, planning errors, reconciliation overdue, write-backs pending, a paused queue,
    replies not read) (C(systemctl show) and C(imip-gateway status --json), run as the
    gateway's user).
  - O(backup) - the last successful backup against its schedule, the repository, the last
    restore test (C(systemctl show), the backup program's stamps and C(check-repository)).
  - O(outbound_ipv6) - on a mail host, whether outgoing mail can leave from a global IPv6
    address that the site does not publish (C(/proc/net/if_inet6) and Postfix's
    C(inet_protocols) and C(smtp_address_preference) as C(postconf) reads them).
  - Network probes that time out are tried again O(retries) times before they count.
  - The result holds no password, hash or token; server replies are masked as the parity
    engine masks them.
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
  services:
    description:
      - The public services this host runs. For each, the addresses its port listens on are
        returned in RV(listeners); for each with a O(services[].tls) protocol, the certificate
        it serves is checked (one check V(tls.<port>)).
    type: list
    elements: dict
    default: []
    suboptions:
      port:
        description: The port number.
        type: int
        required: true
      proto:
        description: The protocol.
        type: str
        choices: [tcp, udp]
        default: tcp
      service:
        description: A name for the report, for example V(IMAPS).
        type: str
        required: true
      unit:
        description: The systemd unit that serves it, for the report's advice.
        type: str
      tls:
        description: V(smtp) for STARTTLS after EHLO, V(tls) for TLS from the first byte, V(none) for no certificate check.
        type: str
        choices: [none, smtp, tls]
        default: none
  tls_names:
    description:
      - The names every certificate must carry; the first is sent as SNI and verified as the
        host name. Required when a service has O(services[].tls).
    type: list
    elements: str
    default: []
  tls_min_days:
    description: A certificate valid for fewer days than this fails.
    type: int
    default: 14
  tls_ca_file:
    description: A CA bundle to verify with instead of the host's trust store.
    type: path
  parity_stores:
    description:
      - The copies of the invitation password, exactly as the O(imip.server.password_parity_info#module:stores)
        option (the invitation_account role's C(stores) entry point publishes them). One check
        V(account.<name>) per store. Empty - no such checks.
    type: list
    elements: dict
    default: []
  parity_secret:
    description: The password every copy must hold. Required with O(parity_stores).
    type: str
  parity_address:
    description: The invitation account's address, for the messages.
    type: str
    default: the invitation account
  gateway:
    description: The iMIP gateway to check (checks V(gateway.service), V(gateway.hook), V(gateway.queue), V(gateway.auth), V(gateway.health)).
    type: dict
    suboptions:
      unit:
        description: Its systemd unit.
        type: str
        default: imip-gateway
      command:
        description: The C(imip-gateway) program.
        type: path
        default: /opt/imip/gateway/bin/imip-gateway
      config:
        description: Its configuration file.
        type: path
        default: /etc/imip-gateway/gateway.ini
      user:
        description: The user the status is read as when the module runs as root (its state is its own).
        type: str
        default: imip-gateway
      max_queue_age:
        description: Seconds the oldest queued invitation may wait before the queue counts as stuck.
        type: int
        default: 900
  backup:
    description:
      - The backups the imip.server.backup role set up (checks V(backup.last), V(backup.repository),
        V(backup.restore_test)) - the last successful backup and its age against the timer's schedule
        (overdue one period plus three hours after the last success) or a failed last run; whether the
        repository answers and opens with the password (the role's C(imip-backup check-repository));
        the last restore test or restore and its result (V(?) when none was tried and restore tests
        are off).
      - Run with become - the stamps, the password and the repository's key are root's.
    type: dict
    suboptions:
      program:
        description: The role's backup program.
        type: path
        default: /usr/local/lib/imip-server/imip-backup
      state_dir:
        description: Where the program writes C(last-success.json) and C(last-restore.json).
        type: path
        default: /var/lib/imip-backup
      repository:
        description: The repository, as the report names it (O(imip.server.backup#role:main:imip_backup_repository)).
        type: str
        default: the repository
      timeout:
        description: Seconds the repository may take to answer before it counts as unreachable.
        type: int
        default: 60
  outbound_ipv6:
    description:
      - Check V(mail.outbound_ipv6) - mail must not leave from an IPv6 address that has no PTR and
        no place in the SPF record. V(ok) when the host has no global IPv6 address, when Postfix
        prefers IPv4 (the mail role's default, O(imip.server.mail#role:main:imip_mail_outbound_ipv6=false)),
        or when every global address is published; V(fail) when Postfix may send from an address
        that is not.
    type: dict
    suboptions:
      published:
        description:
          - The IPv6 addresses the site publishes for this host (AAAA and PTR), for example its
            C(imip_host_ipv6), whose AAAA and PTR the dns role writes.
        type: list
        elements: str
        default: []
  timeout:
    description: Seconds to wait for each network answer.
    type: float
    default: 3.0
  retries:
    description: How often a probe that timed out is tried again.
    type: int
    default: 2
requirements:
  - passlib (Debian C(python3-passlib)) for a V(passwd_file) store
  - cryptography, only to name the names and dates of a certificate that fails verification
seealso:
  - module: imip.server.outside_status_info
    description: The checks seen from outside the site.
  - module: imip.server.password_parity_info
    description: The same comparison of the password's copies, as a module of its own.
  - plugin: imip.server.status_report
    plugin_type: filter
    description: Turns the results into the report.
"""

EXAMPLES = r"""
- name: The checks seen from the mail host
  imip.server.site_status_info:
    services:
      - {port: 25, service: SMTP, unit: postfix, tls: smtp}
      - {port: 587, service: submission, unit: postfix, tls: smtp}
      - {port: 993, service: IMAPS, unit: dovecot, tls: tls}
    tls_names: [cal.example.test]
    parity_stores: "{{ imip_invitation_account_stores }}"
    parity_secret: "{{ imip_invitation_password }}"
    parity_address: calendar-invites@example.test
    gateway: {}
    backup:
      repository: sftp:backup@backup.example.test:/srv/restic/cal
    outbound_ipv6:
      published: ["2001:db8:10::25"]
  register: site_status

- name: Show what failed
  ansible.builtin.debug:
    msg: "{{ site_status.checks | rejectattr('status', 'equalto', 'ok') | list }}"
"""

RETURN = r"""
checks:
  description: One entry per check, in the order above.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: The check's id, for example V(tls.993), V(account.smtp-login), V(gateway.queue).
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
listeners:
  description: For each of O(services), the addresses its port listens on (empty - nothing listens).
  returned: always
  type: list
  elements: dict
  sample: [{port: 993, proto: tcp, addresses: ["0.0.0.0", "::"]}]
"""

import ipaddress
import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.imip.server.plugins.module_utils import _dovecot_hash as dh
from ansible_collections.imip.server.plugins.module_utils.parity import engine as _parity
from ansible_collections.imip.server.plugins.module_utils.status import backup as backup_status
from ansible_collections.imip.server.plugins.module_utils.status import checks as sc
from ansible_collections.imip.server.plugins.module_utils.status import gateway as gateway_status
from ansible_collections.imip.server.plugins.module_utils.status import site
from ansible_collections.imip.server.plugins.module_utils._keychain import module_runner


def _account(module, p):
    """Checks of the password's copies (the parity engine in-process, probes retried)."""
    validated = ArgumentSpecValidator({"stores": _parity.STORES_SPEC}).validate({"stores": p["parity_stores"]})
    if validated.error_messages:
        module.fail_json(msg="parity_stores: %s" % "; ".join(validated.error_messages))
    specs = validated.validated_parameters["stores"]
    unverifiable = []
    if _parity.needs_passlib(specs) and not dh.have_passlib():
        unverifiable = [sc.unknown("account.%s" % s["name"], sc.ACCOUNT, "%s: cannot verify the hash: passlib is missing "
                                   "on this host" % s["name"], fix=dh.PASSLIB_INSTALL_HINT)
                        for s in specs if s["type"] == "passwd_file"]
        specs = [s for s in specs if s["type"] != "passwd_file"]
        if not specs:
            return unverifiable
    context = dict(systemd_creds_bin=module.get_bin_path("systemd-creds"), run=module_runner(module))

    def engine():
        stores = _parity.build_stores(specs, context)
        result, dummy, dummy2 = _parity.run(stores, secret=p["parity_secret"], rewrite=False, check_mode=True)
        return result

    try:
        result = site.run_parity(engine, p["retries"])
    except _parity.ParityInputError as exc:
        module.fail_json(msg="parity_stores: %s" % exc)
    return site.account_checks(result["stores"], p["parity_address"]) + unverifiable


def _gateway(module, gateway):
    unit_name = gateway["unit"]
    rc, out, err = module.run_command(["systemctl", "show", unit_name, "--timestamp=unix",
                                       "-p", "LoadState,ActiveState,SubState,ActiveEnterTimestamp,NRestarts"])
    unit = gateway_status.parse_systemctl_show(out) if rc == 0 else {"LoadState": "unknown (systemctl: %s)" % err.strip()}
    status, why = None, None
    if not os.path.exists(gateway["command"]):
        why = "%s is not installed" % gateway["command"]
    else:
        argv = [gateway["command"], "status", "--json", "--config", gateway["config"]]
        if os.geteuid() == 0:
            # As the gateway's own user: root would leave root-owned SQLite -wal/-shm files in its state dir.
            argv = ["runuser", "-u", gateway["user"], "--"] + argv
        rc, out, err = module.run_command(argv)
        try:
            status = gateway_status.read_status_json(out)
        except ValueError:
            why = "exit %d: %s" % (rc, (err or out).strip().splitlines()[-1] if (err or out).strip() else "no output")
    return gateway_status.gateway_checks(unit, status, why, gateway["max_queue_age"], unit_name=unit_name)


def _read_stamp(path):
    """A stamp of the backup program (dict), or None when there is none or it is unreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            value = json.load(handle)
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _period(module, timer):
    """The seconds between two elapses of a timer's OnCalendar expression, or None."""
    expr, dummy = backup_status.timer_schedule(timer)
    if not expr:
        return None
    rc, out, dummy = module.run_command(["systemd-analyze", "calendar", "--iterations=2", expr],
                                        environ_update={"TZ": "UTC", "LC_ALL": "C"})
    return backup_status.calendar_period(out) if rc == 0 else None


def _backup(module, backup):
    rc, out, err = module.run_command(["systemctl", "show", "--timestamp=unix", "-p", ",".join(backup_status.SHOW_PROPERTIES)]
                                      + list(backup_status.UNITS))
    units = backup_status.parse_show(out) if rc == 0 else {}
    unit = dict((name, units.get(name, {"LoadState": "unknown (systemctl: %s)" % err.strip()}))
                for name in backup_status.UNITS)
    state_dir = backup["state_dir"]
    timer, test_timer = unit[backup_status.BACKUP_TIMER], unit[backup_status.RESTORE_TEST_TIMER]
    checks = [backup_status.last_backup_check(timer, unit[backup_status.BACKUP_SERVICE],
                                              _read_stamp(os.path.join(state_dir, "last-success.json")),
                                              _period(module, timer))]
    if os.path.exists(backup["program"]):
        rc, dummy, err = module.run_command(["timeout", str(backup["timeout"]), backup["program"], "check-repository"])
        checks.append(backup_status.repository_check(rc, err, backup["repository"], backup["program"]))
    else:
        checks.append(sc.fail("backup.repository", sc.BACKUP, "%s is not installed" % backup["program"],
                              "the backup role's program", "run site.yml (playbooks/backup.yml)"))
    checks.append(backup_status.restore_test_check(test_timer, _read_stamp(os.path.join(state_dir, "last-restore.json")),
                                                   _period(module, test_timer)))
    return checks


def _outbound_ipv6(module, published):
    postconf = module.get_bin_path("postconf")
    if not postconf:
        return sc.unknown(site.OUTBOUND_IPV6, sc.MAIL, "could not determine: Postfix is not installed (no postconf)",
                          fix="run the mail role on this host (playbooks/mail.yml)")
    rc, out, err = module.run_command([postconf, "-h", "inet_protocols", "smtp_address_preference"])
    values = out.splitlines()
    if rc != 0 or len(values) != 2:
        return sc.unknown(site.OUTBOUND_IPV6, sc.MAIL, "could not read Postfix's settings: postconf said %s"
                          % ((err or out).strip() or "nothing (exit %d)" % rc), fix="is Postfix installed? `postconf -n`")
    return site.outbound_ipv6_check(site.global_ipv6_addresses(), values[0].strip(), values[1].strip(), published)


def _argument_spec():
    """The options, as DOCUMENTATION describes them."""
    return dict(
        services=dict(type="list", elements="dict", default=[], options=dict(
            port=dict(type="int", required=True),
            proto=dict(type="str", choices=["tcp", "udp"], default="tcp"),
            service=dict(type="str", required=True),
            unit=dict(type="str"),
            tls=dict(type="str", choices=["none", "smtp", "tls"], default="none"),
        )),
        tls_names=dict(type="list", elements="str", default=[]),
        tls_min_days=dict(type="int", default=14),
        tls_ca_file=dict(type="path"),
        parity_stores=dict(type="list", elements="dict", default=[]),
        parity_secret=dict(type="str", no_log=True),
        parity_address=dict(type="str", default="the invitation account"),
        gateway=dict(type="dict", options=dict(
            unit=dict(type="str", default="imip-gateway"),
            command=dict(type="path", default="/opt/imip/gateway/bin/imip-gateway"),
            config=dict(type="path", default="/etc/imip-gateway/gateway.ini"),
            user=dict(type="str", default="imip-gateway"),
            max_queue_age=dict(type="int", default=900),
        )),
        backup=dict(type="dict", options=dict(
            program=dict(type="path", default="/usr/local/lib/imip-server/imip-backup"),
            state_dir=dict(type="path", default="/var/lib/imip-backup"),
            repository=dict(type="str", default="the repository"),
            timeout=dict(type="int", default=60),
        )),
        outbound_ipv6=dict(type="dict", options=dict(
            published=dict(type="list", elements="str", default=[]),
        )),
        timeout=dict(type="float", default=3.0),
        retries=dict(type="int", default=2),
    )


def _check_input(module, tls_services):
    """Fail on what the argument spec cannot say: TLS without names, parity without its secret,
    a published address that is not IPv6."""
    p = module.params
    if tls_services and not p["tls_names"]:
        module.fail_json(msg="tls_names must name at least one host name when a service has tls")
    if p["parity_stores"] and not p["parity_secret"]:
        module.fail_json(msg="parity_secret is required with parity_stores")
    for address in (p["outbound_ipv6"] or {}).get("published", []):
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            module.fail_json(msg="outbound_ipv6.published: %r is not an IPv6 address" % address)


def _jobs(module, endpoints):
    """The families of checks this host was asked for, each a function (they run at once)."""
    p = module.params
    jobs = [lambda: site.tls_checks(endpoints, p["tls_names"], p["tls_min_days"], p["timeout"], p["retries"],
                                    p["tls_ca_file"])]
    if p["parity_stores"]:
        jobs.append(lambda: sc.as_list(sc.guarded("account.stores", sc.ACCOUNT, _account, module, p)))
    if p["gateway"] is not None:
        jobs.append(lambda: sc.as_list(sc.guarded("gateway.service", sc.GATEWAY, _gateway, module, p["gateway"])))
    if p["backup"] is not None:
        jobs.append(lambda: sc.as_list(sc.guarded("backup.last", sc.BACKUP, _backup, module, p["backup"])))
    if p["outbound_ipv6"] is not None:
        jobs.append(lambda: sc.as_list(sc.guarded(site.OUTBOUND_IPV6, sc.MAIL, _outbound_ipv6, module,
                                                  p["outbound_ipv6"]["published"])))
    return jobs


def main():
    module = AnsibleModule(argument_spec=_argument_spec(), supports_check_mode=True)
    p = module.params
    tls_services = [x for x in p["services"] if x["tls"] != "none"]
    _check_input(module, tls_services)
    found = site.listeners([dict(port=x["port"], proto=x["proto"]) for x in p["services"]])
    addresses = dict((x["port"], x["addresses"]) for x in found if x["proto"] == "tcp")
    endpoints = [dict(port=x["port"], protocol=x["tls"], service=x["service"],
                      address=site.connect_address(addresses.get(x["port"], []))) for x in tls_services]

    # The families wait on different servers: run them at once.
    checks = [c for family in sc.in_parallel(_jobs(module, endpoints)) for c in family]
    module.exit_json(changed=False, checks=checks, listeners=found)


if __name__ == "__main__":
    main()
