#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: roundtrip_organizer
short_description: The organizer's side of the status report's invitation round trip (CalDAV)
version_added: 0.1.0
description:
  - Plays a local user's calendar application for the invitation round trip of
    C(playbooks/check.yml -e imip_check_roundtrip=true) (docs/status.md), in two steps around
    M(imip.server.roundtrip_attendee) on the vantage host.
  - O(step=invite) - creates the calendar O(calendar) of O(user) if it is missing, deletes the
    events an interrupted earlier round trip left in it, and saves a new event (tomorrow, one
    hour) with the external attendee O(attendee), as a calendar application does; the gateway
    then mails the invitation.
  - O(step=finish) - when O(replied), waits up to O(timeout) seconds for the attendee's
    C(PARTSTAT=ACCEPTED) on the event (check V(roundtrip.reply)); then always deletes the test
    event (the gateway mails a CANCEL) and the round trip's calendar (see O(calendar)).
  - Returns its findings as status checks (V(ok), V(fail), V(unknown)), never fails because of
    them; a request that gets no answer in time is tried again O(retries) times.
author:
  - imip.server developers (@imip-server)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - imip.server.attributes
attributes:
  check_mode:
    support: none
  diff_mode:
    support: none
  idempotent:
    support: none
    details:
      - Every O(step=invite) creates a new event; O(step=finish) deletes it.
  platform:
    platforms: posix
options:
  step:
    description: Which half to run.
    type: str
    required: true
    choices: [invite, finish]
  url:
    description: The CalDAV server's base URL as the organizer's client uses it.
    type: str
    required: true
  user:
    description: The organizer (a local user's address, never the invitation account, whose changes the gateway ignores).
    type: str
    required: true
  password:
    description: The organizer's password. Never returned.
    type: str
    required: true
  ca_file:
    description: CA bundle to verify the server's certificate with; default - the host's trust store.
    type: path
  attendee:
    description: The external attendee (their mailbox is on the vantage host).
    type: str
    required: true
  calendar:
    description:
      - The organizer's calendar collection the test event goes into; created when missing.
      - The default is the round trip's own, removed at the end; another is removed only when
        this module created it.
    type: str
    default: imip-status-check
  invitation:
    description: O(step=finish) - the RV(invitation) that O(step=invite) returned.
    type: dict
    default: {}
  replied:
    description: O(step=finish) - whether the attendee's reply was sent (else only the cleanup runs).
    type: bool
    default: false
  replied_at:
    description: O(step=finish) - when the reply was sent (seconds since the epoch), which the reported delay counts from.
    type: float
  timeout:
    description: Seconds to wait for C(PARTSTAT=ACCEPTED).
    type: float
    default: 120
  request_timeout:
    description: Seconds to wait for each CalDAV answer.
    type: float
    default: 10
  retries:
    description: How often a request that got no answer in time is tried again.
    type: int
    default: 2
seealso:
  - module: imip.server.roundtrip_attendee
    description: The attendee's side, on the vantage host.
  - module: imip.server.site_status_info
    description: The status checks seen from the site's hosts.
"""

EXAMPLES = r"""
- name: The organizer invites the external attendee
  imip.server.roundtrip_organizer:
    step: invite
    url: https://cal.example.test/
    user: alice@example.test
    password: "{{ vault_alice_password }}"
    attendee: attendee@external.test
  register: invited

- name: The organizer sees the reply; the test event goes away
  imip.server.roundtrip_organizer:
    step: finish
    url: https://cal.example.test/
    user: alice@example.test
    password: "{{ vault_alice_password }}"
    attendee: attendee@external.test
    invitation: "{{ invited.invitation }}"
    replied: true
"""

RETURN = r"""
invitation:
  description: The test event (pass it to O(step=finish) and to M(imip.server.roundtrip_attendee)).
  returned: always
  type: dict
  contains:
    uid:
      description: The event's UID.
      type: str
    href:
      description: Its path on the server; empty when it could not be saved.
      type: str
    calendar:
      description: The calendar collection's path.
      type: str
    put_at:
      description: When the event was saved (seconds since the epoch, this host's clock).
      type: float
    created_calendar:
      description: Whether O(step=invite) created that calendar.
      type: bool
stale_removed:
  description: O(step=invite) - how many events of an interrupted earlier round trip were deleted.
  returned: when O(step=invite)
  type: int
removal:
  description: O(step=finish) - whether the test event was deleted, and the error if not.
  returned: when O(step=finish)
  type: dict
  sample: {"deleted": true, "deleted_at": 1796002218.5, "error": ""}
checks:
  description: Status checks (V(roundtrip.invitation) when the event could not be saved, V(roundtrip.reply)), as in M(imip.server.site_status_info).
  returned: always
  type: list
  elements: dict
accepted_at:
  description: O(step=finish) - when C(PARTSTAT=ACCEPTED) was seen (seconds since the epoch), or null.
  returned: when O(step=finish)
  type: float
seconds:
  description: O(step=finish) - how long the step took.
  returned: when O(step=finish)
  type: float
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.imip.server.plugins.module_utils.roundtrip import organizer
from ansible_collections.imip.server.plugins.module_utils.roundtrip.caldav import CalDav


def main():
    module = AnsibleModule(
        argument_spec=dict(
            step=dict(type="str", required=True, choices=["invite", "finish"]),
            url=dict(type="str", required=True),
            user=dict(type="str", required=True),
            password=dict(type="str", required=True, no_log=True),
            ca_file=dict(type="path"),
            attendee=dict(type="str", required=True),
            calendar=dict(type="str", default="imip-status-check"),
            invitation=dict(type="dict", default={}),
            replied=dict(type="bool", default=False),
            replied_at=dict(type="float"),
            timeout=dict(type="float", default=120.0),
            request_timeout=dict(type="float", default=10.0),
            retries=dict(type="int", default=2),
        ),
        supports_check_mode=False,
    )
    p = module.params
    for name in ("user", "attendee"):
        if "@" not in p[name]:
            module.fail_json(msg="%s must be a mail address (user@domain), not %r" % (name, p[name]))
    if "/" in p["calendar"] or not p["calendar"]:
        module.fail_json(msg="calendar must be one collection name without '/', not %r" % p["calendar"])
    if p["step"] == "finish" and p["invitation"] and "uid" not in p["invitation"]:
        module.fail_json(msg="invitation must be what step=invite returned (it has no uid)")
    dav = CalDav(p["url"], p["user"], p["password"], timeout=p["request_timeout"], ca_file=p["ca_file"])

    if p["step"] == "invite":
        made = organizer.invite(dav, p["user"], p["attendee"], p["calendar"], p["retries"])
        invitation = dict((k, made.get(k)) for k in ("uid", "href", "calendar", "created_calendar", "put_at"))
        invitation["href"] = invitation["href"] or ""
        module.exit_json(changed=bool(made.get("href") or made.get("created_calendar") or made["stale_removed"]),
                         invitation=invitation, stale_removed=made["stale_removed"], checks=made["checks"])

    started = time.monotonic()
    invitation = p["invitation"]
    checks, accepted_at = [], None
    if p["replied"] and invitation.get("href"):
        check, accepted_at = organizer.await_reply(dav, invitation["href"], p["user"], p["attendee"], p["timeout"],
                                                   p["retries"], since=p["replied_at"])
        checks.append(check)
    removal = organizer.remove_test_event(dav, invitation, p["retries"])
    module.exit_json(changed=removal["deleted"], invitation=invitation, removal=removal, checks=checks,
                     accepted_at=accepted_at, seconds=round(time.monotonic() - started, 2))


if __name__ == "__main__":
    main()
