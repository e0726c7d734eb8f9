#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: roundtrip_attendee
short_description: The external attendee's side of the status report's invitation round trip (Maildir or IMAP)
version_added: 0.1.0
description:
  - Plays the external attendee's mail client for the invitation round trip of
    C(playbooks/check.yml -e imip_check_roundtrip=true) (docs/status.md), between the steps of
    M(imip.server.roundtrip_organizer). The attendee's mailbox is either a Maildir on the vantage
    host (O(maildir)), answered through that host's own MTA (O(smtp_host)), which looks up the
    site's MX as any mail server on the internet does; or any mailbox the user owns at a provider
    (O(mailbox)), read over IMAP and answered through the provider's submission server, as the
    attendee's mail client does (from the controller or any host).
  - O(step=answer) - waits up to O(timeout) seconds for the iTIP REQUEST of the event O(uid) in
    the attendee's mailbox (check V(roundtrip.invitation)), then sends an ACCEPTED iTIP REPLY to
    the invitation's ORGANIZER (the gateway's reply address).
  - O(step=cleanup) - waits for the CANCEL of the deleted test event (when the invitation had
    arrived), removes every message of this round trip (and of any earlier, interrupted one) from
    the mailbox (check V(roundtrip.cleanup)). Over IMAP, only those messages are flagged deleted
    and expunged (UID EXPUNGE).
  - The reply address holds the gateway's token; results show it masked.
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
      - O(step=answer) sends mail.
  platform:
    platforms: posix
