"""Property test: malformed and truncated messages never crash the inbound path.

At least 10,000 messages (hypothesis profile "inbound", the default here) derived from the
constructed client shapes by truncation, byte flips, inserted garbage, dropped or duplicated
lines, broken boundaries and encodings, plus raw random bytes. Half of them carry a valid token,
so validation and the CalDAV read of a real Radicale run too. For every one: no exception
escapes, the message ends in one of the four folders, and no decision is an internal error.
`IMIP_HYPOTHESIS_EXAMPLES=500` shortens a local run; the default is what CI runs.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imip_gateway.inbound.processor import FOLDERS

from . import messages as m

EXAMPLES = int(os.environ.get("IMIP_HYPOTHESIS_EXAMPLES", "10000"))
assert EXAMPLES >= 10000 or "IMIP_HYPOTHESIS_EXAMPLES" in os.environ

GARBAGE = [b"\x00", b"\xff\xfe", b"=", b"=ZZ", b"--", b"\r", b"\n", b"\t", b";", b":", b'"',
           b"BEGIN:VEVENT\r\n", b"END:VCALENDAR\r\n", b"BEGIN:VALARM\r\n", b"ATTENDEE:mailto:x@y\r\n",
           b"Content-Type: multipart/mixed; boundary=\"\"\r\n", b"Content-Transfer-Encoding: base64\r\n",
           b"=?utf-8?B?////?=", b"\xc3\x28", "é".encode(), b"METHOD:REPLY\r\n", b"SEQUENCE:-1\r\n",
           b"SEQUENCE:99999999999999999999\r\n", b"RECURRENCE-ID;TZID=../../etc:20300101T000000\r\n",
           b"DTSTAMP:2030\r\n", b"PARTSTAT=\r\n", b"X-IMIP-Gateway: cal.example.test\r\n"]

OPS = ("truncate", "flip", "insert", "drop_line", "dup_line", "boundary", "cte", "nest")


def _bases(token: str, uid: str) -> list[bytes]:
    ics = m.reply_ics(uid, partstat="ACCEPTED", comment="hi", valarm_attendee="alice@example.test")
    out = [shape(token, ics) for shape in m.SHAPES.values()]
    out += [m.plain(token), m.bounce(token, uid),
            m.google(token, m.reply_ics(uid, method="COUNTER")),
            m.google(token, m.reply_ics(uid, recurrence_id="20300112T100000Z")),
            m.google(None, ics)]
    return out


@st.composite
def mutated(draw, bases):
    if draw(st.integers(0, 19)) == 0:
        return draw(st.binary(max_size=3000))
    raw = bytearray(draw(st.sampled_from(bases)))
    for op in draw(st.lists(st.sampled_from(OPS), min_size=1, max_size=5)):
        if not raw:
            break
        pos = draw(st.integers(0, len(raw) - 1))
        if op == "truncate":
            del raw[pos:]
        elif op == "flip":
            raw[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            raw[pos:pos] = draw(st.sampled_from(GARBAGE)) * draw(st.integers(1, 3))
        elif op in ("drop_line", "dup_line"):
            lines = bytes(raw).split(b"\n")
            i = draw(st.integers(0, len(lines) - 1))
            if op == "drop_line":
                del lines[i]
            else:
                lines.insert(i, lines[i])
            raw = bytearray(b"\n".join(lines))
        elif op == "boundary":
            raw = bytearray(bytes(raw).replace(b"boundary=", b"boundary=x", 1))
        elif op == "cte":
            raw = bytearray(bytes(raw).replace(b"7bit", draw(st.sampled_from([b"base64", b"quoted-printable", b"x-uuencode"])), 1))
        elif op == "nest":
            raw = bytearray(b'Content-Type: multipart/mixed; boundary="n"\r\nX-Original-To: ' +
                            m.token_address("ab").encode() + b"\r\n\r\n--n\r\n" + bytes(raw) + b"\r\n--n--\r\n")
    return bytes(raw)


def test_malformed_messages_always_end_in_a_folder(world):
    uid, token = world.new_event(rrule="FREQ=WEEKLY;COUNT=5")
    bases = _bases(token, uid)
    seen = {"n": 0, "folders": {}}

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(mutated(bases))
    def check(raw):
        decision = world.process(raw)  # must not raise
        assert decision.folder in FOLDERS, decision
        assert not decision.reason.startswith("internal error"), (decision.reason, raw[:300])
        seen["n"] += 1
        seen["folders"][decision.folder] = seen["folders"].get(decision.folder, 0) + 1

    check()
    assert seen["n"] >= EXAMPLES
    # The generator reaches every folder (it is not only producing unparseable noise).
    assert set(seen["folders"]) == set(FOLDERS), seen
    print(f"inbound property test: {seen['n']} messages, per folder {seen['folders']}")
