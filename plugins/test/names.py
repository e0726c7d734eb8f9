# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Jinja tests for the collection's one rule per kind of name (plugins/module_utils/_names.py)
and for the entries postgrey's whitelists take (plugins/module_utils/_postgrey.py).

The roles check what they are given with these, e.g. ``imip_mail_domains | reject('imip.server.domain')``,
so that a role, a module and the validation play never disagree on what a domain or an address is.
Documentation: the sidecar files label.yml, domain.yml, mail_address.yml, log_level.yml,
postgrey_client.yml and postgrey_recipient.yml. They run on the controller and read nothing.
"""

from __future__ import annotations

# The helpers in plugins/module_utils are imported when a test runs, not when this file loads:
# Ansible loads every test file of the collection in each task's worker process to resolve one
# imip.server test name (as for the filters, docs/performance.md).


def label(value):
    """A DNS label (letters, digits and '-', 1-63 characters)."""
    from ansible_collections.imip.server.plugins.module_utils import _names

    return _names.is_label(value)


def domain(value):
    """A domain name the site can use (at least two labels, no trailing dot)."""
    from ansible_collections.imip.server.plugins.module_utils import _names

    return _names.is_domain(value)


def mail_address(value, domains=None):
    """A mail address the site accepts; with `domains`, also one of those domains'."""
    from ansible_collections.imip.server.plugins.module_utils import _names

    if isinstance(domains, str):
        domains = [domains]
    return _names.is_mail_address(value, None if domains is None else list(domains))


def log_level(value):
    """One of the log levels the roles pass on (info, debug)."""
    from ansible_collections.imip.server.plugins.module_utils import _names

    return _names.is_log_level(value)


def postgrey_client(value):
    """An entry postgrey parses in whitelist_clients."""
    from ansible_collections.imip.server.plugins.module_utils import _postgrey

    return _postgrey.is_client_entry(value)


def postgrey_recipient(value):
    """An entry postgrey parses in whitelist_recipients."""
    from ansible_collections.imip.server.plugins.module_utils import _postgrey

    return _postgrey.is_recipient_entry(value)


class TestModule(object):
    """imip.server's tests for names."""

    def tests(self):
        return {"label": label, "domain": domain, "mail_address": mail_address, "log_level": log_level,
                "postgrey_client": postgrey_client, "postgrey_recipient": postgrey_recipient}
