# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The attendee's steps of the round trip, on the vantage host or the controller (private to
imip.server; the module roundtrip_attendee).

answer(): the attendee's mail client waits for the iTIP REQUEST in the mailbox (mailbox.py) and
replies ACCEPTED (submit.py) through the vantage host's MTA or the mailbox's submission server;
cleanup(): the deleted event's CANCEL arrives and the round trip's messages leave the mailbox.
The reply token (in the invitation's Reply-To) never leaves this side: results show it masked.
"""

from __future__ import annotations

import smtplib
import time

from ansible_collections.imip.server.plugins.module_utils.roundtrip.ical import mask_token
from ansible_collections.imip.server.plugins.module_utils.roundtrip.mailbox import MailboxError, mailbox_of
from ansible_collections.imip.server.plugins.module_utils.roundtrip.steps import CLEANUP, GATEWAY_FIX, INVITATION, REPLY, UID_SUFFIX, line, wait_for
from ansible_collections.imip.server.plugins.module_utils.roundtrip.submit import reply, send
from ansible_collections.imip.server.plugins.module_utils.roundtrip.verdict import authentication_check
from ansible_collections.imip.server.plugins.module_utils.status import checks as sc


# What the reply goes through, as the checks name it: the vantage host's own MTA (Maildir), or the
# provider's submission server of an IMAP mailbox.
VANTAGE_MTA = "the vantage host's MTA"
SUBMISSION = "the mailbox's submission server"


def _mailbox_failure(check_id, box, exc):
    return line(check_id, sc.FAIL, "could not read the attendee's mailbox: %s" % exc,
                "the round trip reads %s" % box.where,
                ["check imip_check_roundtrip_mailbox (host, port, user, password; ca_file for a private CA): "
                 "a mail client with the same settings must log in"])


def answer(maildir, uid, attendee, timeout, smtp_host="127.0.0.1", smtp_port=25, smtp_timeout=10.0,  # pylint: disable=too-many-arguments,too-many-locals
           wait=None, sender=send, since=None, retries=2, relay=VANTAGE_MTA):
    """The attendee's mail client: wait for the REQUEST, reply ACCEPTED through `relay`.
    maildir: a Maildir path or a mailbox object (mailbox_of). since: when the organizer saved the
    event (epoch), which the delay is counted from."""
    wait = wait or wait_for
    box = mailbox_of(maildir)
    try:
        found, seconds = wait(lambda: [x for x in box.messages(uid) if x[1] == "REQUEST"], timeout)
    except MailboxError as exc:
        return {"request_seconds": 0.0, "replied": False,
                "checks": [_mailbox_failure(INVITATION, box, exc),
                           line(REPLY, sc.UNKNOWN, "not tried: the attendee's mailbox could not be read")]}
    finally:
        box.close()
    if found and since:
        seconds = max(time.time() - since, 0.0)
    result = {"request_seconds": round(seconds, 2), "replied": False, "checks": []}
    if not found:
        result["checks"].append(line(
            INVITATION, sc.FAIL, "no invitation reached %s's mailbox within %d s" % (attendee, timeout),
            "the gateway mails an iTIP REQUEST to %s when the organizer saves the event" % attendee,
            [GATEWAY_FIX, "on the mail host: `postqueue -p` (mail held or deferred) and `journalctl -u postfix@-`",
             "the report's account and gateway lines above name a refused login or a stuck queue",
             "on the vantage host: `journalctl -u postfix@-` (did its MX lookup and delivery work?)"
             if relay == VANTAGE_MTA else
             "at the mailbox's provider: the spam or junk folder (the round trip reads the INBOX only)"]))
        result["checks"].append(line(REPLY, sc.UNKNOWN, "not tried: there was no invitation to answer"))
        return result
    result["arrived_at"] = time.time()
    dummy, dummy2, message, text = found[-1]
    to, msg = reply(text, message, attendee)
    result["checks"].append(line(
        INVITATION, sc.OK, "the invitation reached %s's mailbox in %.1f s (iTIP REQUEST, replies to %s)"
        % (attendee, seconds, mask_token(to))))
    result["checks"].append(authentication_check(message, to.rpartition("@")[2]))
    try:
        dummy, late = sc.retry(lambda: sender(msg, attendee, to, smtp_host, smtp_port, smtp_timeout), retries)
    except (smtplib.SMTPException, OSError) as exc:
        result["checks"].append(line(
            REPLY, sc.FAIL, "%s (%s:%d) did not take the reply: %s" % (relay, smtp_host, smtp_port, exc),
            "%s accepts the attendee's reply for %s" % (relay, mask_token(to)), [_relay_fix(relay)]))
        return result
    if late is not None:
        result["checks"].append(line(
            REPLY, sc.UNKNOWN, "could not determine: %s (%s:%d) did not answer in time, %d times (%s)"
            % (relay, smtp_host, smtp_port, retries + 1, late), fix=[_relay_fix(relay)]))
        return result
    result["replied"] = True
    result["replied_at"] = time.time()
    return result


def _relay_fix(relay):
    if relay == VANTAGE_MTA:
        return "on the vantage host: `systemctl status postfix` and `journalctl -u postfix@-`"
    return ("check imip_check_roundtrip_mailbox's smtp_host and smtp_port (587 with STARTTLS or 465 with TLS) and "
            "that a mail client with the same user and password can send")


def cleanup(maildir, uid, attendee, removal, timeout, expect_cancel=True, wait=None):
    """The attendee's side of the cleanup: the CANCEL of the deleted event arrives (when the
    invitation did), and every round-trip message for uid leaves the mailbox.
    removal: remove_test_event()'s result."""
    wait = wait or wait_for
    box = mailbox_of(maildir)
    try:
        return _cleanup(box, uid, attendee, removal, timeout, expect_cancel, wait)
    except MailboxError as exc:
        return _mailbox_failure(CLEANUP, box, exc)
    finally:
        box.close()


