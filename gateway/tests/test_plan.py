"""Diffing old and new versions of an event into REQUEST/CANCEL per external attendee."""

import datetime as dt

import pytest
from conftest import event_ics

from imip_gateway.ical import parse_calendar
from imip_gateway.outbound.plan import plan_change
from imip_gateway.outbound.recipients import LOCAL, Policy

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)
POLICY = Policy(is_local=lambda a: a.split("@")[-1] in ("example.test",), opt_out_users=("carol",))


def plan(old, new, owner="alice", policy=POLICY, now=NOW):
    return plan_change(parse_calendar(old) if old else None, parse_calendar(new) if new else None,
                       policy=policy, owner=owner, now=now, suppression_days=7)


def actions(p):
    return [(a.method, a.attendee, a.keys, a.reason) for a in p.actions]


RRULE = "RRULE:FREQ=WEEKLY;COUNT=10"
OVERRIDE = """BEGIN:VEVENT
UID:evt-1
DTSTAMP:20260101T000000Z
RECURRENCE-ID;TZID=Europe/Berlin:20300117T100000
DTSTART;TZID=Europe/Berlin:20300117T120000
DTEND;TZID=Europe/Berlin:20300117T130000
SUMMARY:Planning (moved)
ORGANIZER;CN=Alice Example:mailto:alice@example.test
ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:bob@external.test
{extra}END:VEVENT"""
RID = "20300117T090000Z"


def test_new_event_invites_only_external_attendees():
    new = event_ics(attendees=("bob@external.test", "dave@example.test", "Eve@Other.Test"))
    assert actions(plan(None, new)) == [
        ("REQUEST", "mailto:bob@external.test", ("",), "new attendee"),
        ("REQUEST", "mailto:eve@other.test", ("",), "new attendee"),
    ]


def test_local_attendees_are_planned_for_their_copies_and_opted_out_ones_skipped():
    """Policy(audience=LOCAL): the same decisions for colleagues (their copies, outbound.local);
    carol is in opt_out_users (her client schedules), the organizer is never her own attendee."""
    local = Policy(is_local=POLICY.is_local, opt_out_users=POLICY.opt_out_users, audience=LOCAL)
    old = event_ics(attendees=("bob@external.test", "dave@example.test", "carol@example.test"))
    new = event_ics(attendees=("bob@external.test", "dave@example.test", "carol@example.test", "Fay@Example.Test"))
    assert actions(plan(None, new, policy=local)) == [
        ("REQUEST", "mailto:dave@example.test", ("",), "new attendee"),
        ("REQUEST", "mailto:fay@example.test", ("",), "new attendee"),
    ]
    assert actions(plan(old, new, policy=local)) == [("REQUEST", "mailto:fay@example.test", ("",), "new attendee")]
    assert actions(plan(new, None, policy=local)) == [
        ("CANCEL", "mailto:dave@example.test", ("",), "deleted"),
        ("CANCEL", "mailto:fay@example.test", ("",), "deleted"),
    ]
    # A colleague's copy in their own calendar plans nothing, for them or anyone.
    assert plan(None, new, owner="dave", policy=local).skipped.startswith("a copy in dave's calendar")


def test_new_attendee_gets_request_others_nothing():
    old = event_ics(attendees=("bob@external.test",))
    new = event_ics(attendees=("bob@external.test", "carl@external.test"))
    assert actions(plan(old, new)) == [("REQUEST", "mailto:carl@external.test", ("",), "new attendee")]


def test_removed_attendee_gets_cancel():
    old = event_ics(attendees=("bob@external.test", "carl@external.test"))
    new = event_ics(attendees=("bob@external.test",))
    assert actions(plan(old, new)) == [("CANCEL", "mailto:carl@external.test", ("",), "removed")]


@pytest.mark.parametrize("change", [
    {"start": "20300110T120000", "end": "20300110T130000"},
    {"summary": "Planning, room changed"},
    {"extra": "LOCATION:Room 2"},
    {"extra": RRULE},
])
def test_significant_change_updates_everyone(change):
    old = event_ics(attendees=("bob@external.test", "carl@external.test"))
    new = event_ics(attendees=("bob@external.test", "carl@external.test"), **change)
    p = plan(old, new)
    assert actions(p) == [("REQUEST", "mailto:bob@external.test", ("",), "updated"),
                          ("REQUEST", "mailto:carl@external.test", ("",), "updated")]
    assert p.significant_keys == {""}


def test_exdate_change_is_significant():
    old = event_ics(extra=RRULE)
    new = event_ics(extra=RRULE + "\nEXDATE;TZID=Europe/Berlin:20300124T100000")
    assert actions(plan(old, new)) == [("REQUEST", "mailto:bob@external.test", ("",), "updated")]


@pytest.mark.parametrize("extra_new", [
    "",  # only PARTSTAT below
    "X-MOZ-GENERATION:4",
    "BEGIN:VALARM\nACTION:DISPLAY\nTRIGGER:-PT5M\nDESCRIPTION:x\nEND:VALARM",
])
def test_partstat_schedule_status_xprops_alarms_change_nothing(extra_new):
    old = event_ics(attendees=("bob@external.test",))
    new = event_ics(attendees=("bob@external.test;SCHEDULE-STATUS=1.2",), extra=extra_new).replace(
        "PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED")
    p = plan(old, new)
    assert p.skipped is None and actions(p) == []


