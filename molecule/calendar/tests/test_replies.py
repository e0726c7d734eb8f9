"""Replies from the internet: ext's MTA sends the attendee's iTIP REPLY to the token
address, by MX lookup to our public address; the gateway reads it over IMAP and writes the
attendee's PARTSTAT back to the organizer's event, which the organizer sees over CalDAV. Forged,
stale and replayed replies change nothing; a human "Re:" reaches the organizer once."""

import shlex
import time
import uuid

import pytest
from imip_lab_client import (event_ics, gateway_status, itip_for, messages, new_uid, partstat, reply_message, send_from_ext,
                             sequence_of, token_address, tomorrow, wait_for)

ALICE = "alice@example.test"
ATTENDEE = "attendee@external.test"
OTHER = "other@external.test"


def last_sequence(ext, uid):
    """The SEQUENCE of the last REQUEST the attendee received (a client replies with it)."""
    return sequence_of(itip_for(ext, ATTENDEE, uid)[-1][1])


def folders(aio):
    return gateway_status(aio)["inbound"]["folders"]


@pytest.fixture(scope="module")
def invited(calendar_of, ext):
    """An event of alice's with the attendee, and the token address of its invitation."""
    uid = new_uid()
    calendar_of(ALICE).save_event(event_ics(uid, ALICE, [ATTENDEE], tomorrow(13)))
    cal = wait_for("the REQUEST", lambda: itip_for(ext, ATTENDEE, uid))[-1][1]
    return {"uid": uid, "token_address": token_address(cal)}


def test_an_accepted_reply_shows_on_the_organizers_event(calendar_of, aio, ext, invited):
    before = folders(aio)["Processed"]
    send_from_ext(ext, reply_message(invited["uid"], invited["token_address"], ATTENDEE, "ACCEPTED", 0), ATTENDEE)
    wait_for("PARTSTAT=ACCEPTED over CalDAV", lambda: partstat(calendar_of(ALICE), invited["uid"], ATTENDEE) == "ACCEPTED", timeout=60)
    wait_for("the reply in Processed", lambda: folders(aio)["Processed"] == before + 1)


def test_a_declined_reply_with_a_higher_sequence_wins(calendar_of, ext, invited):
    cal = calendar_of(ALICE)
    event = cal.event_by_uid(invited["uid"])
    event.data = event_ics(invited["uid"], ALICE, [ATTENDEE], tomorrow(14), sequence=1)
    event.save()  # the organizer moves it (the caldav library bumps SEQUENCE on save): a new REQUEST
    wait_for("the updated REQUEST", lambda: len(itip_for(ext, ATTENDEE, invited["uid"])) >= 2)
    sequence = last_sequence(ext, invited["uid"])
    assert sequence > 0
    send_from_ext(ext, reply_message(invited["uid"], invited["token_address"], ATTENDEE, "DECLINED", sequence), ATTENDEE)
    wait_for("PARTSTAT=DECLINED", lambda: partstat(cal, invited["uid"], ATTENDEE) == "DECLINED", timeout=60)


@pytest.mark.parametrize("case", ["other attendee", "stale sequence", "wrong token"])
def test_forged_and_stale_replies_change_nothing(calendar_of, aio, ext, invited, case):
    cal = calendar_of(ALICE)
    state = partstat(cal, invited["uid"], ATTENDEE)
    address, attendee, sequence, folder = invited["token_address"], ATTENDEE, last_sequence(ext, invited["uid"]), "Rejected"
    if case == "other attendee":
        attendee = OTHER
    elif case == "stale sequence":
        sequence -= 1
    else:
        local, domain = address.split("@")
        address, folder = f"{local.split('+')[0]}+{uuid.uuid4()}@{domain}", "Unknown"
    before = folders(aio)
    send_from_ext(ext, reply_message(invited["uid"], address, attendee, "ACCEPTED", sequence), attendee)
    wait_for(f"the reply in {folder}", lambda: folders(aio)[folder] == before[folder] + 1, timeout=60)
    assert partstat(cal, invited["uid"], ATTENDEE) == state
    assert partstat(cal, invited["uid"], OTHER) is None, "a party crasher was added"


