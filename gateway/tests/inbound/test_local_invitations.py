"""Invitations from outside organizers to local users, handed over by the mail system, written
into the user's own calendar in the real Radicale (docs/gateway.md, "Invitations from outside").

The organizer olivia@external.test invites alice@example.test (Radicale user alice, calendar
`work`) and bob@example.test (no calendar yet). Each message starts with the hand-off's line and
carries our MTA's verdict, as the mail role's Sieve script and milters leave it."""

from __future__ import annotations

import uuid

import icalendar
import pytest

import conftest as shared
from imip_gateway.inbound import status
from imip_gateway.inbound.invitations import Invitations, Settings, handoff_recipient

from .conftest import make_settings
from .test_service_status import _config

ORGANIZER = "olivia@external.test"
PASS = "cal.example.test; dkim=pass header.d=external.test header.i=@external.test; spf=pass smtp.mailfrom=external.test"


def itip(uid: str, *, method="REQUEST", sequence=0, dtstamp="20291201T090000Z", start="20300105T100000Z",
         end="20300105T110000Z", attendees=("alice@example.test", "carol@external.test"), organizer=ORGANIZER,
         summary="Review", rrule=None, recurrence_id=None, status=None, extra=()) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Outside//Calendar//EN", f"METHOD:{method}",
             "BEGIN:VEVENT", f"UID:{uid}", f"DTSTAMP:{dtstamp}", f"SEQUENCE:{sequence}",
             *([f"RECURRENCE-ID:{recurrence_id}"] if recurrence_id else []),
             f"DTSTART:{start}", f"DTEND:{end}", f"SUMMARY:{summary}", *([f"RRULE:{rrule}"] if rrule else []),
             *([f"STATUS:{status}"] if status else []), *extra,
             f"ORGANIZER;CN=Olivia:mailto:{organizer}",
             f"ATTENDEE;CN=Olivia;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:{organizer}",
             *[f"ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{a}" for a in attendees],
             "END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines)


def handed_over(ics: str, *, recipient="alice@example.test", auth=PASS, first_line=True, message_id=None) -> bytes:
    method = next(line.split(":", 1)[1] for line in ics.split("\r\n") if line.startswith("METHOD:"))
    head = [f"X-IMIP-Handoff: {recipient}"] if first_line else []
    head += ["Return-Path: <olivia@external.test>", f"Delivered-To: {recipient}"]
    if not first_line:
        head.append(f"X-IMIP-Handoff: {recipient}")
    if auth:
        head.append(f"Authentication-Results: {auth}")
    head += [f"From: Olivia <{ORGANIZER}>", f"To: {recipient}", "Subject: Invitation: Review",
             f"Message-ID: <{message_id or uuid.uuid4().hex}@external.test>", "MIME-Version: 1.0",
             f"Content-Type: text/calendar; charset=UTF-8; method={method}", "", ics]
    return "\r\n".join(head).encode()


@pytest.fixture
def site(world, inbound_radicale):
    """The world's Processor, given the local invitations as the service wires them."""
    settings = make_settings()
    world.processor.invitations = Invitations(Settings(
        max_itip_bytes=settings.max_itip_bytes, auth_policy="require_dkim_or_spf", authserv_id="cal.example.test",
        is_local=lambda a: a.lower().endswith("@example.test"), invitation_address=settings.invitation_address,
        opt_out_users=("dave",)), inbound_radicale.client())
    return world


def copy_of(radicale, user: str, uid: str):
    """(href, calendar) of `uid` in `user`'s calendars, read as that user, or (None, None)."""
    client = radicale.client(user)
    try:
        calendars = client.list_calendars(user)
    except Exception:  # noqa: BLE001 - no home yet
        return None, None
    found = client.find_by_uid(uid, calendars) if calendars else None
    return (found.href, icalendar.Calendar.from_ical(found.text)) if found else (None, None)


def partstat(calendar, address="alice@example.test", key=None):
    for component in calendar.walk("VEVENT"):
        rid = component.get("RECURRENCE-ID")
        if (key is None and rid is None) or (key is not None and rid is not None and rid.to_ical().decode() == key):
            props = component.get("ATTENDEE")
            for prop in props if isinstance(props, list) else [props]:
                if str(prop).lower() == "mailto:" + address:
                    return str(prop.params.get("PARTSTAT"))
    return None


def answer(radicale, user: str, uid: str, partstat_value: str) -> None:
    """The user answers in their calendar client: a PUT of their copy with a new PARTSTAT."""
    href, _calendar = copy_of(radicale, user, uid)
    client = radicale.client(user)
    text = client.get(href).text
    text = text.replace(f"PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{user}@example.test",
                        f"PARTSTAT={partstat_value}:mailto:{user}@example.test")
    client.put(href, text)


