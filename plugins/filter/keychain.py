# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The filter that turns keychain items found on a host into a systemd unit's credential lines.

Documentation: the sidecar file unit_credentials.yml. It runs on the controller and reads nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError


def unit_credentials(names, stores, found):
    """[{name, line}] for each item of `names` that is in `found` (paths), from the first store of
    `stores` (backend -> {dir, suffix, directive}) that holds it; items found nowhere are left out."""
    if isinstance(names, (str, Mapping)) or names is None:
        raise AnsibleFilterError("unit_credentials expects a list of keychain item names, got %s" % type(names).__name__)
    if not isinstance(stores, Mapping) or not all(isinstance(s, Mapping) and {"dir", "suffix", "directive"} <= set(s)
                                                  for s in stores.values()):
        raise AnsibleFilterError("unit_credentials: stores must map each backend to {dir, suffix, directive}")
    if isinstance(found, (str, Mapping)) or found is None:
        raise AnsibleFilterError("unit_credentials: found must be the list of paths found on the host")
    found = set(found)
    out = []
    for name in names:
        for store in stores.values():
            path = "%s/%s%s" % (store["dir"], name, store["suffix"])
            if path in found:
                out.append({"name": name, "line": "%s=%s:%s" % (store["directive"], name, path)})
                break
    return out


class FilterModule(object):
    """imip.server's keychain filter."""

    def filters(self):
        return {"unit_credentials": unit_credentials}
