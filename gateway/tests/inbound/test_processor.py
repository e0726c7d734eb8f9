"""The inbound decision and write-back against a real Radicale, one branch per test.

Every message here is CONSTRUCTED (tests/inbound/messages.py) in the shape of a real client.
"""

import datetime as dt
import email

import pytest

from imip_gateway.inbound import authres
from imip_gateway.inbound.events import CalDAVEvents
from imip_gateway.inbound.processor import Processor, newer
from imip_gateway.inbound.state import AppliedReply

from . import messages as m
from .conftest import PASSWORD, make_settings


def _partstat(line: str) -> str:
    for param in line.split(":", 1)[0].split(";"):
        if param.startswith("PARTSTAT="):
            return param.split("=", 1)[1]
    return ""


# ------------------------------------------------------------------ applied, every client shape
@pytest.mark.parametrize("shape", sorted(m.SHAPES))
def test_reply_applied_in_every_client_shape(world, shape):
    uid, token = world.new_event()
    raw = m.SHAPES[shape](token, m.reply_ics(uid, partstat="TENTATIVE"), message_id=f"<{shape}@external.test>")
    decision = world.process(raw)
    assert (decision.folder, decision.outcome) == ("Processed", "applied TENTATIVE"), decision.reason
    line = world.attendee_line(uid)
    assert _partstat(line) == "TENTATIVE"
    # The organizer's RSVP=TRUE stays: the next significant change asks again.
    assert "SCHEDULE-STATUS=2.0" in line and "RSVP=TRUE" in line
    # Other attendees, SEQUENCE and DTSTAMP untouched.
    stored = world.stored(uid)
    assert "DTSTAMP:20291201T090000Z" in stored and "SEQUENCE:0" in stored
    assert _partstat(world.attendee_line(uid, "carol@external.test")) == "NEEDS-ACTION"


def test_exchange_reply_without_organizer_is_applied(world):
    uid, token = world.new_event()
    ics = m.reply_ics(uid, organizer=None, mailto="MAILTO:", extra="COMMENT;LANGUAGE=de-DE:\\n")
    decision = world.process(m.exchange(token, ics))
    assert decision.outcome == "applied ACCEPTED"
    assert world.sent == []  # an empty COMMENT is no comment


def test_attendee_inside_valarm_does_not_count(world):
    uid, token = world.new_event()
    ics = m.reply_ics(uid, organizer=m.ORGANIZER, valarm_attendee="alice@example.test")
    assert world.process(m.google_qp_lf(token, ics)).outcome == "applied ACCEPTED"
    assert _partstat(world.attendee_line(uid, "alice@example.test")) == "ACCEPTED"  # the organizer's own line


def test_token_found_in_to_when_envelope_header_missing(world):
    uid, token = world.new_event()
    raw = m.google(token, m.reply_ics(uid), original_to=False)
    decision = world.process(raw)
    assert decision.outcome == "applied ACCEPTED" and decision.token == token


def test_token_found_in_organizer_only(world):
    uid, token = world.new_event()
    ics = m.reply_ics(uid, organizer=f"mailto:{m.token_address(token)}")
    raw = m.google(token, ics, original_to=False, to="Alice <alice@example.test>")
    assert world.process(raw).outcome == "applied ACCEPTED"


# ------------------------------------------------------------------ COUNTER and other methods
def test_counter_labelled_reply_is_forwarded_without_state_change(world):
    uid, token = world.new_event()
    ics = m.reply_ics(uid, method="COUNTER", partstat="TENTATIVE")
    decision = world.process(m.google(token, ics))
    assert (decision.folder, decision.outcome) == ("Forwarded", "forwarded")
    assert _partstat(world.attendee_line(uid)) == "NEEDS-ACTION"
    (fwd,) = world.sent
    assert fwd["To"] == "alice@example.test"
    assert fwd["From"].endswith(f"<{m.INVITE}>") and m.ATTENDEE in fwd["Reply-To"]
    assert fwd["Auto-Submitted"] == "auto-generated" and fwd["X-IMIP-Gateway"] == "cal.example.test"
    text = fwd.as_string()
    assert "proposes a different time" in text and "20300105T100000Z" in text
    attached = [p for p in fwd.walk() if p.get_content_type() == "message/rfc822"]
    assert attached and attached[0].get_payload()[0]["Message-ID"] == "<constructed-1@external.test>"


