# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters of the tls role: whether a certificate is due, what an ACME failure means, and which
provider another host of the play gets its certificate from.

Thin wrappers around plugins/module_utils/_tls_renewal.py and _acme_failure.py (unit-tested
there); the documentation is in the sidecar files tls_renewal.yml, acme_failure.yml and
tls_provider.yml. They run on the controller and read nothing, so they work under --check too.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text

# The helpers in plugins/module_utils are imported when a filter runs, not when this file loads:
# to resolve one imip.server filter name, Ansible loads every filter file of the collection in
# each task's worker process (a fresh fork per task and host), so a top-level import was paid by
# every task that used any of them (docs/performance.md).


def tls_renewal(current, names, renew_days, public_key="", key_changed=False, issuer="", wanted_issuer=""):
    """{due, reasons, serial, not_after, names} for the installed certificate (PEM, '' when none)."""
    from ansible_collections.imip.server.plugins.module_utils import _tls_renewal  # imports cryptography

    if not _tls_renewal.HAS_CRYPTOGRAPHY:
        raise AnsibleFilterError("tls_renewal needs the Python library cryptography on the controller")
    if isinstance(names, str) or not names:
        raise AnsibleFilterError("tls_renewal: names must be a non-empty list of DNS names")
    try:
        days = int(renew_days)
    except (TypeError, ValueError):
        raise AnsibleFilterError("tls_renewal: renew_days must be a number of days, got %r" % (renew_days,))
    try:
        return _tls_renewal.renewal(to_text(current or ""), [to_text(n) for n in names], days,
                                    public_key=to_text(public_key or ""), key_changed=bool(key_changed),
                                    issuer=to_text(issuer or ""), wanted_issuer=to_text(wanted_issuer or ""))
    except ValueError as exc:
        raise AnsibleFilterError("tls_renewal: %s" % exc)


def acme_failure(result, task="", action="", **context):
    """One message for a failed ACME step (see acme_failure.yml)."""
    from ansible_collections.imip.server.plugins.module_utils import _acme_failure

    if not isinstance(result, Mapping):
        result = {"msg": to_text(result)}
    return _acme_failure.message(dict(result), task=to_text(task), action=to_text(action), **context)


def tls_provider(host, hostvars):
    """The imip_tls_provider of inventory host `host`: its own, else the tls role's default
    (supplied when it has imip_tls_certificate_pem, else site_ca). Role defaults are not in
    hostvars, so this is how one host sees another's."""
    if not isinstance(host, str) or not host:
        raise AnsibleFilterError("tls_provider: give an inventory host name, e.g. 'cal' | imip.server.tls_provider(hostvars)")
    try:
        variables = hostvars[host]
    except KeyError:
        raise AnsibleFilterError("tls_provider: %s is not a host of the inventory" % host) from None
    provider = variables.get("imip_tls_provider")
    if provider is not None:
        return provider
    return "supplied" if len(variables.get("imip_tls_certificate_pem") or "") > 0 else "site_ca"


class FilterModule(object):
    def filters(self):
        return {"tls_renewal": tls_renewal, "acme_failure": acme_failure, "tls_provider": tls_provider}
