# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The status report filter of playbooks/check.yml.

A thin wrapper around plugins/module_utils/status/report.py (unit-tested there); the
documentation is in the sidecar file status_report.yml. Runs on the controller over registered
results and reads nothing, so it works under --check too.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

# The helpers in plugins/module_utils are imported when a filter runs, not when this file loads:
# to resolve one imip.server filter name, Ansible loads every filter file of the collection in
# each task's worker process (a fresh fork per task and host), so a top-level import was paid by
# every task that used any of them (docs/performance.md).


def _plain(value):
    """Ansible's lazy containers and tagged strings as plain dicts, lists and str."""
    if isinstance(value, Mapping):
        return dict((str(k), _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def status_report(data):
    """The report (ok, counts, failed, vantage, roundtrip, checks, lines) from check.yml's data."""
    from ansible_collections.imip.server.plugins.module_utils.status import report

    if not isinstance(data, Mapping):
        raise AnsibleFilterError("status_report expects a dict (check.yml's data), got %s" % type(data).__name__)
    try:
        return report.build(_plain(data))
    except report.ReportInputError as exc:
        raise AnsibleFilterError("status_report: %s" % exc)


def status_dns_records(plan, domain, mail_hosts):
    """{errors, records, fcrdns}: what the internet must see, from a dns_zone_plan result."""
    from ansible_collections.imip.server.plugins.module_utils.status import outside

    if not isinstance(plan, Mapping) or "views" not in plan:
        raise AnsibleFilterError("status_dns_records expects the result of imip.server.dns_zone_plan")
    if isinstance(mail_hosts, str):
        raise AnsibleFilterError("status_dns_records: mail_hosts must be a list of host names")
    return outside.dns_expectations(_plain(plan), str(domain), [str(h) for h in mail_hosts or []])


def status_services(groups, serves_dns=True):
    """The site's public services, each with the host that serves it, from Ansible's `groups`."""
    from ansible_collections.imip.server.plugins.module_utils.status import report

    if not isinstance(groups, Mapping):
        raise AnsibleFilterError("status_services expects the inventory's groups (the variable `groups`)")
    return report.services(_plain(groups), bool(serves_dns))


class FilterModule(object):
    """imip.server's status report filters."""

    def filters(self):
        return {"status_report": status_report, "status_dns_records": status_dns_records,
                "status_services": status_services}
