"""Everyday replies: a reply changes exactly one attendee's PARTSTAT on an instance the
organizer's event really has, in the organizer's own calendar, judged against what was mailed
to that attendee; late replies reach the organizer; bounces without a report still count.

Against the real Radicale of conftest.py; every message is CONSTRUCTED (messages.py).
"""

import dataclasses
import datetime as dt
import json
import types

import pytest

from imip_gateway.inbound import dsn, mime
from imip_gateway.inbound.ical import ICalError, Property, parse, parse_property
from imip_gateway.inbound.service import InboundService
from imip_gateway.outbound import sequences
from imip_gateway.outbound.schema import last_sent_sequence

from . import messages as m
from .conftest import CAL
from .test_processor import _partstat
from .test_service_status import _config

WEEKLY_MONDAYS = dict(start="20300107T100000Z", end="20300107T110000Z", rrule="FREQ=WEEKLY;COUNT=5")


def _vevents(world, uid: str) -> int:
    return world.stored(uid).count("BEGIN:VEVENT")


# ------------------------------------------------------------------ (a) only real instances
@pytest.mark.parametrize("rid,why", [
    ("20300113T030000Z", "a Sunday 03:00 of a Monday series"),
    ("20300211T100000Z", "the Monday after COUNT=5 ended"),
    ("20300107T100001Z", "one second off the first instance"),
])
def test_reply_for_an_instant_the_series_never_has_creates_nothing(world, rid, why):
    uid, token = world.new_event(**WEEKLY_MONDAYS)
    decision = world.process(m.google(token, m.reply_ics(uid, partstat="DECLINED", recurrence_id=rid)))
    assert decision.folder == "Rejected", why
    assert "not an instance of the series" in decision.reason
    assert _vevents(world, uid) == 1 and rid not in world.stored(uid)
    # The organizer hears about it (the gateway's forward), nobody's PARTSTAT moved.
    assert len(world.sent) == 1 and world.sent[0]["To"] == "alice@example.test"
    assert _partstat(world.attendee_line(uid)) == "NEEDS-ACTION"


def test_excluded_instance_and_rdate_instance(world):
    uid, token = world.new_event(**WEEKLY_MONDAYS, series=("EXDATE:20300114T100000Z",
                                                           "RDATE:20300302T150000Z"))
    excluded = world.process(m.google(token, m.reply_ics(uid, recurrence_id="20300114T100000Z"),
                                      message_id="<ex@x>"))
    assert excluded.folder == "Rejected" and _vevents(world, uid) == 1
    extra = world.process(m.google(token, m.reply_ics(uid, partstat="TENTATIVE", recurrence_id="20300302T150000Z"),
                                   message_id="<rdate@x>"))
    assert extra.outcome == "applied TENTATIVE for 20300302T150000Z"
    assert _partstat(world.attendee_line(uid, recurrence_id="20300302T150000Z")) == "TENTATIVE"


def test_series_in_a_time_zone_is_expanded_in_that_zone(world):
    """Weekly Mondays 10:00 Berlin: in July that is 08:00 UTC, in January 09:00 UTC."""
    uid, token = world.new_event(start="20300107T100000", end="20300107T110000", tzid="Europe/Berlin",
                                 rrule="FREQ=WEEKLY;UNTIL=20301231T230000Z")
    summer = world.process(m.google(token, m.reply_ics(uid, partstat="DECLINED", recurrence_id="20300715T080000Z"),
                                    message_id="<summer@x>"))
    assert summer.outcome == "applied DECLINED for 20300715T080000Z", summer.reason
    stored = world.stored(uid)
    assert "RECURRENCE-ID;TZID=Europe/Berlin:20300715T100000" in stored
    assert "DTSTART;TZID=Europe/Berlin:20300715T100000" in stored
    # 09:00 UTC in July is 11:00 in Berlin: no instance.
    wrong = world.process(m.google(token, m.reply_ics(uid, recurrence_id="20300715T090000Z"),
                                   message_id="<wrong@x>"))
    assert wrong.folder == "Rejected" and _vevents(world, uid) == 2