def test_the_hand_off_line_must_come_first():
    assert handoff_recipient(b"X-IMIP-Handoff: Alice@Example.test\r\nFrom: x\r\n") == "alice@example.test"
    assert handoff_recipient(b"Return-Path: <x@y>\r\nX-IMIP-Handoff: alice@example.test\r\n") is None
    assert handoff_recipient(b"X-IMIP-Handoff: alice@example.test, bob@example.test\r\n") is None
    assert handoff_recipient(b"X-IMIP-Handoffs: alice@example.test\r\n") is None


def test_an_invitation_lands_in_the_users_calendar_and_follows_the_organizer(site, inbound_radicale):
    uid = f"{uuid.uuid4()}@external.test"
    first = handed_over(itip(uid))
    decision = site.process(first)
    assert (decision.folder, decision.outcome) == ("Processed", "invitation applied"), decision.reason
    href, calendar = copy_of(inbound_radicale, "alice", uid)
    assert href.startswith("/alice/work/")
    assert "METHOD" not in calendar
    assert partstat(calendar) == "NEEDS-ACTION"
    assert str(calendar.walk("VEVENT")[0]["ORGANIZER"]).lower() == f"mailto:{ORGANIZER}"

    # The same message again, and a copy of it under another Message-ID: nothing changes.
    assert site.process(first).duplicate
    again = site.process(handed_over(itip(uid)))
    assert (again.folder, again.outcome) == ("Processed", "invitation ignored")
    assert "stale or replayed" in again.reason

    # alice accepts in her client; a minor update (a higher SEQUENCE, same time) keeps her answer.
    answer(inbound_radicale, "alice", uid, "ACCEPTED")
    update = site.process(handed_over(itip(uid, sequence=1, dtstamp="20291202T090000Z", summary="Review (agenda)")))
    assert update.outcome == "invitation applied", update.reason
    _href, calendar = copy_of(inbound_radicale, "alice", uid)
    assert partstat(calendar) == "ACCEPTED"
    assert str(calendar.walk("VEVENT")[0]["SUMMARY"]) == "Review (agenda)"

    # An older message arriving late changes nothing.
    late = site.process(handed_over(itip(uid, sequence=0, dtstamp="20291203T090000Z", summary="Old")))
    assert late.outcome == "invitation ignored"
    assert str(copy_of(inbound_radicale, "alice", uid)[1].walk("VEVENT")[0]["SUMMARY"]) == "Review (agenda)"

    # Moved to another day: she is asked again.
    moved = site.process(handed_over(itip(uid, sequence=2, dtstamp="20291204T090000Z", start="20300106T100000Z",
                                          end="20300106T110000Z")))
    assert "asked again" in moved.reason
    _href, calendar = copy_of(inbound_radicale, "alice", uid)
    assert partstat(calendar) == "NEEDS-ACTION"
    assert calendar.walk("VEVENT")[0]["DTSTART"].to_ical() == b"20300106T100000Z"

    # Cancelled: the event stays in her calendar, marked cancelled.
    cancel = site.process(handed_over(itip(uid, method="CANCEL", sequence=3, dtstamp="20291205T090000Z",
                                           start="20300106T100000Z", end="20300106T110000Z")))
    assert cancel.outcome == "invitation applied", cancel.reason
    assert str(copy_of(inbound_radicale, "alice", uid)[1].walk("VEVENT")[0]["STATUS"]) == "CANCELLED"


def test_an_update_of_one_instance_keeps_the_series(site, inbound_radicale):
    uid = f"{uuid.uuid4()}@external.test"
    assert site.process(handed_over(itip(uid, rrule="FREQ=WEEKLY;COUNT=4"))).outcome == "invitation applied"
    answer(inbound_radicale, "alice", uid, "ACCEPTED")
    # The second week moved by an hour: only that instance, sent on its own.
    one = itip(uid, sequence=1, dtstamp="20291202T090000Z", recurrence_id="20300112T100000Z",
               start="20300112T110000Z", end="20300112T120000Z")
    decision = site.process(handed_over(one))
    assert decision.outcome == "invitation applied", decision.reason
    _href, calendar = copy_of(inbound_radicale, "alice", uid)
    assert [c.get("RECURRENCE-ID") is None for c in calendar.walk("VEVENT")] == [True, False]
    assert partstat(calendar) == "ACCEPTED"                               # the series keeps her answer
    assert partstat(calendar, key="20300112T100000Z") == "NEEDS-ACTION"   # the moved week asks again
    # That week cancelled: only it.
    cancel = itip(uid, method="CANCEL", sequence=2, dtstamp="20291203T090000Z", recurrence_id="20300112T100000Z",
                  start="20300112T110000Z", end="20300112T120000Z")
    assert site.process(handed_over(cancel)).outcome == "invitation applied"
    _href, calendar = copy_of(inbound_radicale, "alice", uid)
    assert [str(c.get("STATUS", "")) for c in calendar.walk("VEVENT")] == ["", "CANCELLED"]