def test_ios_proposal_in_reply_is_applied_and_forwarded(world):
    uid, token = world.new_event()
    ics = m.reply_ics(uid, partstat="TENTATIVE", private_comment="Can we move this?",
                      attendee_params=';TO-ALL-PROPOSED-NEW-TIME="DTSTART:20300106T083000Z;STATUS:;"')
    decision = world.process(m.ios(token, ics))
    assert decision.outcome == "applied TENTATIVE"
    (fwd,) = world.sent
    body = fwd.get_body(("plain",)).get_content()
    assert "DTSTART:20300106T083000Z" in body and "Can we move this?" in body


@pytest.mark.parametrize("method", ["REQUEST", "CANCEL", "PUBLISH"])
def test_other_methods_are_never_applied(world, method):
    uid, token = world.new_event()
    decision = world.process(m.single_part(token, m.reply_ics(uid, method=method), method_param=method))
    assert decision.folder == "Forwarded" and _partstat(world.attendee_line(uid)) == "NEEDS-ACTION"


def test_comment_is_forwarded_after_applying(world):
    uid, token = world.new_event()
    decision = world.process(m.exchange(token, m.reply_ics(uid, partstat="DECLINED", comment="no\\, sorry")))
    assert decision.outcome == "applied DECLINED" and "comment forwarded" in decision.reason
    (fwd,) = world.sent
    assert "Comment: no, sorry" in fwd.get_body(("plain",)).get_content()


# ------------------------------------------------------------------ ordering
def test_ios_dtstamp_older_but_higher_sequence_wins(world):
    uid, token = world.new_event(sequence=1)
    first = m.google(token, m.reply_ics(uid, partstat="ACCEPTED", sequence=0, dtstamp="20291203T120000Z"),
                     message_id="<a@x>")
    # The organizer re-sent with SEQUENCE 1; iOS copies the request's (older) DTSTAMP.
    world.put_stored(uid, world.stored(uid))
    second = m.ios(token, m.reply_ics(uid, partstat="DECLINED", sequence=1, dtstamp="20291201T090000Z"),
                   message_id="<b@x>")
    assert world.process(first).outcome == "stale"  # SEQUENCE 0 < the event's 1
    assert world.process(second).outcome == "applied DECLINED"
    assert _partstat(world.attendee_line(uid)) == "DECLINED"


def test_higher_sequence_beats_later_dtstamp_and_lower_loses(world):
    uid, token = world.new_event()
    newer = m.google(token, m.reply_ics(uid, partstat="DECLINED", sequence=1, dtstamp="20291201T000000Z"),
                     message_id="<n@x>")
    older = m.google(token, m.reply_ics(uid, partstat="ACCEPTED", sequence=0, dtstamp="20291209T000000Z"),
                     message_id="<o@x>")
    assert world.process(newer).outcome == "applied DECLINED"
    decision = world.process(older)
    assert (decision.folder, decision.outcome) == ("Processed", "ignored")
    assert _partstat(world.attendee_line(uid)) == "DECLINED"


def test_same_dtstamp_falls_back_to_date_header(world):
    """Outlook for Mac: every reply carries the request's DTSTAMP; the Date header orders them.
    The Dates are in the past, as a client writes them: a future one is clamped to the message's
    arrival (a reply from the future must not outrank later ones), and two arrivals in one second
    would then decide by chance."""
    uid, token = world.new_event()
    ics_acc = m.reply_ics(uid, partstat="ACCEPTED", dtstamp="20291201T090000Z")
    ics_dec = m.reply_ics(uid, partstat="DECLINED", dtstamp="20291201T090000Z")
    late = m.outlook_mac(token, ics_dec, message_id="<late@x>", date="Mon, 03 Nov 2025 10:00:00 +0000")
    early = m.outlook_mac(token, ics_acc, message_id="<early@x>", date="Sun, 02 Nov 2025 10:00:00 +0000")
    assert world.process(late).outcome == "applied DECLINED"
    assert world.process(early).outcome == "ignored"
    assert _partstat(world.attendee_line(uid)) == "DECLINED"


