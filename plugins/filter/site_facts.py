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
from ansible_collections.imip.server.plugins.module_utils import _site_facts


def host_fqdn(host, hostvars):
    """The DNS name of inventory host `host`, from hostvars (any host of the inventory)."""
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
    if isinstance(addresses, (str, Mapping)) or addresses is None:
        raise AnsibleFilterError("invalid_mail_addresses expects a list of addresses, got %s" % type(addresses).__name__)
    return _site_facts.invalid_mail_addresses(list(addresses))


class FilterModule(object):
    """imip.server's filters for the shared facts."""

    def filters(self):
        return {"host_fqdn": host_fqdn, "invalid_mail_addresses": invalid_mail_addresses}