# ------------------------------------------------------------------ (c) Outlook's time zone names
def test_outlook_recurrence_id_is_written_in_the_series_form(world):
    uid, token = world.new_event(start="20300107T100000", end="20300107T110000", tzid="Europe/Berlin",
                                 rrule="FREQ=WEEKLY;COUNT=10")
    ics = m.reply_ics(uid, partstat="DECLINED", vtimezone=m.OUTLOOK_BERLIN,
                      recurrence_id=';TZID="W. Europe Standard Time":20300114T100000')
    decision = world.process(m.exchange(token, ics))
    assert decision.folder == "Processed", decision.reason
    stored = world.stored(uid)
    assert "W. Europe" not in stored and "RECURRENCE-ID;TZID=Europe/Berlin:20300114T100000" in stored
    assert _partstat(world.attendee_line(uid, recurrence_id="20300114T090000Z")) == "DECLINED"
    # A second reply for that instance in UTC edits the same override.
    again = m.google(token, m.reply_ics(uid, partstat="ACCEPTED", sequence=1, recurrence_id="20300114T090000Z"),
                     message_id="<again@x>")
    assert world.process(again).folder == "Processed" and _vevents(world, uid) == 2


def test_recurrence_id_in_an_unknown_zone_is_refused(world):
    uid, token = world.new_event(**WEEKLY_MONDAYS)
    ics = m.reply_ics(uid, recurrence_id=";TZID=Mars/Olympus_Mons:20300114T100000")
    decision = world.process(m.google(token, ics))
    assert decision.folder == "Rejected" and "time zone that cannot be read" in decision.reason
    assert "Mars" not in world.stored(uid)


# ------------------------------------------------------------------ (b) nothing from mail re-quoted
def test_request_status_with_a_quote_never_reaches_the_organizers_data(world):
    uid, token = world.new_event()
    ics = m.reply_ics(uid, extra='REQUEST-STATUS:2.0":mailto:mallory@evil.test;Success')
    decision = world.process(m.google(token, ics))
    assert decision.outcome == "applied ACCEPTED"
    stored = world.stored(uid)
    assert "mallory" not in stored
    line = world.attendee_line(uid)
    assert line.endswith(":mailto:bob@external.test") and "SCHEDULE-STATUS=2.0" in line
    event = parse(stored).sub("VEVENT")[0]
    assert sorted(a.value for a in event.get_all("ATTENDEE")) == [
        "mailto:alice@example.test", "mailto:bob@external.test", "mailto:carol@external.test"]


def test_serializer_strips_quotes_and_controls_from_parameter_values():
    prop = Property("ATTENDEE", {"CN": ['Bob"; X=1:mailto:evil@x'], "SCHEDULE-STATUS": ["2.0\r\nEVIL:1"]},
                    "mailto:bob@x")
    prop.dirty = True
    again = parse_property(prop.to_line())
    assert again.value == "mailto:bob@x" and set(again.params) == {"CN", "SCHEDULE-STATUS"}
    assert again.param("CN") == "Bob; X=1:mailto:evil@x" and again.param("SCHEDULE-STATUS") == "2.0EVIL:1"
    with pytest.raises(ICalError):
        Property("SUMMARY", {}, "a\r\nATTENDEE:mailto:x@y", dirty=True).to_line()


# ------------------------------------------------------------------ item 6: the organizer's calendar only
def test_reply_goes_into_the_organizers_event_not_a_local_attendees_copy(world, inbound_radicale):
    uid, token = world.new_event()
    # Bob (a local user too) keeps a copy of the same UID in his own calendar; the outbound
    # half's snapshots know both, his first.
    inbound_radicale.server.mkcalendar("bob", "personal")
    copy = m.event(uid)
    inbound_radicale.server.put(f"/bob/personal/{uid}.ics", copy, user="bob")
    for point, href in (("bob/personal", f"/bob/personal/{uid}.ics"), ("alice/work", f"{CAL}{uid}.ics")):
        world.conn.execute("INSERT INTO snapshots (point, uid, content, href, updated) VALUES (?, ?, ?, ?, 0)",
                           (point, uid, copy, href))
    world.conn.commit()
    decision = world.process(m.google(token, m.reply_ics(uid, partstat="DECLINED")))
    assert decision.outcome == "applied DECLINED"
    assert _partstat(world.attendee_line(uid)) == "DECLINED"
    assert "PARTSTAT=DECLINED" not in inbound_radicale.server.get(f"/bob/personal/{uid}.ics", user="bob")


