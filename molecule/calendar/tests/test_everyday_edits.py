"""What organizers do every day must never stop or undo invitations: an attendee removed, an
internationalized address beside an ASCII one, an event moved to another of the organizer's
calendars; and what an operator relies on: one gateway per state directory, a status that says
when reconciliation has not run. Driven through the lab's real clients (CalDAV on aio, the
attendee's Maildir and MTA on ext)."""

import shlex

from imip_lab_client import (GATEWAY, event_ics, gateway_status, itip_for, new_uid, partstat, reply_message,
                             send_from_ext, sequence_of, token_address, tomorrow, wait_for)

ALICE = "alice@example.test"
ATTENDEE = "attendee@external.test"
OTHER = "other@external.test"
IDN_ATTENDEE = "jörg@bücher.example"
DB = "/var/lib/imip-gateway/gateway.db"


def methods(ext, address, uid):
    return [str(cal["METHOD"]) for _message, cal in itip_for(ext, address, uid)]


def run(host, command):
    result = host.run(command)
    assert result.rc == 0, f"{command}: {result.stderr}"
    return result.stdout


def test_removing_one_attendee_leaves_the_others_reply_valid(calendar_of, aio, ext):
    """The CANCEL to the removed attendee must not make the one who stays look stale: they answer
    the invitation they hold (SEQUENCE of their REQUEST) and the answer is applied."""
    uid = new_uid()
    cal = calendar_of(ALICE)
    cal.save_event(event_ics(uid, ALICE, [ATTENDEE, OTHER], tomorrow(7)))
    held = wait_for("the REQUEST to the attendee who stays", lambda: itip_for(ext, ATTENDEE, uid))[-1][1]
    wait_for("the REQUEST to the one who goes", lambda: itip_for(ext, OTHER, uid))
    event = cal.event_by_uid(uid)
    event.data = event_ics(uid, ALICE, [ATTENDEE], tomorrow(7), sequence=1)
    event.save()
    wait_for("the CANCEL to the removed attendee", lambda: "CANCEL" in methods(ext, OTHER, uid))
    assert "CANCEL" not in methods(ext, ATTENDEE, uid)

    reply = reply_message(uid, token_address(held), ATTENDEE, "ACCEPTED", sequence_of(held))
    send_from_ext(ext, reply, ATTENDEE)
    wait_for("PARTSTAT=ACCEPTED for the attendee who stayed",
             lambda: partstat(calendar_of(ALICE), uid, ATTENDEE) == "ACCEPTED", timeout=90)


def test_an_internationalized_attendee_does_not_stop_the_queue(calendar_of, aio, ext):
    """jörg@bücher.example beside an ASCII attendee: the ASCII one and the next event's attendee
    still get their invitations, and no job stays pending."""
    first, second = new_uid(), new_uid()
    cal = calendar_of(ALICE)
    cal.save_event(event_ics(first, ALICE, [IDN_ATTENDEE, ATTENDEE], tomorrow(8)))
    cal.save_event(event_ics(second, ALICE, [OTHER], tomorrow(8)))
    wait_for("the ASCII attendee's REQUEST", lambda: itip_for(ext, ATTENDEE, first), timeout=90)
    wait_for("the next event's REQUEST", lambda: itip_for(ext, OTHER, second), timeout=90)
    status = wait_for("an empty queue", lambda: gateway_status(aio)["outbound"],
                      until=lambda out: out["queue_depth"] == 0)
    assert status["oldest_pending"] is None


def test_moving_an_event_to_another_calendar_cancels_nothing(calendar_of, aio, ext):
    """A client moves an event by a PUT in the new calendar and a DELETE in the old one; the
    attendee keeps the event. The update that follows arrives, and no CANCEL came before it (jobs
    for one event and attendee leave in order)."""
    uid = new_uid()
    work = calendar_of(ALICE)
    principal = work.client.principal()
    others = [c for c in principal.calendars() if c.url.path.rstrip("/").endswith("/private")]
    private = others[0] if others else principal.make_calendar(name="private", cal_id="private")
    work.save_event(event_ics(uid, ALICE, [ATTENDEE], tomorrow(11)))
    wait_for("the REQUEST", lambda: itip_for(ext, ATTENDEE, uid))

    private.save_event(event_ics(uid, ALICE, [ATTENDEE], tomorrow(11)))
    work.event_by_uid(uid).delete()
    moved = private.event_by_uid(uid)
    moved.data = event_ics(uid, ALICE, [ATTENDEE], tomorrow(16), sequence=2)
    moved.save()
    wait_for("the update from the new calendar", lambda: len(itip_for(ext, ATTENDEE, uid)) >= 2, timeout=120)
    assert methods(ext, ATTENDEE, uid) == ["REQUEST", "REQUEST"]


def test_a_second_gateway_on_the_same_state_directory_is_refused(aio):
    result = aio.run(f"timeout 60 {GATEWAY} run")
    assert result.rc not in (0, 124), "a second gateway ran beside the unit"
    pid = run(aio, "systemctl show -P MainPID imip-gateway").strip()
    assert "another imip-gateway" in result.stderr and pid in result.stderr, result.stderr
    assert aio.run("systemctl is-active imip-gateway").stdout.strip() == "active"


def test_status_says_when_reconciliation_has_not_run(aio):
    """A gateway whose last reconciliation is days old: `imip-gateway status` fails and says so;
    after the service's next pass it is healthy again."""
    python = GATEWAY.rsplit("/", 1)[0] + "/python"
    aged = ("import sqlite3, time; c = sqlite3.connect(%r); "
            "c.execute(\"UPDATE meta SET value = ? WHERE key = 'reconcile.last_run'\", (repr(time.time() - 86400),)); "
            "c.commit()" % DB)
    run(aio, "systemctl stop imip-gateway")
    try:
        run(aio, f"runuser -u imip-gateway -- {python} -c {shlex.quote(aged)}")
        result = aio.run(f"{GATEWAY} status")
        assert result.rc != 0
        line = next(line for line in result.stdout.splitlines() if "reconciliation" in line)
        assert "✖" in line, result.stdout
    finally:
        run(aio, "systemctl start imip-gateway")
    wait_for("a fresh reconciliation", lambda: aio.run(f"{GATEWAY} status").rc == 0, timeout=90, interval=2)
