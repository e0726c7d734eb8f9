"""Colleagues on the same site: a local organizer's event reaches each local attendee's own
calendar and follows the organizer's edits, and the attendee's answer in their copy reaches the
organizer's event, through the real Radicale (hook, rights as the calendar role writes them) and
the gateway service; external attendees are mailed as before.

bob and carol are local users (example.test); bob has logged in once (his calendar home exists),
carol has a home but no calendar yet, and dave never logged in."""

import email
import email.policy
import logging

import icalendar
import pytest
from conftest import CALDAV_PASSWORD, INVITE_USER, SECRETS, USER_PASSWORD, event_ics, running_service, wait_for

from imip_gateway import attendee_copies, db, status
from imip_gateway.inbound.service import InboundService
from imip_gateway.outbound import changes, refresh, replies

pytestmark = pytest.mark.slow


@pytest.fixture
def site(make_config, smtp_server, radicale, caplog, monkeypatch):
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(changes, "MOVE_GRACE_SECONDS", 2.0)
    # erin answers with her own client (opt_out_users): the gateway sends no REPLY for her.
    cfg = make_config(smtp_port=smtp_server.port, caldav_url=radicale.url, spool_dir=radicale.spool_dir,
                      extra_gateway="opt_out_users = erin")
    organizer = radicale.mkcalendar("alice")
    radicale.mkcalendar("bob", "work")
    # carol's first login makes her principal collection, nothing else.
    status, _headers, _body = radicale.request("PROPFIND", "/carol/", "carol", USER_PASSWORD, headers={"Depth": "0"})
    assert status == 207
    with running_service(cfg):
        yield cfg, radicale, smtp_server, organizer
    for secret in SECRETS:
        assert secret not in caplog.text


def copies_of(radicale, user, uid):
    """{href: VEVENT components} of `uid` in every calendar of `user`, read as that user."""
    status, _headers, body = radicale.request("PROPFIND", f"/{user}/", user, USER_PASSWORD, headers={"Depth": "1"})
    if status != 207:
        return {}
    found = {}
    for collection in sorted(set(part.split("</")[0] for part in body.decode().split("<href>")[1:])):
        if collection.rstrip("/") == f"/{user}":
            continue
        status, _headers, listing = radicale.request("PROPFIND", collection, user, USER_PASSWORD, headers={"Depth": "1"})
        for href in set(part.split("</")[0] for part in listing.decode().split("<href>")[1:]):
            if href.endswith(".ics"):
                calendar = icalendar.Calendar.from_ical(radicale.get(href, user=user))
                components = [c for c in calendar.walk("VEVENT") if str(c["UID"]) == uid]
                if components:
                    found[href] = components
    return found


def partstat(component, address):
    for prop in component.get("ATTENDEE", []) if isinstance(component.get("ATTENDEE"), list) else [component["ATTENDEE"]]:
        if str(prop).lower() == "mailto:" + address:
            return str(prop.params.get("PARTSTAT"))
    return None


def organizers_view(radicale, href, address):
    """(PARTSTAT, SCHEDULE-STATUS) of `address` on alice's event."""
    event = icalendar.Calendar.from_ical(radicale.get(href)).walk("VEVENT")[0]
    for prop in event.get("ATTENDEE"):
        if str(prop).lower() == "mailto:" + address:
            return str(prop.params.get("PARTSTAT")), prop.params.get("SCHEDULE-STATUS")
    return None


def rows(cfg):
    conn = db.connect(cfg.gateway.db_path)
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM local_deliveries ORDER BY created, position")]
    finally:
        conn.close()