def test_replay_of_the_same_message_is_a_noop(world):
    uid, token = world.new_event()
    raw = m.google(token, m.reply_ics(uid, partstat="ACCEPTED"))
    assert world.process(raw).outcome == "applied ACCEPTED"
    # The organizer changes the answer by hand; the replayed reply must not undo that.
    world.put_stored(uid, world.stored(uid).replace("PARTSTAT=ACCEPTED;SCHEDULE-STATUS=2.0", "PARTSTAT=DECLINED"))
    before = world.stored(uid)
    replay = world.process(raw.replace(b"X-Original-To", b"Received: by mx; again\r\nX-Original-To"))
    assert replay.duplicate and replay.folder == "Processed"
    # Same calendar under a new Message-ID: ordering says not newer.
    forged_copy = world.process(raw.replace(b"constructed-1@", b"constructed-2@"))
    assert forged_copy.outcome == "ignored"
    assert world.stored(uid) == before


def test_a_copy_of_a_reply_from_the_future_arriving_seconds_later_changes_nothing(world):
    """The reply's DTSTAMP (2029) lies beyond the clock-skew limit. The applied reply used to be
    stored with that stamp already replaced by its arrival second, so a copy under a new
    Message-ID arriving in a later second compared as newer and was applied over the
    organizer's own edit (a make test run failed on it when the two were processed a second apart)."""
    uid, token = world.new_event()
    raw = m.google(token, m.reply_ics(uid, partstat="ACCEPTED"))
    first = dt.datetime(2026, 12, 5, 10, 0, 0, 400000, tzinfo=dt.timezone.utc)
    assert world.process(raw, arrival=first).outcome == "applied ACCEPTED"
    world.put_stored(uid, world.stored(uid).replace("PARTSTAT=ACCEPTED;SCHEDULE-STATUS=2.0", "PARTSTAT=DECLINED"))
    before = world.stored(uid)
    copy = raw.replace(b"constructed-1@", b"constructed-2@")
    assert world.process(copy, arrival=first + dt.timedelta(seconds=7)).outcome == "ignored"
    assert world.stored(uid) == before


def test_a_copy_with_the_same_future_stamps_is_not_newer_whatever_its_arrival():
    """Both stamps lie beyond the clock-skew limit, so each is read as its own arrival; a copy
    arriving a second later must still be the same reply (CI found this: the replay test
    failed whenever the two messages were processed in different seconds)."""
    first = AppliedReply(0, "2029-12-02T10:00:00Z", "2029-12-02T10:00:00Z", "2026-12-05T10:00:00Z", "ACCEPTED", "k1")
    copy = AppliedReply(0, "2029-12-02T10:00:00Z", "2029-12-02T10:00:00Z", "2026-12-05T10:00:07Z", "ACCEPTED", "k2")
    assert not newer(copy, first)
    # Different future stamps are still clamped: neither may outrank a reply from the present.
    present = AppliedReply(0, "2026-12-05T10:00:30Z", None, "2026-12-05T10:00:30Z", "DECLINED", "k3")
    assert newer(present, first)
    later_copy = AppliedReply(0, "2099-01-01T00:00:00Z", None, "2026-12-05T10:00:20Z", "ACCEPTED", "k4")
    assert not newer(later_copy, present)


# ------------------------------------------------------------------ recurrence
def test_reply_for_one_instance_creates_the_override(world):
    uid, token = world.new_event(rrule="FREQ=WEEKLY;COUNT=5")
    ics = m.reply_ics(uid, partstat="DECLINED", recurrence_id="20300112T100000Z")
    decision = world.process(m.google(token, ics))
    assert decision.outcome == "applied DECLINED for 20300112T100000Z"
    assert _partstat(world.attendee_line(uid)) == "NEEDS-ACTION"  # the series is unchanged
    override = world.attendee_line(uid, recurrence_id="20300112T100000Z")
    assert _partstat(override) == "DECLINED"
    stored = world.stored(uid)
    assert stored.count("BEGIN:VEVENT") == 2 and stored.count("RRULE") == 1
    assert "DTSTART:20300112T100000Z" in stored and "DTEND:20300112T110000Z" in stored
    # A second reply for the same instance edits that override, no third VEVENT.
    again = m.google(token, m.reply_ics(uid, partstat="ACCEPTED", recurrence_id="20300112T100000Z", sequence=1),
                     message_id="<again@x>")
    assert world.process(again).outcome == "applied ACCEPTED for 20300112T100000Z"
    assert world.stored(uid).count("BEGIN:VEVENT") == 2


def test_recurrence_id_on_a_single_event_is_rejected(world):
    uid, token = world.new_event()
    ics = m.reply_ics(uid, recurrence_id="20300112T100000Z")
    assert world.process(m.google(token, ics)).folder == "Rejected"
    assert world.stored(uid).count("BEGIN:VEVENT") == 1


