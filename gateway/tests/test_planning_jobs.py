"""From a recorded change to queued jobs (the database only, no network): the planned order of
one change's jobs, what the mailed copy asks of the attendees, and how long reply tokens live."""

import datetime as dt
import time

import icalendar
import pytest
from conftest import event_ics

from imip_gateway import db
from imip_gateway.outbound import changes
from imip_gateway.tokens import TokenStore

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.timezone.utc)
DAY = 86400
RRULE = "RRULE:FREQ=WEEKLY;COUNT=10"
OVERRIDE = """BEGIN:VEVENT
UID:evt-1
DTSTAMP:20260101T000000Z
RECURRENCE-ID;TZID=Europe/Berlin:20300117T100000
DTSTART;TZID=Europe/Berlin:20300117T120000
DTEND;TZID=Europe/Berlin:20300117T130000
SUMMARY:Planning (moved)
{status}ORGANIZER;CN=Alice Example:mailto:alice@example.test
ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:bob@external.test
END:VEVENT"""


@pytest.fixture
def env(make_config):
    cfg = make_config(smtp_port=25)
    conn = db.connect(cfg.gateway.db_path)
    counter = iter(range(1, 10000))

    def record(old, new, *, point="alice/calendar"):
        kind = "delete" if new is None else "upsert"
        change_id = f"{time.time_ns()}-{next(counter):04d}"
        conn.execute("INSERT INTO changes (id, source, received, type, point, uid, content_type, old_content,"
                     " new_content, actor) VALUES (?, 'hook', ?, ?, ?, 'evt-1', 'VCALENDAR', ?, ?, 'alice')",
                     (change_id, time.time(), kind, point, old, new))
        changes.process_pending(conn, cfg, now=NOW.timestamp())
        return conn.execute("SELECT * FROM jobs WHERE change_id = ? ORDER BY position", (change_id,)).fetchall()
    return cfg, conn, record


def attendee_params(job, address):
    event = icalendar.Calendar.from_ical(job["calendar"]).walk("VEVENT")[0]
    prop = next(a for a in event["ATTENDEE"] if str(a).lower() == "mailto:" + address)
    return {k: str(v) for k, v in prop.params.items()}


def test_jobs_keep_the_planned_order_series_request_before_instance_cancel(env):
    _cfg, _conn, record = env
    v1 = event_ics(attendees=("bob@external.test", "carl@external.test"), extra=RRULE,
                   overrides=OVERRIDE.format(status=""))
    record(None, v1)
    # One save: the series moves an hour and the 17th is cancelled.
    v2 = event_ics(attendees=("bob@external.test", "carl@external.test"), extra=RRULE,
                   start="20300110T110000", end="20300110T120000",
                   overrides=OVERRIDE.format(status="STATUS:CANCELLED\n"))
    jobs = record(v1, v2)
    assert [(j["position"], j["method"], j["attendee"], j["reason"]) for j in jobs] == [
        (0, "REQUEST", "mailto:bob@external.test", "updated"),
        (1, "CANCEL", "mailto:bob@external.test", "instance cancelled"),
        (2, "REQUEST", "mailto:carl@external.test", "updated")]
    assert len({j["created"] for j in jobs}) == 1  # only the position tells them apart