# ------------------------------------------------------------------ item 2: stale per attendee
def _mailed(conn, uid: str, attendee: str, sequence: int) -> None:
    job = {"uid": uid, "attendee": f"mailto:{attendee}", "sequences": json.dumps({"": sequence})}
    sequences.record_mailed(conn, job, 0.0)
    conn.commit()


def test_cancel_to_a_removed_attendee_does_not_make_the_others_reply_stale(world, tmp_path, inbound_radicale):
    # The stale check as `imip-gateway run` wires it: the service asks the outbound records.
    service = InboundService(_config(tmp_path, inbound_radicale.url), world.conn, imap_password="x",
                             caldav=inbound_radicale.client(), send=world.sent.append,
                             mailed_sequence=last_sent_sequence)
    world.processor.last_sent_sequence = service.processor.last_sent_sequence
    uid, token = world.new_event(sequence=0)
    _mailed(world.conn, uid, m.ATTENDEE, 0)
    _mailed(world.conn, uid, "carol@external.test", 0)
    # Alice removes carol: her client bumps SEQUENCE; only carol gets a CANCEL at SEQUENCE 1.
    world.put_stored(uid, m.event(uid, attendees=(m.ATTENDEE,), sequence=1))
    _mailed(world.conn, uid, "carol@external.test", 1)
    decision = world.process(m.google(token, m.reply_ics(uid, partstat="ACCEPTED", sequence=0)))
    assert decision.outcome == "applied ACCEPTED", decision.reason
    assert _partstat(world.attendee_line(uid)) == "ACCEPTED"
    # Carol's own late reply to the invitation she held is stale.
    carol = world.tokens.token_for(m.ORGANIZER, "mailto:carol@external.test", uid)
    world.put_stored(uid, m.event(uid, sequence=1))
    late = world.process(m.google(carol, m.reply_ics(uid, attendee="carol@external.test", sequence=0),
                                  message_id="<carol@x>"))
    assert late.outcome == "stale"


# ------------------------------------------------------------------ item 5: expired and unknown tokens
def _expired(lookup):
    """The token store's contract: lookup() returns a token past its lifetime with expired=True."""
    def wrapped(value):
        token = lookup(value)
        if token is None:
            return None
        if "expired" in {f.name for f in dataclasses.fields(token)}:
            return dataclasses.replace(token, expired=True)
        return types.SimpleNamespace(**dataclasses.asdict(token), expired=True)
    return wrapped


def test_reply_to_an_expired_token_is_forwarded_once_and_filed(world):
    uid, token = world.new_event()
    world.processor.lookup_token = _expired(world.tokens.lookup)
    # Age alone is not the processor's business any more: a year-old token that the store
    # still calls alive is applied (the old 90-day check would have refused it).
    raw = m.google(token, m.reply_ics(uid, partstat="DECLINED"))
    decision = world.process(raw)
    assert (decision.folder, decision.outcome) == ("Rejected", "expired token")
    assert decision.ready_to_file and _partstat(world.attendee_line(uid)) == "NEEDS-ACTION"
    (fwd,) = world.sent
    assert fwd["To"] == "alice@example.test" and "expired" in fwd.get_body(("plain",)).get_content()
    assert world.process(raw).duplicate and len(world.sent) == 1


def test_old_token_the_store_keeps_alive_is_applied(world):
    uid, token = world.new_event()
    world.clock[0] += 400 * 86400
    assert world.process(m.google(token, m.reply_ics(uid))).outcome == "applied ACCEPTED"


def test_forwards_of_expired_replies_are_rate_limited(world):
    uid, token = world.new_event()
    world.processor.lookup_token = _expired(world.tokens.lookup)
    world.processor.settings.forward_limit_per_hour = 1
    for i in range(3):
        assert world.process(m.google(token, m.reply_ics(uid), message_id=f"<late{i}@x>")).folder == "Rejected"
    assert len(world.sent) == 1


