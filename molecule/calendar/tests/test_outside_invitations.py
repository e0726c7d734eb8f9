"""Scheduling both ways across the lab's internet: attendee@external.test (a user of ext, the
internet's mail server) invites alice; ext's Postfix signs the invitation and sends it to our MX;
Dovecot's global Sieve script hands a copy to the gateway, which writes the event into alice's
calendar; alice accepts in her calendar application, and her REPLY, from alice@example.test,
reaches the organizer's mailbox on ext, where ext's own checks find our signature good. And a
mixed event: alice invites bob (a colleague) and other@external.test; bob finds it in his
calendar, other in their mailbox, and bob's answer shows on alice's event."""

import email.utils
import re

from calendar_helpers import INVITES
from imip_lab_client import (copy_in_calendars_of, event_ics, gateway_status, itip_for, maildir, messages, new_uid,
                             partstat, request_message, send_from_ext, tomorrow, wait_for)
from test_dkim import verdicts

ALICE = "alice@example.test"
BOB = "bob@example.test"
ORGANIZER = "attendee@external.test"
OTHER = "other@external.test"


def attendee_line(event, address):
    attendees = event.get("ATTENDEE")
    return next(a for a in (attendees if isinstance(attendees, list) else [attendees])
                if str(a).lower() == f"mailto:{address}")


def test_an_outside_invitation_reaches_alices_calendar_and_her_answer_the_organizer(aio, ext, calendar_of):
    alices = calendar_of(ALICE)
    uid = new_uid()
    message_id = send_from_ext(ext, request_message(uid, ORGANIZER, ALICE), ORGANIZER)

    found = wait_for("the invitation in alice's calendar", lambda: copy_in_calendars_of(alices, uid), timeout=120)
    event = found.icalendar_component
    assert str(event["ORGANIZER"]).lower() == f"mailto:{ORGANIZER}"
    assert attendee_line(event, ALICE).params["PARTSTAT"] == "NEEDS-ACTION"
    # Her own copy of the mail is in her INBOX as it came, and the gateway filed the hand-off.
    assert [m for m in messages(aio, ALICE) if m["Message-ID"] == message_id and "X-IMIP-Handoff" not in m]
    filed = aio.run(f"grep -rlF {message_id!r} {maildir(INVITES)}/.Processed").stdout.split()
    assert len(filed) == 1

    # alice accepts in her calendar application.
    attendee_line(event, ALICE).params["PARTSTAT"] = "ACCEPTED"
    found.save()

    def replies():
        return [(m, c) for m, c in itip_for(ext, ORGANIZER, uid) if str(c.get("METHOD")) == "REPLY"]

    ((message, reply),) = wait_for("alice's REPLY in the organizer's mailbox", replies, timeout=120)
    assert email.utils.parseaddr(message["From"])[1] == ALICE
    (answered,) = reply.walk("VEVENT")
    assert str(answered["ATTENDEE"]).lower() == f"mailto:{ALICE}"
    assert answered["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"
    results = " ".join(verdicts(message, "ext.external.test"))
    assert re.search(r"dkim=pass[^;]*header\.d=example\.test", results), message.get_all("Authentication-Results")
    assert re.search(r"dmarc=pass[^;]*header\.from=example\.test", results), message.get_all("Authentication-Results")
    assert gateway_status(aio)["outbound"]["queue_depth"] == 0


def test_a_mixed_event_reaches_a_colleagues_calendar_and_an_outsiders_mailbox(calendar_of, ext):
    alices, bobs = calendar_of(ALICE), calendar_of(BOB)
    uid = new_uid()
    alices.save_event(event_ics(uid, ALICE, [BOB, OTHER], tomorrow(15)))
    wait_for("the REQUEST in other's mailbox", lambda: itip_for(ext, OTHER, uid), timeout=120)
    found = wait_for("bob's copy", lambda: copy_in_calendars_of(bobs, uid), timeout=60)
    attendee_line(found.icalendar_component, BOB).params["PARTSTAT"] = "ACCEPTED"
    found.save()
    wait_for("bob's answer on alice's event", lambda: partstat(alices, uid, BOB) == "ACCEPTED", timeout=60)
    # other was invited once; bob's answer, set on alice's event by the gateway, mails nobody.
    assert [str(c.get("METHOD")) for _m, c in itip_for(ext, OTHER, uid)] == ["REQUEST"]