def test_a_local_attendee_gets_the_event_and_it_follows_the_organizers_edits(site):
    cfg, radicale, smtp, organizer = site
    href = organizer + "team.ics"
    attendees = ("bob@example.test", "carol@example.test", "ext@external.test")
    radicale.put(href, event_ics(uid="team-1", attendees=attendees))

    # bob's copy in his calendar `work`; carol's in a calendar made for her; the outsider mailed.
    bob = wait_for(lambda: copies_of(radicale, "bob", "team-1"), what="bob's copy")
    carol = wait_for(lambda: copies_of(radicale, "carol", "team-1"), what="carol's copy")
    assert list(bob) and list(bob)[0].startswith("/bob/work/")
    assert list(carol) and list(carol)[0].startswith("/carol/calendar/")
    wait_for(lambda: len(smtp.received()) == 1, what="the outsider's REQUEST")
    assert smtp.received()[0].rcpt_tos == ["ext@external.test"]
    (copy,) = list(bob.values())[0]
    assert str(copy["ORGANIZER"]).lower() == "mailto:alice@example.test"
    assert partstat(copy, "bob@example.test") == "NEEDS-ACTION"
    assert "METHOD" not in icalendar.Calendar.from_ical(radicale.get(list(bob)[0], user="bob"))

    # bob accepts in his own copy (his client's PUT): alice's event shows it, nobody is mailed.
    bob_href = list(bob)[0]
    radicale.put(bob_href, radicale.get(bob_href, user="bob").replace(
        "PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@example.test", "PARTSTAT=ACCEPTED:mailto:bob@example.test"),
        user="bob")
    assert partstat(copies_of(radicale, "bob", "team-1")[bob_href][0], "bob@example.test") == "ACCEPTED"
    wait_for(lambda: organizers_view(radicale, href, "bob@example.test") == ("ACCEPTED", "2.0"),
             what="bob's answer on alice's event")
    assert organizers_view(radicale, href, "carol@example.test") == ("NEEDS-ACTION", None)
    # carol's copy shows bob's answer, as other clients show the attendee list; hers is untouched.
    carol_href = next(iter(carol))
    wait_for(lambda: partstat(copies_of(radicale, "carol", "team-1")[carol_href][0], "bob@example.test") == "ACCEPTED",
             what="bob's answer on carol's copy")
    assert partstat(copies_of(radicale, "carol", "team-1")[carol_href][0], "carol@example.test") == "NEEDS-ACTION"
    assert [r["reason"] for r in rows(cfg) if r["attendee"] == "mailto:bob@example.test"] == ["new attendee", "answered"]
    assert len(smtp.received()) == 1

    # Another attendee added (fay, who never logged in): nothing changes for bob, as no mail
    # would go to an external attendee for it; his answer stays.
    radicale.put(href, event_ics(uid="team-1", attendees=attendees + ("fay@example.test",)))
    wait_for(lambda: any(r["attendee"] == "mailto:fay@example.test" and r["state"] != "pending" for r in rows(cfg)),
             what="fay's copy tried")
    assert [r["reason"] for r in rows(cfg) if r["attendee"] == "mailto:bob@example.test" and r["method"] != "REPLY"] \
        == ["new attendee"]
    (copy,) = copies_of(radicale, "bob", "team-1")[bob_href]
    assert partstat(copy, "bob@example.test") == "ACCEPTED"

    # Moved: a significant change asks bob again.
    radicale.put(href, event_ics(uid="team-1", start="20300110T140000", end="20300110T150000",
                                 attendees=attendees + ("fay@example.test",)))
    wait_for(lambda: "T140000" in str(copies_of(radicale, "bob", "team-1")[bob_href][0]["DTSTART"].to_ical()),
             what="bob's copy moved")
    (copy,) = copies_of(radicale, "bob", "team-1")[bob_href]
    assert partstat(copy, "bob@example.test") == "NEEDS-ACTION"

    # bob taken off the event: his copy stays, cancelled; carol's is untouched.
    radicale.put(href, event_ics(uid="team-1", start="20300110T140000", end="20300110T150000",
                                 attendees=("carol@example.test", "ext@external.test", "fay@example.test")))
    wait_for(lambda: str(copies_of(radicale, "bob", "team-1")[bob_href][0].get("STATUS")) == "CANCELLED",
             what="bob's copy cancelled")
    assert str(list(copies_of(radicale, "carol", "team-1").values())[0][0].get("STATUS", "")) != "CANCELLED"

    # The event deleted: carol's copy is cancelled after the move grace.
    radicale.delete(href)
    wait_for(lambda: str(list(copies_of(radicale, "carol", "team-1").values())[0][0].get("STATUS")) == "CANCELLED",
             what="carol's copy cancelled")

    # fay never logged in: her rows failed with the reason, nothing else was held up.
    fay = wait_for(lambda: [r for r in rows(cfg) if r["attendee"] == "mailto:fay@example.test"]
                   if all(r["state"] != "pending" for r in rows(cfg)) else None, what="every row tried")
    assert fay and all(r["state"] == "failed" and "has no calendar home" in r["last_error"] for r in fay), fay

    # `imip-gateway status` counts them and names the last failure; a failure for a user who
    # never logged in is not the site's fault, so the line stays ✓.
    report = status.collect(cfg)
    counted = report["outbound"]["local_copies"]
    assert (counted["pending"], counted["failed_last_24h"]) == (0, len(fay)) and counted["done_last_24h"] >= 4, counted
    line = next(c for c in status.checks(report) if c["id"] == "outbound.local_copies")
    assert line["status"] == "ok" and "fay@example.test" in line["text"] and "has no calendar home" in line["text"], line