# ------------------------------------------------------------------ rejected
def test_other_attendee_with_a_valid_token_is_rejected(world):
    uid, token = world.new_event()
    ics = m.reply_ics(uid, attendee="carol@external.test", partstat="DECLINED")
    decision = world.process(m.google(token, ics))
    assert (decision.folder, decision.reason) == ("Rejected", "attendee carol@external.test is not the token's attendee")
    assert _partstat(world.attendee_line(uid, "carol@external.test")) == "NEEDS-ACTION"
    assert len(world.sent) == 1 and "did not apply" in world.sent[0].as_string()


def test_party_crasher_is_never_added(world):
    uid = world.new_event(attendees=("carol@external.test",))[0]
    token = world.tokens.token_for(m.ORGANIZER, "mailto:eve@external.test", uid)
    ics = m.reply_ics(uid, attendee="eve@external.test")
    decision = world.process(m.google(token, ics))
    assert decision.folder == "Rejected" and "party crasher" in decision.reason
    assert "eve@external.test" not in world.stored(uid)


def test_two_attendees_in_a_reply_are_rejected(world):
    uid, token = world.new_event()
    ics = m.reply_ics(uid, extra="ATTENDEE;PARTSTAT=ACCEPTED:mailto:carol@external.test")
    assert "2 VEVENT-level ATTENDEEs" in world.process(m.google(token, ics)).reason


def test_uid_other_than_the_tokens_is_rejected(world):
    uid, token = world.new_event()
    other = world.new_event()[0]
    decision = world.process(m.google(token, m.reply_ics(other)))
    assert decision.folder == "Rejected" and "not the token's UID" in decision.reason
    assert _partstat(world.attendee_line(other)) == "NEEDS-ACTION"


def test_unknown_token_goes_to_unknown(world):
    uid = world.new_event()[0]
    raw = m.google("9b2e6c1a-0000-4000-8000-000000000000", m.reply_ics(uid))
    decision = world.process(raw)
    assert (decision.folder, decision.outcome) == ("Unknown", "unknown token")
    assert world.sent == []


def test_no_token_at_all_is_rejected_without_forward(world):
    uid = world.new_event()[0]
    decision = world.process(m.google(None, m.reply_ics(uid)))
    assert decision.folder == "Rejected" and world.sent == []


def test_oversize_part_is_rejected(world):
    uid, token = world.new_event()
    world.processor.settings.max_itip_bytes = 2048
    ics = m.reply_ics(uid, extra="DESCRIPTION:" + "x" * 3000)
    decision = world.process(m.google(token, ics))
    assert decision.folder == "Rejected" and "exceeds max_itip_bytes 2048" in decision.reason
    assert _partstat(world.attendee_line(uid)) == "NEEDS-ACTION"


def test_too_many_vevents_are_rejected(world):
    uid, token = world.new_event(rrule="FREQ=DAILY")
    world.processor.settings.max_vevents = 3
    ics = m.reply_ics(uid)
    vevent = ics[ics.index("BEGIN:VEVENT"):ics.index("END:VCALENDAR")]
    ics = ics.replace("END:VCALENDAR", vevent * 3 + "END:VCALENDAR")
    assert "4 VEVENTs exceed the limit of 3" in world.process(m.google(token, ics)).reason


def test_stale_sequence_changes_nothing(world):
    uid, token = world.new_event(sequence=3)
    decision = world.process(m.google(token, m.reply_ics(uid, sequence=2)))
    assert (decision.folder, decision.outcome) == ("Rejected", "stale")
    assert _partstat(world.attendee_line(uid)) == "NEEDS-ACTION"


def test_event_deleted_meanwhile(world):
    uid, token = world.new_event()
    world.radicale.client("alice").delete(f"/alice/work/{uid}.ics")
    decision = world.process(m.google(token, m.reply_ics(uid)))
    assert decision.folder == "Rejected" and decision.reason == "the event no longer exists"


def test_organizer_changed_meanwhile(world):
    uid, token = world.new_event()
    world.put_stored(uid, world.stored(uid).replace("ORGANIZER;CN=Alice:mailto:alice@example.test",
                                                    "ORGANIZER:mailto:dave@example.test"))
    decision = world.process(m.google(token, m.reply_ics(uid)))
    assert decision.folder == "Rejected" and "organizer is now dave@example.test" in decision.reason


