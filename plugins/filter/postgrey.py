# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The filter that builds postgrey's recipient whitelist (plugins/module_utils/_postgrey.py).

Documentation: the sidecar file postgrey_whitelist.yml. It runs on the controller and reads nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

# The helpers in plugins/module_utils are imported when a filter runs, not when this file loads
# (docs/performance.md).


def postgrey_whitelist(invitation_address, recipients=None):
    """The lines of postgrey's whitelist_recipients.local: the invitation address and `recipients`."""
    from ansible_collections.imip.server.plugins.module_utils import _postgrey

    if not isinstance(invitation_address, str) or not invitation_address:
        raise AnsibleFilterError("postgrey_whitelist: give the invitation address, e.g. "
                                 "imip_invitation_address | imip.server.postgrey_whitelist(imip_mail_greylisting_whitelist_recipients)")
    if recipients is None:
        recipients = []
    if isinstance(recipients, (str, Mapping)):
        raise AnsibleFilterError("postgrey_whitelist: the recipients must be a list, got %s" % type(recipients).__name__)
    bad = [entry for entry in recipients if not _postgrey.is_recipient_entry(entry)]
    if bad:
        raise AnsibleFilterError("postgrey_whitelist: postgrey cannot parse %s; each entry is user@domain, user@, "
                                 "domain or /regex/, without spaces or '#'" % bad)
    return _postgrey.whitelist_recipients(invitation_address, list(recipients))


class FilterModule(object):
    """imip.server's postgrey filter."""

    def filters(self):
        return {"postgrey_whitelist": postgrey_whitelist}