def test_a_local_attendee_deleting_the_copy_declines(site):
    """RFC 6638: deleting the copy answers DECLINED (after the move grace: a move answers nothing)."""
    cfg, radicale, smtp, organizer = site
    href = organizer + "review.ics"
    radicale.put(href, event_ics(uid="review-1", attendees=("bob@example.test",)))
    bob_href = next(iter(wait_for(lambda: copies_of(radicale, "bob", "review-1"), what="bob's copy")))
    # Moved to another of bob's calendars (DELETE, then PUT of the same UID): no answer.
    radicale.mkcalendar("bob", "private")
    text = radicale.get(bob_href, user="bob")
    assert radicale.delete(bob_href, user="bob") in (200, 204)
    radicale.put("/bob/private/review.ics", text, user="bob")
    # Then deleted for good.
    assert radicale.delete("/bob/private/review.ics", user="bob") in (200, 204)
    wait_for(lambda: organizers_view(radicale, href, "bob@example.test") == ("DECLINED", "2.0"),
             what="bob's DECLINED on alice's event")

    def replies():
        return [(r["reason"], r["state"]) for r in rows(cfg) if r["method"] == "REPLY"]
    # The row is marked done just after the PUT that the organizer's view shows.
    wait_for(lambda: replies() == [("deleted", "dropped"), ("deleted", "done")], what="the answer rows")
    assert smtp.received() == []


def test_the_gateways_own_writes_plan_nothing(site):
    """Writing bob's copy notifies the hook with the gateway as the actor: no mail, no copy of a copy."""
    cfg, radicale, smtp, organizer = site
    radicale.put(organizer + "solo.ics", event_ics(uid="solo-1", attendees=("bob@example.test",)))
    wait_for(lambda: copies_of(radicale, "bob", "solo-1"), what="bob's copy")
    conn = db.connect(cfg.gateway.db_path)
    try:
        wait_for(lambda: conn.execute("SELECT count(*) FROM changes WHERE state = 'new'").fetchone()[0] == 0
                 and conn.execute("SELECT count(*) FROM changes WHERE actor = ? AND note = ?",
                                  (cfg.caldav.user, "written by the gateway itself")).fetchone()[0] >= 1,
                 what="the copy's own notification planned")
    finally:
        conn.close()
    assert smtp.received() == []
    assert [r["state"] for r in rows(cfg)] == ["done"]


def test_attendee_copy_keeps_the_attendees_answer_and_alarms():
    """The pure merge: an update that is not asked again keeps PARTSTAT and the attendee's alarm."""
    itip = event_ics(uid="u", attendees=("bob@example.test",)).replace("VERSION:2.0", "VERSION:2.0\r\nMETHOD:REQUEST")
    mine = event_ics(uid="u", attendees=("bob@example.test;X-X=1",)).replace(
        "PARTSTAT=NEEDS-ACTION;RSVP=TRUE;X-X=1:mailto:bob", "PARTSTAT=TENTATIVE:mailto:bob").replace(
        "END:VEVENT", "BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:x\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\nEND:VEVENT")
    kept = icalendar.Calendar.from_ical(attendee_copies.attendee_copy(
        itip, mine, method="REQUEST", attendee="mailto:bob@example.test", reask=set()))
    (event,) = kept.walk("VEVENT")
    assert "METHOD" not in kept and partstat(event, "bob@example.test") == "TENTATIVE"
    assert [a["TRIGGER"].to_ical() for a in event.walk("VALARM")] == [b"-PT5M"]
    asked = icalendar.Calendar.from_ical(attendee_copies.attendee_copy(
        itip, mine, method="REQUEST", attendee="mailto:bob@example.test", reask={""}))
    assert partstat(asked.walk("VEVENT")[0], "bob@example.test") == "NEEDS-ACTION"