def test_one_mail_to_two_colleagues_is_applied_for_each(site, inbound_radicale):
    """The mail system hands the same message over once per local recipient."""
    inbound_radicale.server.request("PROPFIND", "/bob/", "bob", shared.USER_PASSWORD, headers={"Depth": "0"})
    uid = f"{uuid.uuid4()}@external.test"
    ics = itip(uid, attendees=("alice@example.test", "bob@example.test"))
    message_id = uuid.uuid4().hex
    for who in ("alice", "bob"):
        decision = site.process(handed_over(ics, recipient=f"{who}@example.test", message_id=message_id))
        assert decision.outcome == "invitation applied" and not decision.duplicate, (who, decision.reason)
        assert partstat(copy_of(inbound_radicale, who, uid)[1], f"{who}@example.test") == "NEEDS-ACTION"
    assert site.process(handed_over(ics, recipient="bob@example.test", message_id=message_id)).duplicate


def test_a_series_that_loses_a_week_asks_again(site, inbound_radicale):
    """EXDATE on several lines (as Outlook writes them): one more week taken out with a higher
    SEQUENCE is a change in time; the same lines again are not."""
    uid = f"{uuid.uuid4()}@external.test"
    rule, taken_out = "FREQ=WEEKLY;COUNT=6", ("EXDATE:20300112T100000Z", "EXDATE:20300119T100000Z")
    assert site.process(handed_over(itip(uid, rrule=rule, extra=taken_out))).outcome == "invitation applied"
    answer(inbound_radicale, "alice", uid, "ACCEPTED")
    same = site.process(handed_over(itip(uid, sequence=1, dtstamp="20291202T090000Z", summary="Review (room)",
                                         rrule=rule, extra=taken_out)))
    assert same.outcome == "invitation applied" and "asked again" not in same.reason
    assert partstat(copy_of(inbound_radicale, "alice", uid)[1]) == "ACCEPTED"
    moved = site.process(handed_over(itip(uid, sequence=2, dtstamp="20291203T090000Z", rrule=rule,
                                          extra=taken_out + ("EXDATE:20300126T100000Z",))))
    assert "asked again" in moved.reason
    assert partstat(copy_of(inbound_radicale, "alice", uid)[1]) == "NEEDS-ACTION"


def test_an_added_instance_joins_the_series(site, inbound_radicale):
    """RFC 5546 ADD: a VEVENT without RECURRENCE-ID is one more instance of the series; alice's
    answer to the series stays, the new instance asks for hers; the same ADD again changes nothing."""
    uid = f"{uuid.uuid4()}@external.test"
    assert site.process(handed_over(itip(uid, rrule="FREQ=WEEKLY;COUNT=2"))).outcome == "invitation applied"
    answer(inbound_radicale, "alice", uid, "ACCEPTED")
    extra = itip(uid, method="ADD", dtstamp="20291202T090000Z", start="20300108T150000Z", end="20300108T160000Z",
                 summary="Review (extra)")
    decision = site.process(handed_over(extra))
    assert decision.outcome == "invitation applied", decision.reason
    _href, calendar = copy_of(inbound_radicale, "alice", uid)
    series, added = calendar.walk("VEVENT")
    assert series["RDATE"].to_ical() == b"20300108T150000Z" and "RRULE" in series
    assert added["RECURRENCE-ID"].to_ical() == b"20300108T150000Z" and str(added["SUMMARY"]) == "Review (extra)"
    assert partstat(calendar) == "ACCEPTED"
    assert partstat(calendar, key="20300108T150000Z") == "NEEDS-ACTION"
    again = site.process(handed_over(extra))
    assert again.outcome == "invitation ignored" and "stale or replayed" in again.reason
    # Without the series in her calendar there is nothing to add to.
    lone = f"{uuid.uuid4()}@external.test"
    refused = site.process(handed_over(itip(lone, method="ADD")))
    assert refused.folder == "Rejected" and "ADD for a series" in refused.reason


def test_a_user_without_a_calendar_gets_one(site, inbound_radicale):
    status, _headers, _body = inbound_radicale.server.request(
        "PROPFIND", "/bob/", "bob", shared.USER_PASSWORD, headers={"Depth": "0"})
    assert status == 207  # bob logged in once: his home exists
    uid = f"{uuid.uuid4()}@external.test"
    decision = site.process(handed_over(itip(uid, attendees=("bob@example.test",)), recipient="bob@example.test"))
    assert decision.outcome == "invitation applied", decision.reason
    href, calendar = copy_of(inbound_radicale, "bob", uid)
    assert href.startswith("/bob/")
    assert partstat(calendar, "bob@example.test") == "NEEDS-ACTION"


