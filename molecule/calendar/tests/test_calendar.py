"""What a user and an administrator check on the all-in-one site: CalDAV over HTTPS with the mail
password, and invitations to an external attendee arriving at ext's MTA by MX lookup as real
iTIP (RFC 6047) messages: REQUEST, an update with a higher SEQUENCE, CANCEL; no mail for
local-only events, whose local attendees find the event in their own calendar. Tests run in
file order (each builds on the site as the previous left it)."""

import re
from urllib.parse import unquote

import pytest
from calendar_helpers import INVITES, PASSWORDS, URL
from imip_lab_client import (calendar_part, copy_in_calendars_of, event_ics, gateway_status, itip_for, new_uid, partstat,
                             tomorrow, wait_for)

ATTENDEE = "attendee@external.test"
OTHER = "other@external.test"
ALICE = "alice@example.test"
BOB = "bob@example.test"
TOKEN_ORGANIZER = re.compile(r"^mailto:calendar-invites\+[0-9a-f-]{36}@example\.test$", re.I)


def the_vevent(cal):
    return next(iter(cal.walk("VEVENT")))


# ---------------------------------------------------------------- CalDAV as a user sees it
@pytest.mark.parametrize("service", ["caldav", "carddav"])
def test_well_known_redirects_to_the_dav_root(http, service):
    response = http.get(f"{URL}.well-known/{service}", allow_redirects=False)
    assert response.status_code == 301
    assert response.headers["Location"].rstrip("/") in ("", URL.rstrip("/"))


def test_login_with_the_mail_password_works_and_a_wrong_one_is_refused(http):
    body = '<propfind xmlns="DAV:"><prop><current-user-principal/></prop></propfind>'
    right = http.request("PROPFIND", URL, data=body, headers={"Depth": "0"}, auth=(ALICE, PASSWORDS[ALICE]))
    wrong = http.request("PROPFIND", URL, data=body, headers={"Depth": "0"}, auth=(ALICE, "not the password"))
    assert right.status_code == 207
    assert "<current-user-principal><href>/alice@example.test/</href>" in unquote(right.text)
    assert wrong.status_code == 401


def test_an_owner_keeps_others_out_of_their_calendar(calendar_of, http):
    alices = str(calendar_of(ALICE).url)
    body = '<propfind xmlns="DAV:"><prop><displayname/></prop></propfind>'
    as_alice = http.request("PROPFIND", alices, data=body, headers={"Depth": "1"}, auth=(ALICE, PASSWORDS[ALICE]))
    as_bob = http.request("PROPFIND", alices, data=body, headers={"Depth": "1"}, auth=(BOB, PASSWORDS[BOB]))
    assert as_alice.status_code == 207
    assert as_bob.status_code == 403


# ---------------------------------------------------------------- invitations out
def test_an_external_attendee_receives_an_imip_request_by_mx(calendar_of, aio, ext):
    uid = new_uid()
    calendar_of(ALICE).save_event(event_ics(uid, ALICE, [ATTENDEE, BOB], tomorrow(9)))
    message, cal = wait_for("the REQUEST at ext", lambda: itip_for(ext, ATTENDEE, uid), timeout=60)[-1]

    part = calendar_part(message)[0]
    assert part.get_content_type() == "text/calendar"
    assert part.get_param("method") == "REQUEST" == str(cal["METHOD"])
    assert part.get_content_charset().lower() == "utf-8"
    event = the_vevent(cal)
    organizer = event["ORGANIZER"]
    assert TOKEN_ORGANIZER.match(str(organizer)), organizer
    assert organizer.params.get("EMAIL", "").lower() == ALICE
    attendees = [str(a).lower() for a in event.get("ATTENDEE")]
    assert f"mailto:{ATTENDEE}" in attendees
    assert int(event.get("SEQUENCE", 0)) >= 0
    assert message["To"].addresses[0].addr_spec == ATTENDEE
    assert message["From"].addresses[0].addr_spec == INVITES
    assert message["Reply-To"].addresses[0].addr_spec.lower() == str(organizer)[len("mailto:"):].lower()
    # It went by MX lookup from aio's Postfix to ext's (the relay is the MX host of external.test).
    log = aio.run("journalctl --no-pager -t postfix/smtp").stdout
    assert re.search(r"to=<%s>, relay=ext\.external\.test\[[0-9.]+\]:25, .*status=sent" % re.escape(ATTENDEE), log)
    assert "ext.external.test" in " ".join(message.get_all("Received"))


def test_debug_logging_shows_the_itip_traffic(calendar_of, aio, ext):
    """imip_calendar_log_level: debug (the scenario's setting): Radicale logs the iCalendar body a
    client PUT, the gateway the message it sent. (Checked right away: the lab's volatile journal
    is small and the gateway's IMAP debug output rotates old entries out.)"""
    since = aio.run("date '+%Y-%m-%d %H:%M:%S'").stdout.strip()
    uid = new_uid()
    calendar_of(ALICE).save_event(event_ics(uid, ALICE, [ATTENDEE], tomorrow(10)))
    message = wait_for("the REQUEST at ext", lambda: itip_for(ext, ATTENDEE, uid))[-1][0]
    radicale = aio.run(f"journalctl -u radicale --since '{since}' --no-pager -o cat").stdout
    gateway = aio.run(f"journalctl -u imip-gateway --since '{since}' --no-pager -o cat").stdout.splitlines()
    assert f"UID:{uid}" in radicale and "BEGIN:VCALENDAR" in radicale
    # The logged message: its lines follow the header Message-ID up to the next log record.
    start = next(i for i, line in enumerate(gateway) if line == f"Message-ID: {message['Message-ID']}")
    end = next((i for i in range(start + 1, len(gateway)) if gateway[i].startswith(("DEBUG ", "INFO ", "WARNING ", "ERROR "))), len(gateway))
    calendar_types = [line for line in gateway[start:end] if line.lower().startswith("content-type: text/calendar")]
    assert calendar_types and all('method="REQUEST"' in line for line in calendar_types), gateway[start:end]