options:
  step:
    description: Which half to run.
    type: str
    required: true
    choices: [answer, cleanup]
  uid:
    description: The test event's UID (from M(imip.server.roundtrip_organizer)).
    type: str
    required: true
  attendee:
    description: The attendee's address.
    type: str
    required: true
  maildir:
    description:
      - The attendee's Maildir on this host (read as root); the reply goes through O(smtp_host).
      - Exactly one of O(maildir) and O(mailbox).
    type: path
  smtp_host:
    description: With O(maildir), the vantage host's MTA that sends the reply.
    type: str
    default: 127.0.0.1
  smtp_port:
    description: With O(maildir), its SMTP port.
    type: int
    default: 25
  mailbox:
    description:
      - The attendee's mailbox at a provider, as a mail client is set up for it.
      - Exactly one of O(maildir) and O(mailbox).
    type: dict
    suboptions:
      imap_host:
        description: The IMAP server (TLS from the start).
        type: str
        required: true
      imap_port:
        description: Its port.
        type: int
        default: 993
      smtp_host:
        description: The submission server that sends the reply; default - O(mailbox.imap_host).
        type: str
      smtp_port:
        description: Its port - 465 with TLS from the start, any other with STARTTLS.
        type: int
        default: 587
      user:
        description: The login name of both; default - the O(attendee) address.
        type: str
      password:
        description: The mailbox's password (an app password at providers that require one).
        type: str
        required: true
      ca_file:
        description:
          - A CA certificate file (PEM) that the servers' certificates must chain to; default -
            the controller's or host's trusted CAs (a provider's certificates need no more).
        type: path
      server_name:
        description:
          - The name the servers' certificates must carry, when O(mailbox.imap_host) and
            O(mailbox.smtp_host) are addresses; default - the host names as given.
        type: str
  put_at:
    description:
      - O(step=answer) - when the organizer saved the event (seconds since the epoch), which the
        reported delay counts from; default - from this step's start.
    type: float
  removal:
    description: O(step=cleanup) - RV(imip.server.roundtrip_organizer#module:removal) of its O(imip.server.roundtrip_organizer#module:step=finish).
    type: dict
    default: {}
  expect_cancel:
    description: O(step=cleanup) - whether a CANCEL must arrive (the invitation did).
    type: bool
    default: true
  timeout:
    description: Seconds to wait for the REQUEST (O(step=answer)) or the CANCEL (O(step=cleanup)).
    type: float
    default: 120
seealso:
  - module: imip.server.roundtrip_organizer
    description: The organizer's side, on the calendar host.
"""

EXAMPLES = r"""
- name: The attendee answers the invitation (a Maildir on this host)
  become: true  # the Maildir belongs to the mail system's user
  imip.server.roundtrip_attendee:
    step: answer
    uid: "{{ invited.invitation.uid }}"
    attendee: attendee@external.test
    maildir: /var/vmail/external.test/attendee/Maildir
  register: answered

- name: The attendee answers from a mailbox at a provider (IMAP, submission)
  imip.server.roundtrip_attendee:
    step: answer
    uid: "{{ invited.invitation.uid }}"
    attendee: someone@gmail.example
    mailbox:
      imap_host: imap.gmail.example
      smtp_host: smtp.gmail.example
      password: "{{ vault_attendee_app_password }}"
  no_log: true
"""

RETURN = r"""
replied:
  description: O(step=answer) - whether the reply was handed to the MTA.
  returned: when O(step=answer)
  type: bool
request_seconds:
  description: O(step=answer) - seconds until the REQUEST was in the mailbox (or the timeout).
  returned: when O(step=answer)
  type: float
invitation_arrived:
  description: O(step=answer) - whether the REQUEST arrived.
  returned: when O(step=answer)
  type: bool
arrived_at:
  description: O(step=answer) - when the REQUEST was found (seconds since the epoch, this host's clock), or null.
  returned: when O(step=answer)
  type: float
replied_at:
  description: O(step=answer) - when the reply was handed to the MTA, or null.
  returned: when O(step=answer)
  type: float
checks:
  description:
    - Status checks (V(roundtrip.invitation), V(roundtrip.authentication) - the DKIM verdict the
      attendee's provider wrote on the invitation, V(roundtrip.reply) when the MTA refused the reply,
      V(roundtrip.cleanup)).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.imip.server.plugins.module_utils.roundtrip import attendee, submit
from ansible_collections.imip.server.plugins.module_utils.roundtrip.mailbox import ImapBox
from ansible_collections.imip.server.plugins.module_utils.roundtrip.steps import INVITATION


def main():
    module = AnsibleModule(
        argument_spec=dict(
            step=dict(type="str", required=True, choices=["answer", "cleanup"]),
            uid=dict(type="str", required=True),
            attendee=dict(type="str", required=True),
            maildir=dict(type="path"),
            smtp_host=dict(type="str", default="127.0.0.1"),
            smtp_port=dict(type="int", default=25),
            mailbox=dict(type="dict", options=dict(
                imap_host=dict(type="str", required=True),
                imap_port=dict(type="int", default=993),
                smtp_host=dict(type="str"),
                smtp_port=dict(type="int", default=587),
                user=dict(type="str"),
                password=dict(type="str", required=True, no_log=True),
                ca_file=dict(type="path"),
                server_name=dict(type="str"),
            )),
            put_at=dict(type="float"),
            removal=dict(type="dict", default={}),
            expect_cancel=dict(type="bool", default=True),
            timeout=dict(type="float", default=120.0),
        ),
        required_one_of=[("maildir", "mailbox")],
        mutually_exclusive=[("maildir", "mailbox")],
        supports_check_mode=False,
    )
    p = module.params
    if "@" not in p["attendee"]:
        module.fail_json(msg="attendee must be a mail address (user@domain), not %r" % p["attendee"])
    box, smtp, sender, relay = p["maildir"], (p["smtp_host"], p["smtp_port"]), submit.send, attendee.VANTAGE_MTA
    if p["mailbox"]:
        m = p["mailbox"]
        user = m["user"] or p["attendee"]
        box = ImapBox(m["imap_host"], m["imap_port"], user, m["password"], ca_file=m["ca_file"],
                      server_name=m["server_name"])
        smtp = (m["smtp_host"] or m["imap_host"], m["smtp_port"])
        sender, relay = submit.submitter(user, m["password"], m["ca_file"], m["server_name"]), attendee.SUBMISSION
    if p["step"] == "answer":
        got = attendee.answer(box, p["uid"], p["attendee"], p["timeout"], smtp[0], smtp[1], since=p["put_at"],
                              sender=sender, relay=relay)
        arrived = any(c["id"] == INVITATION and c["status"] == "ok" for c in got["checks"])
        module.exit_json(changed=got["replied"], replied=got["replied"], request_seconds=got["request_seconds"],
                         invitation_arrived=arrived, arrived_at=got.get("arrived_at"),
                         replied_at=got.get("replied_at"), checks=got["checks"])
    check = attendee.cleanup(box, p["uid"], p["attendee"], p["removal"], p["timeout"], p["expect_cancel"])
    module.exit_json(changed=True, checks=[check])


if __name__ == "__main__":
    main()
