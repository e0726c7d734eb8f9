# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters of the firewall role: its input checked and planned, and the default port forwards.

Thin wrappers around plugins/module_utils/firewall/ (unit-tested there); the
documentation is in the sidecar files firewall_plan.yml, firewall_group_forwards.yml and
firewall_group_ports.yml (the last one around plugins/module_utils/_services.py, the catalogue of
public services). All run on the controller, read nothing and write nothing, so they work under
--check too.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

# The helpers in plugins/module_utils are imported when a filter runs, not when this file loads:
# to resolve one imip.server filter name, Ansible loads every filter file of the collection in
# each task's worker process (a fresh fork per task and host), so a top-level import was paid by
# every task that used any of them (docs/performance.md).

# The arguments of firewall.plan() that a plan input may carry.
_PLAN_KEYS = frozenset((
    "admin_sources", "ssh_port", "service_ports", "nat", "port_forwards", "hosts", "public_ipv4",
    "host_ipv4", "inside_networks", "outside_interface", "inside_interface", "facts",
    "confirm_timeout", "rollback_timeout", "host",
))
_PLAN_REQUIRED = ("admin_sources",)


def firewall_plan(data):
    """What the ruleset template needs, or the input's errors (naming the variables)."""
    from ansible_collections.imip.server.plugins.module_utils.firewall import plan as firewall

    if not isinstance(data, Mapping):
        raise AnsibleFilterError("firewall_plan expects a dict (the plan input), got %s" % type(data).__name__)
    unknown = sorted(set(data) - _PLAN_KEYS)
    if unknown:
        raise AnsibleFilterError("firewall_plan: unknown keys %s (known: %s)"
                                 % (", ".join(unknown), ", ".join(sorted(_PLAN_KEYS))))
    missing = [key for key in _PLAN_REQUIRED if key not in data]
    if missing:
        raise AnsibleFilterError("firewall_plan: missing keys %s" % ", ".join(missing))
    return firewall.plan(**{key: data[key] for key in data})


def firewall_group_forwards(group_ports, groups):
    """Every port of each group in group_ports, forwarded to the first host of that group."""
    from ansible_collections.imip.server.plugins.module_utils.firewall import plan as firewall

    if not isinstance(group_ports, Mapping) or not isinstance(groups, Mapping):
        raise AnsibleFilterError("firewall_group_forwards expects the group ports and the inventory's groups (two dicts)")
    return firewall.group_forwards(group_ports, groups)


def firewall_group_ports(more=None):
    """The ports each inventory group serves, from the catalogue of public services; the groups in
    `more` are added (a group there replaces the catalogue's ports for it)."""
    from ansible_collections.imip.server.plugins.module_utils import _services

    if more is not None and not isinstance(more, Mapping):
        raise AnsibleFilterError("firewall_group_ports expects a dict of more group ports, got %s" % type(more).__name__)
    return dict(_services.group_ports(), **dict(more or {}))


class FilterModule(object):
    """imip.server's firewall filters."""

    def filters(self):
        return {
            "firewall_plan": firewall_plan,
            "firewall_group_forwards": firewall_group_forwards,
            "firewall_group_ports": firewall_group_ports,
        }