def test_moving_the_event_sends_a_request_with_a_higher_sequence(calendar_of, ext):
    uid = new_uid()
    cal = calendar_of(ALICE)
    cal.save_event(event_ics(uid, ALICE, [ATTENDEE], tomorrow(11)))
    first = wait_for("the first REQUEST", lambda: itip_for(ext, ATTENDEE, uid))
    event = cal.event_by_uid(uid)
    event.data = event_ics(uid, ALICE, [ATTENDEE], tomorrow(14), sequence=1)
    event.save()
    both = wait_for("the updated REQUEST", lambda: itip_for(ext, ATTENDEE, uid), until=lambda found: len(found) >= 2)
    old, new = the_vevent(first[0][1]), the_vevent(both[-1][1])
    assert str(both[-1][1]["METHOD"]) == "REQUEST"
    assert int(new["SEQUENCE"]) > int(old.get("SEQUENCE", 0))
    assert new.decoded("DTSTART") == tomorrow(14)


def test_removing_an_attendee_sends_them_a_cancel(calendar_of, ext):
    uid = new_uid()
    cal = calendar_of(ALICE)
    cal.save_event(event_ics(uid, ALICE, [ATTENDEE, OTHER], tomorrow(15)))
    wait_for("the REQUEST to the other attendee", lambda: itip_for(ext, OTHER, uid))
    event = cal.event_by_uid(uid)
    event.data = event_ics(uid, ALICE, [ATTENDEE], tomorrow(15), sequence=1)
    event.save()
    cancel = wait_for("the CANCEL", lambda: [p for p in itip_for(ext, OTHER, uid) if str(p[1]["METHOD"]) == "CANCEL"])
    attendees = the_vevent(cancel[0][1]).get("ATTENDEE")
    attendees = [str(a).lower() for a in (attendees if isinstance(attendees, list) else [attendees])]
    assert f"mailto:{OTHER}" in attendees
    assert cancel[0][0]["To"].addresses[0].addr_spec == OTHER
    # The attendee who stays invited gets no CANCEL.
    assert [p for p in itip_for(ext, ATTENDEE, uid) if str(p[1]["METHOD"]) == "CANCEL"] == []


def test_deleting_the_event_sends_a_cancel(calendar_of, ext):
    uid = new_uid()
    cal = calendar_of(ALICE)
    cal.save_event(event_ics(uid, ALICE, [ATTENDEE], tomorrow(16)))
    wait_for("the REQUEST", lambda: itip_for(ext, ATTENDEE, uid))
    cal.event_by_uid(uid).delete()
    cancel = wait_for("the CANCEL", lambda: [p for p in itip_for(ext, ATTENDEE, uid) if str(p[1]["METHOD"]) == "CANCEL"])
    part = calendar_part(cancel[0][0])[0]
    assert part.get_param("method") == "CANCEL"


def test_an_event_with_only_local_attendees_sends_no_mail_and_is_in_their_calendar(calendar_of, ext, aio):
    """Radicale has no scheduling of its own: the gateway writes bob's copy into his calendar,
    ORGANIZER alice, bob still to answer (he has logged in once: his calendar home exists); bob
    accepts in his calendar application and alice's event shows it."""
    bobs = calendar_of(BOB)
    local_uid, marker_uid = new_uid(), new_uid()
    cal = calendar_of(ALICE)
    wait_for("an empty queue", lambda: gateway_status(aio)["outbound"]["queue_depth"] == 0)
    sent_before = gateway_status(aio)["outbound"]["sent_total"]
    cal.save_event(event_ics(local_uid, ALICE, [BOB], tomorrow(17)))
    # The gateway works through changes in order: once a later invitation has arrived, the
    # local-only event has been planned too.
    cal.save_event(event_ics(marker_uid, ALICE, [ATTENDEE], tomorrow(18)))
    wait_for("the later invitation", lambda: itip_for(ext, ATTENDEE, marker_uid))
    wait_for("an empty queue", lambda: gateway_status(aio)["outbound"]["queue_depth"] == 0)
    assert gateway_status(aio)["outbound"]["sent_total"] == sent_before + 1
    for address in (ATTENDEE, OTHER):
        assert itip_for(ext, address, local_uid) == []
    found = wait_for("bob's copy of the event", lambda: copy_in_calendars_of(bobs, local_uid), timeout=30)
    copy = found.icalendar_component
    assert str(copy["ORGANIZER"]).lower() == f"mailto:{ALICE}"
    attendees = copy.get("ATTENDEE")
    bob = next(a for a in (attendees if isinstance(attendees, list) else [attendees]) if str(a).lower() == f"mailto:{BOB}")
    assert bob.params["PARTSTAT"] == "NEEDS-ACTION"
    assert gateway_status(aio)["outbound"]["local_copies"]["done_last_24h"] >= 1

    bob.params["PARTSTAT"] = "ACCEPTED"
    found.save()
    wait_for("bob's answer on alice's event", lambda: partstat(cal, local_uid, BOB) == "ACCEPTED", timeout=30)
    assert itip_for(ext, ATTENDEE, local_uid) == []
