"""Planning against the real Radicale (our hook configured) and aiosmtpd, through the service:
an event is (organizer, UID), whatever calendar it is in; per-attendee SEQUENCE; a change made
while the first reconciliation pass runs is still mailed."""

import email
import email.policy
import logging
import threading

import icalendar
import pytest
from conftest import CALDAV_PASSWORD, USER_PASSWORD, event_ics, start_radicale, stop_radicale, wait_for

from imip_gateway import db, service
from imip_gateway.caldav_client import CalDAVClient
from imip_gateway.outbound import changes, reconcile, schema, spool
from imip_gateway.tokens import TokenStore

pytestmark = pytest.mark.slow

# Short enough for tests, long enough for the second request of a move (sent right after the first).
GRACE = 3.0


def mailbox(smtp):
    """[(METHOD, recipient, SEQUENCE, SUMMARY)] in arrival order, as the attendees received them."""
    out = []
    for received in smtp.received():
        msg = email.message_from_bytes(received.data, policy=email.policy.default)
        part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
        cal = icalendar.Calendar.from_ical(part.get_payload(decode=True))
        event = cal.walk("VEVENT")[0]
        out.append((str(cal["METHOD"]), received.rcpt_tos[0], int(event["SEQUENCE"]), str(event["SUMMARY"])))
    return out


def settled(conn, smtp, marker: str):
    """The marker's REQUEST arrived and nothing is waiting to be sent: the mailbox is final."""
    def check():
        arrived = any(m[1] == marker for m in mailbox(smtp))
        return arrived and not conn.execute("SELECT count(*) FROM jobs WHERE state = 'pending'").fetchone()[0]
    wait_for(check, timeout=30, what=f"the marker invitation to {marker} and an empty queue")
    return [m for m in mailbox(smtp) if m[1] != marker]


def run_gateway(cfg):
    stop = threading.Event()
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("rc", service.run(cfg, stop)), daemon=True)
    thread.start()

    def finish():
        stop.set()
        thread.join(10)
        assert result.get("rc") == 0
    return finish