def test_request_asks_for_a_reply_and_a_significant_change_asks_again(env):
    _cfg, conn, record = env
    v1 = event_ics(attendees=("bob@external.test;CN=Bob", "carl@external.test"),
                   extra="ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:dave@example.test").replace(";RSVP=TRUE", "")
    first = record(None, v1)
    assert attendee_params(first[0], "bob@external.test")["RSVP"] == "TRUE"
    # Bob accepted, carl declined (written back into alice's event); then alice renames it.
    answered = v1.replace("PARTSTAT=NEEDS-ACTION;CN=Bob", "PARTSTAT=ACCEPTED;CN=Bob").replace(
        "PARTSTAT=NEEDS-ACTION:mailto:carl", "PARTSTAT=DECLINED:mailto:carl")
    assert record(v1, answered) == []
    renamed = answered.replace("SUMMARY:Planning", "SUMMARY:Planning, new room")
    updates = record(answered, renamed)
    assert [j["attendee"] for j in updates] == ["mailto:bob@external.test", "mailto:carl@external.test"]
    for job in updates:
        for address in ("bob@external.test", "carl@external.test"):
            params = attendee_params(job, address)
            assert (params["PARTSTAT"], params["RSVP"]) == ("NEEDS-ACTION", "TRUE")
    # The local attendee is not asked by us; the organizer's stored event is not rewritten.
    assert "RSVP" not in attendee_params(updates[0], "dave@example.test")
    stored = conn.execute("SELECT content FROM snapshots WHERE uid = 'evt-1'").fetchone()["content"]
    assert stored == renamed and "PARTSTAT=ACCEPTED;CN=Bob" in stored
    # A change that is not significant (a new attendee) asks nobody else again.
    joined = renamed.replace("END:VEVENT", "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:erin@external.test\r\nEND:VEVENT")
    invited = record(renamed, joined)
    assert [j["attendee"] for j in invited] == ["mailto:erin@external.test"]
    assert attendee_params(invited[0], "bob@external.test")["PARTSTAT"] == "ACCEPTED"
    assert attendee_params(invited[0], "erin@external.test")["RSVP"] == "TRUE"


@pytest.mark.parametrize("extra,lives_until", [
    ("RRULE:FREQ=WEEKLY", None),                                   # open-ended: while the event exists
    # the last Thursday before UNTIL, 11:00 in Berlin
    ("RRULE:FREQ=WEEKLY;UNTIL=20310101T000000Z", dt.datetime(2030, 12, 26, 10, tzinfo=dt.timezone.utc)),
    ("", dt.datetime(2030, 1, 10, 10, tzinfo=dt.timezone.utc)),    # one-off: from its end
])
def test_reply_tokens_live_as_long_as_the_event(env, extra, lives_until):
    cfg, conn, record = env
    token = record(None, event_ics(extra=extra))[0]["token"]
    ttl = cfg.gateway.token_ttl_days * DAY
    end = lives_until.timestamp() + ttl if lives_until else NOW.timestamp() + 100 * 365 * DAY
    store = TokenStore(conn)
    with db.transaction(conn):
        store.expire(end - DAY, cfg.gateway.token_ttl_days)
    assert store.lookup(token).expired is False
    with db.transaction(conn):
        store.expire(end + DAY, cfg.gateway.token_ttl_days)
    assert store.lookup(token).expired is (lives_until is not None)


def test_cancelled_series_token_counts_from_the_cancel(env):
    cfg, conn, record = env
    series = event_ics(extra="RRULE:FREQ=WEEKLY")
    token = record(None, series)[0]["token"]
    assert [j["method"] for j in record(series, None)] == ["CANCEL"]
    store = TokenStore(conn, ttl_days=cfg.gateway.token_ttl_days,
                       clock=lambda: NOW.timestamp() + (cfg.gateway.token_ttl_days + 1) * DAY)
    assert store.lookup(token).expired is True


def test_moved_series_keeps_its_reply_tokens(env):
    """DELETE in one calendar, then PUT in another: the waiting CANCEL is dropped, and the
    attendee's token lives on with the open-ended series."""
    cfg, conn, record = env
    series = event_ics(extra="RRULE:FREQ=WEEKLY")
    token = record(None, series)[0]["token"]
    assert [j["method"] for j in record(series, None)] == ["CANCEL"]
    assert record(None, series, point="alice/work") == []
    states = [tuple(r) for r in conn.execute("SELECT method, state, last_error FROM jobs ORDER BY rowid")]
    assert states[1] == ("CANCEL", "dropped", "event moved to alice/work")
    years_later = TokenStore(conn, ttl_days=cfg.gateway.token_ttl_days, clock=lambda: NOW.timestamp() + 3650 * DAY)
    assert years_later.lookup(token).expired is False
