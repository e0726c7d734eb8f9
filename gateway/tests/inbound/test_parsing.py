"""MIME walking and calendar extraction for every constructed client shape (section 5)."""

import pytest

from imip_gateway.inbound import dsn, mime
from imip_gateway.inbound.ical import ICalError, fold, parse, unfold
from imip_gateway.inbound.itip import instant_key, parse_itip
from imip_gateway.inbound.ical import Property

from . import messages as m

TOKEN = "0f4c2a8e-1d2b-4c3d-9e8f-a1b2c3d4e5f6"
UID = "evt-1@example.test"


def _first(raw, limit=524288):
    return mime.extract_calendars(mime.parse_message(raw), limit)


@pytest.mark.parametrize("shape", sorted(m.SHAPES))
def test_every_shape_yields_the_reply(shape):
    ics = m.reply_ics(UID, partstat="DECLINED", comment="no\\, sorry")
    extraction = _first(m.SHAPES[shape](TOKEN, ics))
    assert extraction.first is not None, shape
    itip = parse_itip(extraction.first.text, extraction.first.method_param)
    assert itip.method == "REPLY"
    (inst,) = itip.instances
    assert inst.uid == UID
    assert [a.param("PARTSTAT") for a in inst.attendees] == ["DECLINED"]
    assert inst.comments == ["no, sorry"]


def test_google_duplicate_attachment_is_ignored_not_counted_as_other():
    extraction = _first(m.google(TOKEN, m.reply_ics(UID)))
    assert (extraction.duplicates, extraction.others) == (1, 0)
    assert extraction.first.content_type == "text/calendar"


def test_missing_method_parameter_leaves_method_to_the_body():
    extraction = _first(m.ical3(TOKEN, m.reply_ics(UID)))
    assert extraction.first.method_param is None
    assert parse_itip(extraction.first.text, None).method == "REPLY"


def test_method_parameter_used_when_body_has_no_method():
    ics = m.reply_ics(UID, method=None)
    itip = parse_itip(_first(m.single_part(TOKEN, ics)).first.text, "REPLY")
    assert itip.method == "REPLY" and not itip.method_mismatch


def test_counter_labelled_reply_is_a_counter():
    ics = m.reply_ics(UID, method="COUNTER", partstat="TENTATIVE")
    part = _first(m.google(TOKEN, ics)).first
    itip = parse_itip(part.text, part.method_param)
    assert part.method_param == "REPLY"
    assert itip.method == "COUNTER" and itip.method_mismatch


def test_uppercase_method_parameter_name():
    raw = m.single_part(TOKEN, m.reply_ics(UID)).replace(b"method=REPLY", b"METHOD=reply")
    assert _first(raw).first.method_param == "REPLY"


def test_attendee_inside_valarm_does_not_count():
    ics = m.reply_ics(UID, valarm_attendee="alice@example.test")
    part = _first(m.google_qp_lf(TOKEN, ics)).first
    (inst,) = parse_itip(part.text, part.method_param).instances
    assert [a.value for a in inst.attendees] == [f"mailto:{m.ATTENDEE}"]


def test_tab_folding_and_base64_without_charset():
    part = _first(m.android(TOKEN, m.reply_ics(UID, mailto="MAILTO:"))).first
    (inst,) = parse_itip(part.text, part.method_param).instances
    assert inst.attendees[0].param("ROLE") == "REQ-PARTICIPANT"
    assert inst.attendees[0].value == f"MAILTO:{m.ATTENDEE}"


def test_oversize_part_is_counted_not_decoded():
    big = m.reply_ics(UID, extra="DESCRIPTION:" + "x" * 4000)
    extraction = _first(m.google(TOKEN, big), limit=1024)
    assert extraction.first is None and extraction.oversize


def test_forwarded_invitation_inside_a_human_mail_is_not_a_reply():
    inner = m.single_part(None, m.reply_ics(UID)).decode()
    raw = (m.headers(TOKEN) + 'Content-Type: multipart/mixed; boundary="f"\r\n\r\n'
           "--f\r\nContent-Type: text/plain\r\n\r\nsee below\r\n"
           "--f\r\nContent-Type: message/rfc822\r\n\r\n" + inner + "\r\n--f--\r\n").encode()
    assert _first(raw).first is None


def test_bounce_detected_with_returned_calendar():
    bounce = dsn.detect_bounce(mime.parse_message(m.bounce(TOKEN, UID)))
    assert bounce.failed and bounce.final_recipients == ["bob@external.test"] and bounce.status == "5.1.1"
    part = mime.extract_calendars(bounce.returned, 524288).first
    assert TOKEN in parse_itip(part.text, part.method_param).organizer


def test_delayed_report_is_not_a_failure():
    raw = m.bounce(TOKEN, UID).replace(b"Action: failed", b"Action: delayed")
    assert dsn.detect_bounce(mime.parse_message(raw)).failed is False


@pytest.mark.parametrize("text", [
    "", "BEGIN:VCALENDAR\r\n", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VCALENDAR\r\n", "garbage",
])
def test_broken_calendars_raise_icalerror_only(text):
    with pytest.raises(ICalError):
        parse_itip(text, None)


def test_unfold_crlf_lf_tab_and_fold_roundtrip():
    assert unfold("A:1\r\n 2\n\t3\rB:4") == ["A:123", "B:4"]
    line = "DESCRIPTION:" + "é" * 80
    folded = fold(line)
    assert all(len(p.encode()) <= 75 for p in folded.split("\r\n"))
    assert unfold(folded) == [line]


def test_quoted_parameter_with_colon_and_unedited_lines_kept_verbatim():
    cal = parse('BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nATTENDEE;CN="Doe: John";X-A=1:mailto:j@x\r\n'
                'X-WEIRD;;:keep me\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n')
    (att,) = cal.sub("VEVENT")[0].get_all("ATTENDEE")
    assert att.param("CN") == "Doe: John" and att.value == "mailto:j@x"
    att.set_param("PARTSTAT", "ACCEPTED")
    assert 'CN="Doe: John"' in cal.serialize() and "PARTSTAT=ACCEPTED" in cal.serialize()


def test_instant_key_resolves_timezones():
    utc = Property("RECURRENCE-ID", {}, "20300105T090000Z")
    berlin = Property("RECURRENCE-ID", {"TZID": ["Europe/Berlin"]}, "20300105T100000")
    assert instant_key(utc) == instant_key(berlin) == "20300105T090000Z"
    windows = Property("RECURRENCE-ID", {"TZID": ["W. Europe Standard Time"]}, "20300105T100000")
    assert instant_key(windows) == "20300105T100000"
