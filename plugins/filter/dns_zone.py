# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters of the dns role: a site's zones from its inventory, and the serial of a zone file.

Thin wrappers around plugins/module_utils/dns/ (unit-tested there); the
documentation is in the sidecar files dns_zone_plan.yml and dns_zone_serial.yml. Both run on the
controller, read nothing and write nothing, so they work under --check too.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

# The helpers in plugins/module_utils are imported when a filter runs, not when this file loads:
# to resolve one imip.server filter name, Ansible loads every filter file of the collection in
# each task's worker process (a fresh fork per task and host), so a top-level import was paid by
# every task that used any of them (docs/performance.md).

# The arguments of records.plan() that a plan input may carry.
_PLAN_KEYS = frozenset((
    "domain", "hosts", "nameservers", "mail_hosts", "calendar_hosts", "public_ipv4", "public_ipv6",
    "views", "reverse_networks", "extra_records", "ttl", "caldav_path", "spf", "dmarc",
    "soa_contact", "soa_timers", "ptr_records", "dkim", "dmarc_report_address",
))
_PLAN_REQUIRED = ("domain", "hosts", "nameservers")


def dns_zone_plan(data, tsig_key=None, tsig_required_by=None):
    """The zones, records and zone-file bodies of a site per view, or the input's errors.

    tsig_key, tsig_required_by: the TSIG key and why it is needed (empty: only checked when
    given); its problems join the plan's errors. A separate argument, so that the plan input
    holds no secret.
    """
    from ansible_collections.imip.server.plugins.module_utils.dns import planner as records

    if not isinstance(data, Mapping):
        raise AnsibleFilterError("dns_zone_plan expects a dict (the plan input), got %s" % type(data).__name__)
    unknown = sorted(set(data) - _PLAN_KEYS)
    if unknown:
        raise AnsibleFilterError("dns_zone_plan: unknown keys %s (known: %s)"
                                 % (", ".join(unknown), ", ".join(sorted(_PLAN_KEYS))))
    missing = [key for key in _PLAN_REQUIRED if key not in data]
    if missing:
        raise AnsibleFilterError("dns_zone_plan: missing keys %s" % ", ".join(missing))
    plan = records.plan(**{key: data[key] for key in data})
    key_errors = records.tsig_errors(tsig_key, required_by=tsig_required_by or None)
    if key_errors:
        # Bad input: no usable plan, as for every other error.
        return {"errors": key_errors + plan["errors"], "views": []}
    return plan


def dns_zone_serial(body, installed=None):
    """The serial for a zone body (with the SERIAL placeholder), given the installed file's text."""
    from ansible_collections.imip.server.plugins.module_utils.dns import zone_text as records

    if body is None:
        raise AnsibleFilterError("dns_zone_serial expects the zone body (a string), got None")
    serial, dummy = records.next_serial(to_text(installed or ""), to_text(body))
    return serial


class FilterModule(object):
    """imip.server's DNS filters."""

    def filters(self):
        return {
            "dns_zone_plan": dns_zone_plan,
            "dns_zone_serial": dns_zone_serial,
        }