def parsed(received):
    """(the message, its text/calendar part decoded) of a message the SMTP server took."""
    message = email.message_from_bytes(received.data, policy=email.policy.default)
    part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    return message, part.get_payload(decode=True)


def outside_invitation(radicale, user: str, uid: str) -> str:
    """An outside organizer's invitation in `user`'s calendar, written as the gateway writes it
    from a handed-over mail (inbound.invitations); returns its href."""
    radicale.request("PROPFIND", f"/{user}/", user, USER_PASSWORD, headers={"Depth": "0"})
    radicale.mkcalendar(user, "inbox-events")
    href = f"/{user}/inbox-events/{uid}.ics"
    text = event_ics(uid=uid, organizer="olivia@external.test", organizer_params=";CN=Olivia",
                     attendees=(f"{user}@example.test;CN={user.title()}", "carol@external.test"), sequence=2)
    radicale.put(href, text, user=INVITE_USER, password=CALDAV_PASSWORD)
    return href


def test_a_local_users_answer_to_an_outside_organizer_is_mailed_from_their_address(site):
    cfg, radicale, smtp, _organizer = site
    href = outside_invitation(radicale, "bob", "outside-1")
    radicale.put(href, radicale.get(href, user="bob").replace(
        "PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob", "PARTSTAT=ACCEPTED:mailto:bob"), user="bob")
    (sent,) = wait_for(smtp.received, what="bob's REPLY")
    assert (sent.mail_from, sent.rcpt_tos) == ("bob@example.test", ["olivia@external.test"])
    message, calendar_part = parsed(sent)
    assert message["From"] == "Bob <bob@example.test>" and message["To"] == "olivia@external.test"
    assert message["Subject"] == "Accepted: Planning" and message["Reply-To"] is None
    reply = icalendar.Calendar.from_ical(calendar_part)
    assert str(reply["METHOD"]) == "REPLY"
    (event,) = reply.walk("VEVENT")
    assert (str(event["UID"]), event["SEQUENCE"]) == ("outside-1", 2)
    assert str(event["ORGANIZER"]).lower() == "mailto:olivia@external.test"
    assert str(event["ATTENDEE"]).lower() == "mailto:bob@example.test"  # one ATTENDEE: his
    assert event["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"

    # bob deletes the event: DECLINED, after the move grace.
    assert radicale.delete(href, user="bob") in (200, 204)
    wait_for(lambda: len(smtp.received()) == 2, what="bob's DECLINED")
    message, calendar_part = parsed(smtp.received()[1])
    declined = icalendar.Calendar.from_ical(calendar_part).walk("VEVENT")[0]
    assert declined["ATTENDEE"].params["PARTSTAT"] == "DECLINED"
    assert message["Subject"] == "Declined: Planning"


def test_an_opted_out_users_answer_is_left_to_their_client(site):
    cfg, radicale, smtp, _organizer = site
    href = outside_invitation(radicale, "erin", "outside-2")
    radicale.put(href, radicale.get(href, user="erin").replace(
        "PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:erin", "PARTSTAT=DECLINED:mailto:erin"), user="erin")
    conn = db.connect(cfg.gateway.db_path)
    try:
        note = wait_for(lambda: conn.execute("SELECT note FROM changes WHERE actor = 'erin' AND state = 'done'")
                        .fetchone(), what="erin's change planned")[0]
    finally:
        conn.close()
    assert "opted out" in note
    assert smtp.received() == []


REFRESH = """X-Original-To: {token_address}\r
Authentication-Results: test-gw; dkim=pass header.d=external.test header.i=@external.test\r
From: ext@external.test\r
To: {token_address}\r
Subject: Refresh: Planning\r
Message-ID: <refresh-1@external.test>\r
MIME-Version: 1.0\r
Content-Type: text/calendar; charset=UTF-8; method=REFRESH\r
\r
BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//external.test//a client//EN\r
METHOD:REFRESH\r
BEGIN:VEVENT\r
UID:refresh-1\r
DTSTAMP:20300101T000000Z\r
ORGANIZER:mailto:{token_address}\r
ATTENDEE:mailto:ext@external.test\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_an_attendees_refresh_gets_the_event_as_it_stands(site):
    """RFC 5546 REFRESH: the attendee who lost the event gets it again, with the SEQUENCE already
    mailed; nobody else is mailed and the organizer's event is not written."""
    cfg, radicale, smtp, organizer = site
    radicale.put(organizer + "refresh.ics", event_ics(uid="refresh-1", attendees=("ext@external.test", "x@external.test"),
                                                      sequence=3))
    wait_for(lambda: len(smtp.received()) == 2, what="the two REQUESTs")
    first, _part = parsed(next(r for r in smtp.received() if r.rcpt_tos == ["ext@external.test"]))
    stored = radicale.get(organizer + "refresh.ics")
    conn = db.connect(cfg.gateway.db_path)
    try:
        inbound = InboundService(cfg, conn, imap_password="unused", caldav=None, send=lambda _m: None,
                                 refresh=lambda c, *args: refresh.queue_refresh(c, cfg, *args))
        decision = inbound.processor.process(REFRESH.format(token_address=first["Reply-To"]).encode())
    finally:
        conn.close()
    assert (decision.folder, decision.outcome) == ("Processed", "refreshed"), decision.reason
    again = wait_for(lambda: smtp.received()[2:], what="the REQUEST again")
    assert [r.rcpt_tos for r in again] == [["ext@external.test"]]
    message, part = parsed(again[0])
    event = icalendar.Calendar.from_ical(part).walk("VEVENT")[0]
    assert (str(event["UID"]), event["SEQUENCE"]) == ("refresh-1", 3)
    assert message["Reply-To"] == first["Reply-To"]
    assert radicale.get(organizer + "refresh.ics") == stored


def test_a_reply_names_the_organizer_on_every_component():
    """An override that leaves ORGANIZER to its series still gets it in the REPLY; only the
    answering attendee's line is in it, with the answer per component."""
    override = ("BEGIN:VEVENT\r\nUID:series-1\r\nRECURRENCE-ID:20300117T090000Z\r\nDTSTAMP:20260101T000000Z\r\n"
                "DTSTART:20300117T100000Z\r\nDTEND:20300117T110000Z\r\nSUMMARY:Planning (moved)\r\n"
                "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:bob@example.test\r\nEND:VEVENT")
    copy_text = event_ics(uid="series-1", organizer="olivia@external.test", attendees=("bob@example.test", "x@external.test"),
                          extra="RRULE:FREQ=WEEKLY;COUNT=4", overrides=override, tzid="UTC")
    reply = icalendar.Calendar.from_ical(replies.build_reply(
        copy_text, "mailto:olivia@external.test", "mailto:bob@example.test",
        {"": "ACCEPTED", "20300117T090000Z": "DECLINED"}))
    assert str(reply["METHOD"]) == "REPLY"
    answered = {(str(e.get("RECURRENCE-ID").to_ical().decode()) if e.get("RECURRENCE-ID") else ""): e
                for e in reply.walk("VEVENT")}
    assert set(answered) == {"", "20300117T090000Z"}
    for key, partstat_value in (("", "ACCEPTED"), ("20300117T090000Z", "DECLINED")):
        event = answered[key]
        assert str(event["ORGANIZER"]).lower() == "mailto:olivia@external.test"
        assert str(event["ATTENDEE"]).lower() == "mailto:bob@example.test"
        assert event["ATTENDEE"].params["PARTSTAT"] == partstat_value
