"""Benchmark of the inbound path (prints figures; asserts nothing).

    .cache/gateway-venv/bin/python gateway/tests/inbound/benchmark_inbound.py [--replies 1000] [--latency 100]

Starts the same real Radicale as the tests (tests/conftest.py's start_radicale), creates one
event per reply with a token, then:
- latency: for each of N replies, the time from handing the raw message to the inbound
  Processor until the attendee's PARTSTAT is visible in a fresh CalDAV GET (median, p95).
  This is the gateway's own share; IMAP delivery and the IDLE wake-up come on top (measured in
  the Molecule scenario, not here);
- throughput: 1,000 queued replies processed back to back (replies per second);
- memory: peak RSS of this process and the Python heap peak (tracemalloc) while doing so.
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # gateway/tests: the shared conftest
sys.path.insert(0, str(HERE.parent.parent / "src"))

import conftest as shared  # noqa: E402

from imip_gateway import db  # noqa: E402
from imip_gateway.caldav_client import CalDAVClient  # noqa: E402
from imip_gateway.inbound.events import CalDAVEvents  # noqa: E402
from imip_gateway.inbound.ical import unfold  # noqa: E402
from imip_gateway.inbound.processor import InboundSettings, Processor  # noqa: E402
from imip_gateway.inbound.state import InboundState  # noqa: E402
from imip_gateway.tokens import TokenStore  # noqa: E402

sys.path.insert(0, str(HERE))
import messages as m  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replies", type=int, default=1000)
    parser.add_argument("--latency", type=int, default=100)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="imip-inbound-bench-"))
    server = shared.start_radicale(root / "radicale")
    try:
        server.mkcalendar("alice", "work")
        owner = CalDAVClient(server.url, "alice", shared.USER_PASSWORD)
        gateway = CalDAVClient(server.url, shared.INVITE_USER, shared.CALDAV_PASSWORD)
        conn = db.connect(root / "gateway.db")
        tokens = TokenStore(conn)
        settings = InboundSettings(invitation_address=m.INVITE, instance_id="bench", local_domains=("example.test",))
        processor = Processor(settings, InboundState(conn), tokens.lookup, CalDAVEvents(gateway, conn), send=lambda _m: None)

        def prepare(count: int, shape) -> list[tuple[str, bytes]]:
            out = []
            for i in range(count):
                uid = f"{uuid.uuid4()}@example.test"
                owner.put(f"/alice/work/{uid}.ics", m.event(uid), create=True)
                token = tokens.token_for(m.ORGANIZER, f"mailto:{m.ATTENDEE}", uid)
                out.append((uid, shape(token, m.reply_ics(uid, partstat="ACCEPTED"), message_id=f"<b{i}-{uid}>")))
            return out

        latencies = []
        for uid, raw in prepare(args.latency, m.google):
            start = time.perf_counter()
            decision = processor.process(raw)
            visible = "PARTSTAT=ACCEPTED" in "\n".join(unfold(gateway.get(f"/alice/work/{uid}.ics").text))
            latencies.append(time.perf_counter() - start)
            assert decision.outcome == "applied ACCEPTED" and visible, decision
        latencies.sort()
        p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)]

        queued = prepare(args.replies, m.exchange)
        tracemalloc.start()
        start = time.perf_counter()
        applied = sum(processor.process(raw).outcome == "applied ACCEPTED" for _uid, raw in queued)
        elapsed = time.perf_counter() - start
        _current, heap_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

        print(f"machine: {platform.node()} {platform.machine()}, Python {platform.python_version()}, "
              f"Radicale subprocess on 127.0.0.1 (multifilesystem storage on {root})")
        print(f"latency, Processor in -> PARTSTAT visible over CalDAV, {len(latencies)} replies: "
              f"median {statistics.median(latencies) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, "
              f"max {latencies[-1] * 1000:.1f} ms")
        print(f"throughput: {applied}/{len(queued)} queued replies applied in {elapsed:.1f} s "
              f"= {applied / elapsed:.1f} replies/s")
        print(f"memory: peak RSS {rss_kib / 1024:.1f} MiB (whole process), Python heap peak while "
              f"processing {heap_peak / 1024 / 1024:.1f} MiB")
        conn.close()
    finally:
        shared.stop_radicale(server)


if __name__ == "__main__":
    main()
