# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters for the facts several roles share (the imip.server.site_facts role).

Thin wrappers around plugins/module_utils/_site_facts.py, where each rule is written once and
unit-tested; documentation in the sidecar files host_fqdn.yml and invalid_mail_addresses.yml.
They run on the controller and read nothing, so they work under --check too.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

# The helpers in plugins/module_utils are imported when a filter runs, not when this file loads:
# to resolve one imip.server filter name, Ansible loads every filter file of the collection in
# each task's worker process (a fresh fork per task and host), so a top-level import was paid by
# every task that used any of them (docs/performance.md).


def host_fqdn(host, hostvars):
    """The DNS name of inventory host `host`, from hostvars (any host of the inventory)."""
    from ansible_collections.imip.server.plugins.module_utils import _site_facts

    if not isinstance(host, str) or not host:
        raise AnsibleFilterError("host_fqdn: give an inventory host name, e.g. 'cal' | imip.server.host_fqdn(hostvars)")
    try:
        variables = hostvars[host]
    except KeyError:
        raise AnsibleFilterError("host_fqdn: %s is not a host of the inventory" % host) from None
    name = _site_facts.host_fqdn(host, variables)
    if name is None:
        raise AnsibleFilterError("host_fqdn: %s has neither imip_host_fqdn nor imip_domain; set imip_domain "
                                 "(group_vars/all) or the host's imip_host_fqdn" % host)
    return name


def invalid_mail_addresses(addresses):
    """The addresses of a list that are not mail addresses the site accepts (local@domain)."""
    from ansible_collections.imip.server.plugins.module_utils import _site_facts

    if isinstance(addresses, (str, Mapping)) or addresses is None:
        raise AnsibleFilterError("invalid_mail_addresses expects a list of addresses, got %s" % type(addresses).__name__)
    return _site_facts.invalid_mail_addresses(list(addresses))


def site_problems(variables, group_names):
    """Every problem of one host's inventory variables, one line each (site.yml's first play)."""
    from ansible_collections.imip.server.plugins.module_utils import _site_validation

    if not isinstance(variables, Mapping):
        raise AnsibleFilterError("site_problems expects the host's variables as a mapping, got %s" % type(variables).__name__)
    if isinstance(group_names, (str, Mapping)) or group_names is None:
        raise AnsibleFilterError("site_problems: give the host's group_names, e.g. variables | imip.server.site_problems(group_names)")
    return _site_validation.host_problems(variables, list(group_names), _role_specs())


def _role_specs():
    """role name -> the `argument_specs` of its meta/argument_specs.yml, read from this collection."""
    import os

    import yaml

    roles = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "roles")
    specs = {}
    for role in sorted(os.listdir(roles)):
        path = os.path.join(roles, role, "meta", "argument_specs.yml")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                specs[role] = (yaml.safe_load(handle) or {}).get("argument_specs") or {}
    return specs


class FilterModule(object):
    """imip.server's filters for the shared facts."""

    def filters(self):
        return {"host_fqdn": host_fqdn, "invalid_mail_addresses": invalid_mail_addresses,
                "site_problems": site_problems}