def test_request_status_failure_changes_no_partstat(world):
    uid, token = world.new_event()
    ics = m.reply_ics(uid, partstat="DECLINED", extra="REQUEST-STATUS:3.7;Invalid calendar user")
    assert world.process(m.google(token, ics)).outcome == "applied SCHEDULE-STATUS 3.7"
    line = world.attendee_line(uid)
    assert _partstat(line) == "NEEDS-ACTION" and "SCHEDULE-STATUS=3.7" in line


def test_own_loop_header_is_dropped(world):
    uid, token = world.new_event()
    raw = m.google(token, m.reply_ics(uid)).replace(b"MIME-Version", b"X-IMIP-Gateway: cal.example.test\r\nMIME-Version", 1)
    decision = world.process(raw)
    assert (decision.folder, decision.outcome) == ("Rejected", "dropped")
    assert _partstat(world.attendee_line(uid)) == "NEEDS-ACTION" and world.sent == []


# ------------------------------------------------------------------ bounces
def test_bounce_sets_schedule_status_5_1_and_is_never_forwarded(world):
    uid, token = world.new_event()
    decision = world.process(m.bounce(token, uid))
    assert (decision.folder, decision.outcome) == ("Processed", "bounce")
    line = world.attendee_line(uid)
    assert "SCHEDULE-STATUS=5.1" in line and _partstat(line) == "NEEDS-ACTION"
    assert world.sent == []


def test_bounce_without_token_is_filed_not_forwarded(world):
    raw = m.bounce("not-a-known-token", "x@example.test")
    decision = world.process(raw)
    assert decision.folder == "Rejected" and decision.outcome == "bounce" and world.sent == []


# ------------------------------------------------------------------ non-iTIP mail and forwards
def test_plain_reply_is_forwarded_once(world):
    _uid, token = world.new_event()
    raw = m.plain(token)
    decision = world.process(raw)
    assert (decision.folder, decision.outcome) == ("Forwarded", "forwarded")
    assert world.process(raw).duplicate
    assert len(world.sent) == 1
    fwd = world.sent[0]
    assert fwd["Subject"] == "Fwd: Re: Planning" and fwd["Message-ID"].startswith("<fwd.")
    assert fwd["In-Reply-To"] == "<constructed-1@external.test>"


def test_ics_without_method_from_a_person_is_not_applied(world):
    uid, token = world.new_event()
    raw = m.single_part(token, m.reply_ics(uid, method=None), method_param=None)
    decision = world.process(raw)
    assert decision.folder == "Forwarded" and _partstat(world.attendee_line(uid)) == "NEEDS-ACTION"


def test_forwards_are_rate_limited_per_organizer(world):
    _uid, token = world.new_event()
    world.processor.settings.forward_limit_per_hour = 2
    for i in range(4):
        world.process(m.plain(token, message_id=f"<p{i}@x>"))
    assert len(world.sent) == 2
    row = world.conn.execute("SELECT COUNT(*) FROM inbound_messages WHERE forward_state = 'suppressed'").fetchone()
    assert row[0] == 2


def test_failed_forward_keeps_the_message_for_the_next_pass(world):
    _uid, token = world.new_event()
    calls = []

    def broken(msg):
        calls.append(msg)
        raise OSError("SMTP down")

    world.processor.send = broken
    first = world.process(m.plain(token))
    assert first.folder == "Forwarded" and not first.ready_to_file
    world.processor.send = world.sent.append
    again = world.process(m.plain(token))
    assert again.ready_to_file and len(world.sent) == 1