def test_a_plain_re_reaches_the_organizer_once(aio, ext, invited):
    subject = f"Re: Planning ({uuid.uuid4().hex[:8]})"
    msg = reply_message(invited["uid"], invited["token_address"], ATTENDEE, "ACCEPTED", 1, with_calendar=False, subject=subject)
    send_from_ext(ext, msg, ATTENDEE)

    def forwarded():
        return [m for m in messages(aio, ALICE) if subject in str(m["Subject"]) or any(
            subject in str(part.get_payload(0)["Subject"]) for part in m.walk() if part.get_content_type() == "message/rfc822")]

    found = wait_for("the forward in alice's mailbox", forwarded, timeout=60)
    wait_for("the message filed", lambda: gateway_status(aio)["inbound"]["folders"]["INBOX"] == 0)
    assert len(forwarded()) == 1
    assert found[0]["From"].addresses[0].addr_spec == "calendar-invites@example.test"


def test_a_reply_interrupted_by_sigkill_is_processed_exactly_once(calendar_of, aio, ext):
    uid = new_uid()
    cal = calendar_of(ALICE)
    cal.save_event(event_ics(uid, ALICE, [ATTENDEE], tomorrow(20)))
    request = wait_for("the REQUEST", lambda: itip_for(ext, ATTENDEE, uid))[-1][1]
    reply_to = token_address(request)
    processed = folders(aio)["Processed"]
    # With Radicale down the gateway fetches the reply but cannot write it back: killed there.
    assert aio.run("systemctl stop radicale").rc == 0
    try:
        message_id = send_from_ext(ext, reply_message(uid, reply_to, ATTENDEE, "TENTATIVE", 0), ATTENDEE)
        wait_for("the gateway trying the write-back", lambda: message_id.strip("<>") in aio.run(
            "journalctl -u imip-gateway --no-pager -o cat -n 300").stdout, timeout=60)
        assert aio.run("systemctl kill --signal=KILL imip-gateway").rc == 0
    finally:
        started = aio.run("systemctl start radicale")
        # Radicale's own account of a failed start (its hook check), for whoever reads the failure.
        assert started.rc == 0, aio.run("journalctl -u radicale --no-pager -o short-precise -n 40").stdout
    wait_for("PARTSTAT=TENTATIVE", lambda: partstat(cal, uid, ATTENDEE) == "TENTATIVE", timeout=120)
    wait_for("the reply in Processed", lambda: folders(aio)["Processed"] >= processed + 1, timeout=60)
    journal = aio.run("journalctl -u imip-gateway --no-pager -o cat").stdout
    applied = [line for line in journal.splitlines() if message_id.strip("<>") in line and "outcome=applied" in line]
    assert len(applied) == 1, applied
    assert folders(aio)["Processed"] == processed + 1


def test_unknown_token_mail_is_kept_72_hours_then_deleted(aio):
    """Mail for a token that is not ours stays in Unknown for 72 hours (for an operator to look at),
    then the gateway deletes it. Dovecot takes a Maildir file's mtime as its arrival (INTERNALDATE),
    so two messages are put there as the mail server would, one four days old and one fresh; the
    gateway expires Unknown on its first pass after a start."""
    box = "/var/vmail/example.test/calendar-invites/Maildir/.Unknown/cur"
    names = {}
    for age in ("4 days ago", "now"):
        marker = f"unknown-expiry-{uuid.uuid4().hex}"
        names[age] = marker
        text = f"From: someone@external.test\nTo: calendar-invites+{uuid.uuid4()}@example.test\nSubject: {marker}\n" \
               f"Message-ID: <{marker}@external.test>\n\nnot for us\n"
        path = f"{box}/{int(time.time())}.{marker}.aio:2,S"
        result = aio.run(f"printf %s {shlex.quote(text)} > {path} && chown --reference={box} {path} && touch -d '{age}' {path}")
        assert result.rc == 0, result.stderr
    assert aio.run("systemctl restart imip-gateway").rc == 0

    def present(marker):
        return aio.run(f"grep -rl {marker} {box}").rc == 0

    wait_for("the four-day-old message deleted from Unknown", lambda: not present(names["4 days ago"]), timeout=90)
    assert present(names["now"]), "a fresh message was deleted from Unknown"
    assert "older than 72 h from" in aio.run("journalctl -u imip-gateway --no-pager -o cat -n 200").stdout
