"""Large messages are read by parts (read whole, one 27 MB message cost ~300 MB of memory).

No IMAP server runs in these tests: imap_sections.py answers BODYSTRUCTURE and section
FETCHes from the raw message as a server would; the Processor and Radicale are real.
"""

from imip_gateway.inbound import mime
from imip_gateway.inbound.imap import MailboxWorker
from imip_gateway.inbound.parts import assemble, read_by_parts, whole_message_limit

from . import imap_sections
from . import messages as m
from .test_processor import _partstat

MB = 1024 * 1024


def test_reply_with_a_large_attachment_is_applied_without_reading_the_attachment(world):
    uid, token = world.new_event()
    raw = m.google_with_attachment(token, m.reply_ics(uid, partstat="TENTATIVE"), 3 * MB)
    assert len(raw) > whole_message_limit(world.processor.settings.max_itip_bytes)
    box = imap_sections.Mailbox(raw)
    small = assemble(box.header, box.structure, box.fetch, world.processor.settings.max_itip_bytes, len(raw))
    assert len(small) < 64 * 1024
    assert not any(s.startswith("3") for s in box.served)  # the PDF: never asked for
    decision = world.process(small)
    assert decision.outcome == "applied TENTATIVE", decision.reason
    assert _partstat(world.attendee_line(uid)) == "TENTATIVE"
    # Read the same way twice, it is the same message (dedupe key): applied once.
    again = assemble(box.header, box.structure, box.fetch, world.processor.settings.max_itip_bytes, len(raw))
    assert world.process(again).duplicate


def test_oversize_calendar_part_is_still_reported_as_oversize(world):
    uid, token = world.new_event()
    world.processor.settings.max_itip_bytes = 8192
    ics = m.reply_ics(uid, extra="DESCRIPTION:" + "x" * 200_000)
    raw = m.google(token, ics)
    box = imap_sections.Mailbox(raw)
    small = assemble(box.header, box.structure, box.fetch, 8192, len(raw))
    assert len(small) < 100_000
    decision = world.process(small)
    assert decision.folder == "Rejected" and "exceeds max_itip_bytes 8192" in decision.reason


def test_bounce_with_a_large_returned_message_is_read_by_parts(world):
    uid, token = world.new_event()
    bounce = m.bounce(token, uid)
    # The returned invitation carried a large attachment: make the returned message multipart.
    head, _sep, rest = bounce.partition(b"Content-Type: text/calendar; charset=utf-8\r\n\r\n")
    request, _sep, tail = rest.partition(b"\r\n--R--")
    returned = (b'Content-Type: multipart/mixed; boundary="inner"\r\n\r\n--inner\r\n'
                b"Content-Type: text/calendar; charset=utf-8; method=REQUEST\r\n\r\n" + request + b"\r\n"
                + m.attachment_part("inner", 3 * MB) + b"--inner--")
    raw = head + returned + b"\r\n--R--" + tail
    box = imap_sections.Mailbox(raw)
    small = assemble(box.header, box.structure, box.fetch, world.processor.settings.max_itip_bytes, len(raw))
    assert len(small) < 64 * 1024 and mime.parse_message(small).get_content_type() == "multipart/report"
    decision = world.process(small)
    assert (decision.folder, decision.outcome) == ("Processed", "bounce"), decision.reason
    assert "SCHEDULE-STATUS=5.1" in world.attendee_line(uid)


def test_worker_fetches_sizes_first_and_large_bodies_by_parts(world):
    """The FETCH items the worker sends for a large message: never BODY[] of it."""
    uid, token = world.new_event()
    raw = m.google_with_attachment(token, m.reply_ics(uid), 3 * MB)
    client = imap_sections.Client(7, imap_sections.Mailbox(raw))
    worker = MailboxWorker(host="imap.invalid", port=993, tls=True, user="u", password="p", ca_file=None,
                           processor=world.processor, state=world.state, polling_seconds=60)
    worker.client = client
    small = worker._read(7, len(raw))
    assert small is not None and len(small) < 64 * 1024
    assert all("BODY.PEEK[]" not in items for items in client.requests)
    assert client.requests[0] == ["BODYSTRUCTURE", "BODY.PEEK[HEADER]"]
    assert any(item.startswith("BODY.PEEK[1.3]<0.") for items in client.requests for item in items)
    assert world.process(small).outcome == "applied ACCEPTED"
    assert read_by_parts(client, 8, len(raw), 524288) is None  # gone meanwhile
