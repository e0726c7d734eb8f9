# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The attendee's provider's verdict (roundtrip/verdict.py), as the answer step reports it from a real Maildir."""

from __future__ import annotations

import pytest

from ansible_collections.imip.server.plugins.module_utils.roundtrip import attendee

from .common import deliver, itip, no_wait


@pytest.mark.parametrize("verdict, status, says", [
    (None, "unknown", "wrote no Authentication-Results"),
    ("ext.external.test; dkim=none; spf=pass smtp.mailfrom=calendar-invites@example.test", "fail",
     "found no valid DKIM signature for example.test on the invitation: dkim=none, spf=pass (example.test)"),
    # A signature of another domain (a relay's) does not authenticate ours.
    ("ext.external.test; dkim=pass header.d=relay.test", "fail", "dkim=pass (relay.test)"),
    # A subdomain's signature is aligned; only the topmost writer's headers count.
    ("mx.external.test; dkim=pass (good) header.d=mail.example.test", "ok", "mx.external.test verified"),
    # DMARC, when the provider judges it, must pass too; spf alone may fail (forwarding).
    ("ext.external.test; dkim=pass header.d=example.test; spf=fail smtp.mailfrom=example.test; dmarc=pass header.from=example.test",
     "ok", "dmarc=pass (example.test)"),
    ("ext.external.test; dkim=pass header.d=example.test; dmarc=fail (p=quarantine) header.from=example.test", "fail",
     "found a valid DKIM signature for example.test but DMARC did not pass: dkim=pass (example.test), dmarc=fail (example.test)"),
])
def test_the_providers_verdict_on_the_invitation(tmp_path, verdict, status, says):
    maildir = tmp_path / "Maildir"
    deliver(maildir, itip("u1", verdict=verdict))
    got = attendee.answer(str(maildir), "u1", "attendee@external.test", 5, wait=no_wait, sender=lambda *a: None)
    check = next(c for c in got["checks"] if c["id"] == "roundtrip.authentication")
    assert check["status"] == status and says in check["message"], check
    if status == "fail":
        assert any("dkimpy-milter" in line or "_dmarc.example.test" in line for line in check["fix"])