@pytest.mark.parametrize("organizer,forward_to", [
    (f"ORGANIZER;CN=Alice;EMAIL=alice@example.test:mailto:{m.token_address('0ld-purged-token')}",
     "alice@example.test"),
    ("ORGANIZER;CN=Alice:mailto:alice@example.test", "alice@example.test"),
    (f"ORGANIZER;CN=Alice:mailto:{m.token_address('0ld-purged-token')}", None),  # ourselves: a loop
    ("ORGANIZER;EMAIL=boss@elsewhere.test:mailto:boss@elsewhere.test", None),  # not local
    ('ORGANIZER;EMAIL="a@example.test, b@example.test":mailto:x@elsewhere.test', None),
])
def test_unknown_token_is_forwarded_only_to_a_local_organizer(world, organizer, forward_to):
    uid = world.new_event()[0]
    ics = m.reply_ics(uid, extra=organizer)
    decision = world.process(m.google("0ld-purged-token", ics))
    if forward_to is None:
        assert (decision.folder, decision.outcome) == ("Unknown", "unknown token") and world.sent == []
    else:
        assert (decision.folder, decision.outcome) == ("Rejected", "unknown token")
        (fwd,) = world.sent
        assert fwd["To"] == forward_to
    assert _partstat(world.attendee_line(uid)) == "NEEDS-ACTION"


# ------------------------------------------------------------------ lesser: DTSTAMP from the future
def test_reply_dated_in_the_future_does_not_freeze_later_replies(world):
    uid, token = world.new_event()
    now = dt.datetime(2029, 12, 2, 10, 0, tzinfo=dt.timezone.utc)
    future = m.google(token, m.reply_ics(uid, partstat="ACCEPTED", dtstamp="20991231T000000Z"),
                      message_id="<future@x>", date="Thu, 31 Dec 2099 00:00:00 +0000")
    later = m.google(token, m.reply_ics(uid, partstat="DECLINED", dtstamp="20291203T100000Z"),
                     message_id="<later@x>", date="Mon, 03 Dec 2029 10:00:00 +0000")
    assert world.process(future, arrival=now).outcome == "applied ACCEPTED"
    decision = world.process(later, arrival=now + dt.timedelta(days=1))
    assert decision.outcome == "applied DECLINED", decision.reason
    assert _partstat(world.attendee_line(uid)) == "DECLINED"


# ------------------------------------------------------------------ lesser: bounces without a report
def _plain_bounce(token: str | None, *, sender="MAILER-DAEMON@mx.external.test",
                  subject="failure notice", return_path="<>") -> bytes:
    """qmail's bounce: plain text, the original quoted inline, sent to the envelope sender."""
    to = m.token_address(token) if token else m.INVITE
    return (f"Return-Path: {return_path}\r\nDelivered-To: {to}\r\nFrom: {sender}\r\nTo: {to}\r\n"
            f"Subject: {subject}\r\nDate: Sun, 02 Dec 2029 10:00:00 +0000\r\nMessage-ID: <qmail-1@mx>\r\n\r\n"
            "Hi. This is the qmail-send program at mx.external.test.\r\n"
            "I'm afraid I wasn't able to deliver your message to the following addresses.\r\n"
            "This is a permanent error; I've given up. Sorry it didn't work out.\r\n\r\n"
            "<bob@external.test>:\r\nRemote host said: 550 5.1.1 no such user\r\n\r\n"
            "--- Below this line is a copy of the message.\r\n\r\nSubject: Invitation: Planning\r\n").encode()


def test_plain_text_bounce_marks_the_attendee_by_the_envelope_token(world):
    uid, token = world.new_event()
    decision = world.process(_plain_bounce(token))
    assert (decision.folder, decision.outcome) == ("Processed", "bounce"), decision.reason
    assert "5.1.1" in decision.reason
    line = world.attendee_line(uid)
    assert "SCHEDULE-STATUS=5.1" in line and _partstat(line) == "NEEDS-ACTION" and world.sent == []


def test_vacation_reply_is_not_a_bounce():
    msg = mime.parse_message(_plain_bounce("t", sender="Bob <bob@external.test>", subject="Out of office"))
    assert dsn.detect_bounce(msg) is None
    delayed = mime.parse_message(_plain_bounce("t", subject="Warning: message delayed"))
    assert dsn.detect_bounce(delayed).failed is False