def two_events(uid: str) -> str:
    """One REQUEST carrying two events (two UIDs)."""
    second = itip(uid + "x").split("METHOD:REQUEST\r\n")[1].replace("END:VCALENDAR\r\n", "")
    return itip(uid).replace("END:VCALENDAR", second + "END:VCALENDAR")


@pytest.mark.parametrize("case, message, reason", [
    ("not an attendee", lambda uid: handed_over(itip(uid, attendees=("carol@external.test",))),
     "alice@example.test is not an ATTENDEE"),
    ("no verdict of ours", lambda uid: handed_over(itip(uid), auth=None), "sender authentication"),
    ("another domain's signature",
     lambda uid: handed_over(itip(uid), auth="cal.example.test; dkim=pass header.d=evil.test; spf=fail smtp.mailfrom=external.test"),
     "sender authentication"),
    ("a verdict from someone else", lambda uid: handed_over(itip(uid), auth="mx.evil.test; dkim=pass header.d=external.test"),
     "sender authentication"),
    ("two events", lambda uid: handed_over(two_events(uid)), "2 UIDs"),
    ("a stranger's hand-off", lambda uid: handed_over(itip(uid), recipient="eve@elsewhere.test"), "not a local user"),
])
def test_refused_invitations_change_nothing(site, inbound_radicale, case, message, reason):
    uid = f"{uuid.uuid4()}@external.test"
    decision = site.process(message(uid))
    assert (decision.folder, decision.outcome) == ("Rejected", "invitation rejected"), case
    assert reason in decision.reason, decision.reason
    assert copy_of(inbound_radicale, "alice", uid) == (None, None)


def test_a_uid_belongs_to_its_organizer(site, inbound_radicale):
    uid = f"{uuid.uuid4()}@external.test"
    assert site.process(handed_over(itip(uid))).outcome == "invitation applied"
    hijack = handed_over(itip(uid, sequence=5, dtstamp="20291209T090000Z", organizer="mallory@external.test",
                              summary="Moved to my place"))
    decision = site.process(hijack)
    assert decision.folder == "Rejected" and "belongs to olivia@external.test" in decision.reason
    assert str(copy_of(inbound_radicale, "alice", uid)[1].walk("VEVENT")[0]["SUMMARY"]) == "Review"


@pytest.mark.parametrize("case, message, reason", [
    ("a colleague's invitation", lambda uid: handed_over(itip(uid, organizer="carol@example.test")),
     "is a local user"),
    ("an opted-out user", lambda uid: handed_over(itip(uid, attendees=("dave@example.test",)),
                                                  recipient="dave@example.test"), "opted out"),
    ("a reply", lambda uid: handed_over(itip(uid, method="REPLY")), "METHOD:REPLY"),
    ("a cancellation of nothing", lambda uid: handed_over(itip(uid, method="CANCEL")), "nothing to cancel"),
])
def test_what_is_not_for_the_gateway_is_filed_untouched(site, inbound_radicale, case, message, reason):
    uid = f"{uuid.uuid4()}@external.test"
    decision = site.process(message(uid))
    assert (decision.folder, decision.outcome) == ("Processed", "invitation ignored"), case
    assert reason in decision.reason, decision.reason
    assert copy_of(inbound_radicale, "alice", uid) == (None, None)


def test_only_the_hand_off_can_name_a_recipient(site, inbound_radicale):
    """A message that carries the header below Dovecot's Return-Path (sent to the invitation
    address by someone outside) is an ordinary message without a token: nothing is written."""
    uid = f"{uuid.uuid4()}@external.test"
    decision = site.process(handed_over(itip(uid), first_line=False))
    assert decision.folder == "Rejected" and decision.outcome == "rejected"
    assert copy_of(inbound_radicale, "alice", uid) == (None, None)


def test_the_status_report_counts_them_and_names_the_last_refused(site, inbound_radicale, tmp_path):
    site.process(handed_over(itip(f"{uuid.uuid4()}@external.test")))
    site.process(handed_over(itip(f"{uuid.uuid4()}@external.test"), auth=None))
    site.state.set_status(imap_last_login_ok=True, imap_last_login_time=site.clock[0], imap_last_pass=site.clock[0])
    report = status.collect(site.conn, _config(tmp_path, inbound_radicale.url))
    assert report["invitations_last_24h"] == {"applied": 1, "rejected": 1}
    line = next(c for c in status.checks(report) if c["id"] == "inbound.invitations")
    assert line["status"] == "ok"
    assert line["text"].startswith("invitations from outside in 24 h: applied 1, rejected 1; last refused (")
    assert "for alice@example.test: sender authentication" in line["text"]