def test_delete_sends_cancel_from_old_version():
    old = event_ics(attendees=("bob@external.test", "dave@example.test"))
    p = plan(old, None)
    assert actions(p) == [("CANCEL", "mailto:bob@external.test", ("",), "deleted")]
    assert p.actions[0].source == "old"


def test_status_cancelled_sends_cancel_once():
    old = event_ics()
    cancelled = event_ics(status="CANCELLED", sequence=1)
    assert actions(plan(old, cancelled)) == [("CANCEL", "mailto:bob@external.test", ("",), "cancelled")]
    # Deleting it afterwards, or editing the cancelled event, mails nothing more.
    assert actions(plan(cancelled, None)) == []
    assert actions(plan(cancelled, event_ics(status="CANCELLED", sequence=1, summary="x"))) == []


def test_override_change_and_new_override_are_updates():
    base = event_ics(extra=RRULE)
    with_override = event_ics(extra=RRULE, overrides=OVERRIDE.format(extra=""))
    p = plan(base, with_override)
    assert actions(p) == [("REQUEST", "mailto:bob@external.test", ("", RID), "updated")]
    assert RID in p.significant_keys
    moved_again = with_override.replace("20300117T120000", "20300117T140000")
    assert actions(plan(with_override, moved_again)) == [
        ("REQUEST", "mailto:bob@external.test", ("", RID), "updated")]


def test_attendee_removed_from_one_instance_gets_instance_cancel():
    with_override = event_ics(extra=RRULE, overrides=OVERRIDE.format(extra=""))
    without = with_override.replace(
        "SUMMARY:Planning (moved)\r\nORGANIZER;CN=Alice Example:mailto:alice@example.test\r\n"
        "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:bob@external.test",
        "SUMMARY:Planning (moved)\r\nORGANIZER;CN=Alice Example:mailto:alice@example.test")
    assert without != with_override
    assert actions(plan(with_override, without)) == [
        ("CANCEL", "mailto:bob@external.test", (RID,), "instance removed")]


def test_instance_cancelled_sends_instance_cancel():
    with_override = event_ics(extra=RRULE, overrides=OVERRIDE.format(extra=""))
    cancelled = event_ics(extra=RRULE, overrides=OVERRIDE.format(extra="STATUS:CANCELLED\n"))
    assert ("CANCEL", "mailto:bob@external.test", (RID,), "instance cancelled") in actions(
        plan(with_override, cancelled))


def test_only_local_attendees_sends_nothing():
    p = plan(None, event_ics(attendees=("dave@example.test",)))
    assert p.actions == [] and p.skipped is None


def test_external_organizer_sends_nothing():
    p = plan(None, event_ics(organizer="boss@external.test", attendees=("bob@external.test",)))
    assert p.actions == [] and p.skipped == "organizer boss@external.test is not a local user"


def test_no_organizer_is_a_personal_event():
    text = event_ics().replace("ORGANIZER;CN=Alice Example:mailto:alice@example.test\r\n", "")
    assert plan(None, text).skipped.startswith("no ORGANIZER")


@pytest.mark.parametrize("agent,sent", [("", True), (";SCHEDULE-AGENT=SERVER", True),
                                        (";SCHEDULE-AGENT=CLIENT", False), (";SCHEDULE-AGENT=NONE", False),
                                        (";SCHEDULE-AGENT=X-UNKNOWN", False)])
def test_attendee_schedule_agent(agent, sent):
    p = plan(None, event_ics(attendees=("bob@external.test" + agent,)))
    assert bool(p.actions) is sent


def test_opt_out_by_organizer_schedule_agent_client():
    p = plan(None, event_ics(organizer_params=";CN=Alice Example;SCHEDULE-AGENT=CLIENT"))
    assert p.actions == [] and "SCHEDULE-AGENT=CLIENT" in p.skipped


def test_only_the_organizers_own_calendar_sends():
    assert actions(plan(None, event_ics(), owner="alice@example.test"))
    assert actions(plan(None, event_ics(), owner="Alice"))
    copy = plan(None, event_ics(), owner="dave")  # a local attendee's copy of alice's event
    assert copy.actions == [] and copy.skipped == "a copy in dave's calendar, not the organizer's (alice@example.test)"


@pytest.mark.parametrize("owner,organizer", [("carol", "carol@example.test"), ("carol@example.test", "carol@example.test")])
def test_opt_out_by_config_list(owner, organizer):
    p = plan(None, event_ics(organizer=organizer), owner=owner)
    assert p.actions == [] and p.skipped.startswith("opted out in opt_out_users")


def test_long_past_events_are_suppressed():
    past = event_ics(start="20260501T100000", end="20260501T110000")   # a month before NOW
    recent = event_ics(start="20260528T100000", end="20260528T110000")  # 4 days before NOW
    assert plan(None, past).skipped == "event ended more than 7 days ago"
    assert plan(past, None).skipped == "event ended more than 7 days ago"
    assert actions(plan(None, recent))
    # A series that started long ago but recurs forever, or until after now, is not past.
    assert actions(plan(None, event_ics(start="20200101T100000", end="20200101T110000",
                                        extra="RRULE:FREQ=WEEKLY")))
    assert actions(plan(None, event_ics(start="20200101T100000", end="20200101T110000",
                                        extra="RRULE:FREQ=WEEKLY;UNTIL=20270101T000000Z")))
    assert plan(None, event_ics(start="20200101T100000", end="20200101T110000",
                                extra="RRULE:FREQ=WEEKLY;COUNT=3")).skipped == "event ended more than 7 days ago"