@pytest.fixture
def gateway(make_config, smtp_server, radicale, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(changes, "MOVE_GRACE_SECONDS", GRACE, raising=False)
    cfg = make_config(smtp_port=smtp_server.port, caldav_url=radicale.url, spool_dir=radicale.spool_dir)
    finish = run_gateway(cfg)
    home, work = radicale.mkcalendar("alice"), radicale.mkcalendar("alice", "work")
    wait_for(lambda: "imip-gateway started" in caplog.text, what="the service to start")  # logs within setup
    conn = db.connect(cfg.gateway.db_path)
    yield conn, radicale, smtp_server, home, work
    finish()


def test_removing_one_attendee_leaves_the_others_sequence_alone(gateway):
    conn, radicale, smtp, home, _work = gateway
    href = home + "team.ics"
    both = ("bob@external.test", "carol@external.test")
    radicale.put(href, event_ics(uid="team-1", attendees=both))
    wait_for(lambda: len(smtp.received()) == 2, what="the two REQUESTs")
    # Carol is taken off; the client bumps SEQUENCE (as Apple Calendar does).
    radicale.put(href, event_ics(uid="team-1", sequence=1, attendees=("bob@external.test",)))
    radicale.put(home + "marker.ics", event_ics(uid="marker", attendees=("zed@external.test",)))
    received = settled(conn, smtp, "zed@external.test")
    assert sorted(received[:2]) == [("REQUEST", "bob@external.test", 0, "Planning"),
                                    ("REQUEST", "carol@external.test", 0, "Planning")]
    assert [m[:2] for m in received[2:]] == [("CANCEL", "carol@external.test")]   # bob gets nothing
    cancel_sequence = received[2][2]
    assert cancel_sequence >= 1
    # Bob's reply to the SEQUENCE 0 invitation he holds is judged against what he was mailed.
    assert schema.last_sent_sequence(conn, "team-1", "", "mailto:bob@external.test") == 0
    assert schema.last_sent_sequence(conn, "team-1", "", "mailto:carol@external.test") == cancel_sequence
    sequences = {row["attendee"]: row["sequences"] for row in conn.execute("SELECT attendee, sequences FROM jobs")}
    assert all(value for value in sequences.values())


@pytest.mark.parametrize("order", ["put-then-delete", "delete-then-put"])
def test_moving_an_event_between_calendars_cancels_nothing(gateway, order):
    conn, radicale, smtp, home, work = gateway
    text = event_ics(uid="moving-1")
    radicale.put(home + "moving.ics", text)
    wait_for(lambda: len(smtp.received()) == 1, what="the REQUEST")
    if order == "put-then-delete":
        radicale.put(work + "moving.ics", text)
        assert radicale.delete(home + "moving.ics") in (200, 204)
    else:
        assert radicale.delete(home + "moving.ics") in (200, 204)
        radicale.put(work + "moving.ics", text)
    radicale.put(work + "marker.ics", event_ics(uid="marker", attendees=("zed@external.test",)))
    assert settled(conn, smtp, "zed@external.test") == [("REQUEST", "bob@external.test", 0, "Planning")]
    if order == "delete-then-put":
        dropped = conn.execute("SELECT method, state, last_error FROM jobs WHERE method = 'CANCEL'").fetchall()
        assert [tuple(row) for row in dropped] == [("CANCEL", "dropped", "event moved to alice/work")]
    # The event lives on in the new calendar: deleting it there is a real deletion.
    assert radicale.delete(work + "moving.ics") in (200, 204)
    wait_for(lambda: len(mailbox(smtp)) == 3, timeout=30, what="the CANCEL after the real deletion")
    assert mailbox(smtp)[2][:2] == ("CANCEL", "bob@external.test")


def test_move_with_a_change_sends_only_the_update(gateway):
    conn, radicale, smtp, home, work = gateway
    radicale.put(home + "m.ics", event_ics(uid="moving-2"))
    wait_for(lambda: len(smtp.received()) == 1, what="the REQUEST")
    assert radicale.delete(home + "m.ics") in (200, 204)
    radicale.put(work + "m.ics", event_ics(uid="moving-2", start="20300110T140000", end="20300110T150000"))
    radicale.put(work + "marker.ics", event_ics(uid="marker", attendees=("zed@external.test",)))
    (m1, to1, q1, _first), (m2, to2, q2, _second) = settled(conn, smtp, "zed@external.test")
    assert (m1, to1, m2, to2) == ("REQUEST", "bob@external.test", "REQUEST", "bob@external.test") and q2 > q1


def test_recreated_after_the_cancel_went_out_is_a_new_invitation(gateway):
    conn, radicale, smtp, home, work = gateway
    radicale.put(home + "r.ics", event_ics(uid="again-1"))
    wait_for(lambda: len(smtp.received()) == 1, what="the REQUEST")
    assert radicale.delete(home + "r.ics") in (200, 204)
    wait_for(lambda: len(smtp.received()) == 2, timeout=30, what="the CANCEL after the grace period")
    radicale.put(work + "r.ics", event_ics(uid="again-1"))
    wait_for(lambda: len(smtp.received()) == 3, what="the new invitation")
    (m1, s1, q1, _first), (m2, s2, q2, _second), (m3, s3, q3, _third) = mailbox(smtp)
    assert (m1, m2, m3) == ("REQUEST", "CANCEL", "REQUEST") and s1 == s2 == s3 == "bob@external.test"
    assert q1 < q2 < q3  # the new REQUEST supersedes the CANCEL the attendee holds


def test_webdav_move_seen_only_by_reconciliation_cancels_nothing(tmp_path, make_config, smtp_server, caplog,
                                                                 monkeypatch):
    """Radicale 3.9's MOVE does not call the hook: reconciliation sees a removal in one calendar
    and an addition in another. Whether or not it knew the item's href before, no CANCEL."""
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(changes, "MOVE_GRACE_SECONDS", GRACE, raising=False)
    radicale = start_radicale(tmp_path / "dav")
    try:
        home, work = radicale.mkcalendar("alice"), radicale.mkcalendar("alice", "work")
        cfg = make_config(smtp_port=smtp_server.port, caldav_url=radicale.url, spool_dir=radicale.spool_dir,
                          reconcile_seconds=1)
        finish = run_gateway(cfg)
        conn = db.connect(cfg.gateway.db_path)

        def passes():
            return caplog.text.count("reconcile: 2 calendars")
        wait_for(passes, timeout=20, what="the baseline")
        radicale.put(home + "known.ics", event_ics(uid="known"))            # its href is learnt first
        wait_for(lambda: len(smtp_server.received()) == 1, what="the first REQUEST")
        seen = passes()
        wait_for(lambda: passes() >= seen + 2, timeout=20, what="reconciliation to see the event")
        radicale.put(home + "fresh.ics", event_ics(uid="fresh", attendees=("carl@external.test",)))
        wait_for(lambda: len(smtp_server.received()) == 2, what="the second REQUEST")
        for name in ("known.ics", "fresh.ics"):
            status, _headers, body = radicale.request("MOVE", home + name, "alice", USER_PASSWORD,
                                                      headers={"Destination": radicale.url.rstrip("/") + work + name})
            assert status == 201, body
        seen = passes()
        wait_for(lambda: passes() >= seen + 2, timeout=20, what="reconciliation after the MOVEs")
        radicale.put(work + "marker.ics", event_ics(uid="marker", attendees=("zed@external.test",)))
        assert sorted(settled(conn, smtp_server, "zed@external.test")) == [
            ("REQUEST", "bob@external.test", 0, "Planning"), ("REQUEST", "carl@external.test", 0, "Planning")]
        # No stale copy is left behind to swallow a real deletion in the new calendar.
        assert radicale.delete(work + "fresh.ics") in (200, 204)
        wait_for(lambda: len(mailbox(smtp_server)) == 4, timeout=30, what="the CANCEL after the real deletion")
        assert mailbox(smtp_server)[3][:2] == ("CANCEL", "carl@external.test")
        finish()
    finally:
        stop_radicale(radicale)


def test_a_change_during_the_baseline_pass_is_still_mailed(tmp_path, make_config, radicale):
    """The hook records a new event; the first reconciliation pass reads it before the gateway
    has taken the hook's record: the baseline must not count it as already seen."""
    home = radicale.mkcalendar("alice")
    radicale.put(home + "race.ics", event_ics(uid="race-1"))
    cfg = make_config(smtp_port=25, caldav_url=radicale.url, spool_dir=radicale.spool_dir)
    conn = db.connect(cfg.gateway.db_path)
    caldav = CalDAVClient(cfg.caldav.url, cfg.caldav.user, CALDAV_PASSWORD)
    reconcile.run_once(conn, caldav)                 # the baseline, before the spool is read
    assert spool.ingest(conn, cfg.gateway.spool_dir) == 1
    changes.process_pending(conn, cfg)
    jobs = conn.execute("SELECT method, attendee FROM jobs").fetchall()
    assert [tuple(job) for job in jobs] == [("REQUEST", "mailto:bob@external.test")]
    # A later pass finds nothing new: the hook's change and the stored item are one.
    reconcile.run_once(conn, caldav)
    assert changes.process_pending(conn, cfg) == 0
    caldav.close()
    assert TokenStore(conn).lookup(conn.execute("SELECT token FROM jobs").fetchone()[0]).expired is False


@pytest.mark.parametrize("baseline_done", [True, False])
def test_move_before_reconciliation_learnt_the_href(tmp_path, make_config, radicale, baseline_done):
    """The hook tells the point, never the href: an event MOVEd before any reconciliation pass
    read it leaves a snapshot behind that no removal names. It must not pass for "the owner still
    has this event" when the moved event is deleted for real. (Steps driven by hand, in order.)"""
    home, work = radicale.mkcalendar("alice"), radicale.mkcalendar("alice", "work")
    cfg = make_config(smtp_port=25, caldav_url=radicale.url, spool_dir=radicale.spool_dir)
    conn = db.connect(cfg.gateway.db_path)
    caldav = CalDAVClient(cfg.caldav.url, cfg.caldav.user, CALDAV_PASSWORD)

    def gateway_round():
        spool.ingest(conn, cfg.gateway.spool_dir)
        changes.process_pending(conn, cfg)
        return [tuple(row) for row in conn.execute("SELECT method, attendee, state FROM jobs ORDER BY created")]

    if baseline_done:
        reconcile.run_once(conn, caldav)
    radicale.put(home + "mv.ics", event_ics(uid="mv-1"))
    assert gateway_round() == [("REQUEST", "mailto:bob@external.test", "pending")]
    status, _headers, body = radicale.request("MOVE", home + "mv.ics", "alice", USER_PASSWORD,
                                              headers={"Destination": radicale.url.rstrip("/") + work + "mv.ics"})
    assert status == 201, body
    reconcile.run_once(conn, caldav)
    assert gateway_round() == [("REQUEST", "mailto:bob@external.test", "pending")]
    assert radicale.delete(work + "mv.ics") in (200, 204)
    assert gateway_round()[1:] == [("CANCEL", "mailto:bob@external.test", "pending")]
    caldav.close()