# ------------------------------------------------------------------ sender authentication
@pytest.mark.parametrize("policy,results,ok", [
    ("require_dkim_or_spf", ["dkim=pass header.d=external.test; spf=fail smtp.mailfrom=external.test"], True),
    # Two headers of ours (the DKIM milter's and the SPF milter's): both count.
    ("require_dkim_or_spf", ["spf=pass smtp.mailfrom=bob@external.test", "dkim=none"], True),
    ("require_dkim_or_spf", ["dkim=fail header.d=external.test; spf=softfail smtp.mailfrom=external.test"], False),
    # A pass for another domain (someone the invitation was forwarded to answers): not aligned.
    ("require_dkim_or_spf", ["dkim=pass header.d=elsewhere.test; spf=pass smtp.mailfrom=x@elsewhere.test"], False),
    # Relaxed alignment: a parent domain's signature, a subdomain's envelope.
    ("require_dkim_or_spf", ["dkim=pass header.d=mail.external.test"], True),
    ("require_dkim_or_spf", ["dkim=pass header.d=test"], False),
    ("require_dmarc", ["dkim=pass header.d=external.test; spf=pass; dmarc=fail header.from=external.test"], False),
    ("require_dmarc", ["dkim=pass header.d=external.test; dmarc=pass header.from=external.test"], True),
    ("warn", ["dkim=fail; spf=fail"], True),
    ("off", [], True),
])
def test_auth_policy(world, policy, results, ok):
    uid, token = world.new_event()
    world.processor.settings.auth_policy = policy
    headers = "".join(f"Authentication-Results: cal.example.test; {r}\r\n" for r in results)
    # One from another server, with every pass: ignored (only our MTA's verdict counts).
    headers += "Authentication-Results: mx.external.test; dkim=pass header.d=external.test; spf=pass; dmarc=pass\r\n"
    raw = m.google(token, m.reply_ics(uid), auth=None).replace(b"MIME-Version", headers.encode() + b"MIME-Version", 1)
    decision = world.process(raw)
    assert (decision.folder == "Processed") is ok, decision.reason
    if not ok:
        assert decision.folder == "Rejected" and decision.forward_to == m.ORGANIZER.removeprefix("mailto:"), decision


def test_require_policy_without_our_header_rejects(world):
    uid, token = world.new_event()
    world.processor.settings.auth_policy = "require_dkim_or_spf"
    decision = world.process(m.google(token, m.reply_ics(uid), auth=None))
    assert decision.folder == "Rejected" and "no Authentication-Results from cal.example.test" in decision.reason
    assert "aligned with external.test" in decision.reason


@pytest.mark.parametrize("authenticated,attendee,ok", [
    ("external.test", "external.test", True),
    ("EXTERNAL.test.", "external.test", True),
    ("external.test", "lists.external.test", True),
    ("mail.external.test", "external.test", True),
    ("test", "external.test", False),
    ("other.test", "external.test", False),
    ("notexternal.test", "external.test", False),
    ("", "external.test", False),
    ("xn--bcher-kva.example", "bücher.example", True),
    ("xn--bcher-kva.example", "buecher.example", False),
])
def test_alignment(authenticated, attendee, ok):
    assert authres.aligned(authenticated, attendee) is ok


# ------------------------------------------------------------------ concurrency (real 412)
def test_concurrent_edit_gets_412_and_is_re_read(world):
    event_uid, token = world.new_event()
    alice = world.radicale.client("alice")

    class EditingBetweenReadAndWrite(CalDAVEvents):
        edits = 0

        def find(self, organizer, uid):
            found = super().find(organizer, uid)
            if self.edits == 0:  # the organizer saves a new summary right after our read
                self.edits += 1
                alice.put(f"/alice/work/{uid}.ics", found.text.replace("SUMMARY:Planning", "SUMMARY:Moved"))
            return found

    world.processor.events = EditingBetweenReadAndWrite(world.radicale.client(), world.conn)
    assert world.process(m.google(token, m.reply_ics(event_uid))).outcome == "applied ACCEPTED"
    stored = world.stored(event_uid)
    assert "SUMMARY:Moved" in stored and _partstat(world.attendee_line(event_uid)) == "ACCEPTED"


# ------------------------------------------------------------------ log line, secrets
def test_decision_log_line(world, caplog):
    uid, token = world.new_event()
    caplog.set_level("INFO", logger="imip_gateway.inbound")
    world.process(m.google(token, m.reply_ics(uid, attendee="carol@external.test")))
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("inbound message=")]
    assert line == (f"inbound message=<constructed-1@external.test> token={token[:8]}… uid={uid} "
                    f'attendee=bob@external.test outcome=rejected folder=Rejected '
                    f'reason="attendee carol@external.test is not the token\'s attendee"')
    assert token not in line and PASSWORD not in caplog.text


def test_processor_builds_from_settings_only(world, inbound_radicale):
    """A second processor over the same database sees the first one's decisions (durable)."""
    uid, token = world.new_event()
    raw = m.google(token, m.reply_ics(uid))
    assert world.process(raw).outcome == "applied ACCEPTED"
    other = Processor(make_settings(), world.state, world.tokens.lookup, CalDAVEvents(inbound_radicale.client()))
    assert other.process(raw).duplicate
    assert email.message_from_bytes(raw)["Message-ID"] == "<constructed-1@external.test>"