def _cleanup(box, uid, attendee, removal, timeout, expect_cancel, wait):  # pylint: disable=too-many-arguments
    fix = []
    cancel_seconds = None
    if removal.get("error"):
        fix.append("delete the event %s from the organizer's calendar by hand (%s)" % (uid, removal["error"]))
    elif removal.get("deleted") and expect_cancel:
        cancelled, cancel_seconds = wait(
            lambda: [x for x in box.messages(uid) if x[1] == "CANCEL"], timeout)
        if cancelled and removal.get("deleted_at"):
            cancel_seconds = max(time.time() - removal["deleted_at"], 0.0)
        if not cancelled:
            fix.append(GATEWAY_FIX + ": the deleted event's CANCEL did not reach %s within %d s" % (attendee, timeout))
            cancel_seconds = None
    keys = [x[0] for x in box.messages(uid, suffix=UID_SUFFIX)]
    box.remove(keys)
    left = box.messages(uid)
    if left:
        fix.append("remove the round trip's messages (UID %s) from %s by hand" % (uid, box.where))
    if fix:
        return line(CLEANUP, sc.FAIL, "the round trip did not clean up after itself", "the test event deleted, its "
                    "CANCEL delivered to the attendee, and the round trip's messages removed", fix)
    if not removal.get("deleted"):
        return line(CLEANUP, sc.OK, "no test event was left; %d round-trip message(s) removed from %s's mailbox"
                    % (len(keys), attendee))
    if cancel_seconds is None:
        return line(CLEANUP, sc.OK, "the test event was deleted (no CANCEL expected: the invitation had not arrived); "
                    "%d round-trip message(s) removed from %s's mailbox" % (len(keys), attendee))
    # Most of that time is the gateway's own wait: it holds a deleted event's CANCEL for half a minute
    # in case the delete was half of a move to another calendar (docs/gateway.md).
    return line(CLEANUP, sc.OK, "the test event was deleted, its CANCEL reached %s in %.1f s (the gateway holds a "
                "deleted event's CANCEL for a while in case the event was moved), and the round trip's "
                "%d message(s) were removed from the mailbox" % (attendee, cancel_seconds, len(keys)))
