"""Peak RSS while one 25 MB message goes through the inbound path (prints figures; asserts nothing).

    .cache/gateway-venv/bin/python gateway/tests/inbound/benchmark_large_message.py [--mb 25]

A real reply (Google's shape) plus a 25 MB attachment, to a real Radicale. Each way of reading
it runs in a fresh child process, so each peak RSS (ru_maxrss) is that way's own:
- by parts: the worker's path for a message over parts.whole_message_limit: BODYSTRUCTURE,
  header, then only the calendar and text parts (inbound/parts.py), then the Processor. No
  IMAP server runs here: the sections come from tests/inbound/imap_sections.py, prepared in
  another process and handed over without the attachment (the server keeps it);
- whole: the message read whole (the old path, minus imapclient's copy of the literal), then
  the Processor;
- baseline: the same child, imports and Radicale client only, no message.
"""

from __future__ import annotations

import argparse
import pickle
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent.parent / "src"))

import conftest as shared  # noqa: E402

from imip_gateway import db  # noqa: E402
from imip_gateway.caldav_client import CalDAVClient  # noqa: E402
from imip_gateway.inbound.events import CalDAVEvents  # noqa: E402
from imip_gateway.inbound.parts import assemble  # noqa: E402
from imip_gateway.inbound.processor import InboundSettings, Processor  # noqa: E402
from imip_gateway.inbound.state import InboundState  # noqa: E402
from imip_gateway.tokens import TokenStore  # noqa: E402

sys.path.insert(0, str(HERE))
import messages as m  # noqa: E402


def child(mode: str, url: str, db_path: str, data: str) -> None:
    conn = db.connect(db_path)
    gateway = CalDAVClient(url, shared.INVITE_USER, shared.CALDAV_PASSWORD)
    settings = InboundSettings(invitation_address=m.INVITE, instance_id="bench", local_domains=("example.test",))
    processor = Processor(settings, InboundState(conn), TokenStore(conn).lookup, CalDAVEvents(gateway, conn),
                          send=lambda _m: None)
    start = time.perf_counter()
    outcome, octets = "-", 0
    if mode == "parts":
        with open(data, "rb") as handle:
            header, structure, sections, size = pickle.load(handle)

        def fetch(wanted):
            out = {}
            for section in wanted:
                name, _lt, limit = section.partition("<")
                got = sections[name]  # KeyError: a part the reader should never have asked for
                out[name] = got[:int(limit.rstrip(">"))] if limit else got
            return out

        raw = assemble(header, structure, fetch, settings.max_itip_bytes, size)
        octets = len(raw)
        outcome = processor.process(raw).outcome
    elif mode == "whole":
        raw = Path(data).read_bytes()
        octets = len(raw)
        outcome = processor.process(raw).outcome
    elapsed = time.perf_counter() - start
    print(f"{mode:8s} peak RSS {_peak_rss_mib():6.1f} MiB  message handed to the Processor "
          f"{octets / 1024:9.1f} KiB  outcome {outcome!r}  {elapsed * 1000:.0f} ms")


def _peak_rss_mib() -> float:
    """VmHWM: this process image's own peak (ru_maxrss keeps the parent's across fork + exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=25)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="imip-large-bench-"))
    server = shared.start_radicale(root / "radicale")
    try:
        server.mkcalendar("alice", "work")
        owner = CalDAVClient(server.url, "alice", shared.USER_PASSWORD)
        conn = db.connect(root / "gateway.db")
        tokens = TokenStore(conn)
        paths = {}
        for mode in ("parts", "whole"):
            uid = f"{uuid.uuid4()}@example.test"
            owner.put(f"/alice/work/{uid}.ics", m.event(uid), create=True)
            token = tokens.token_for(m.ORGANIZER, f"mailto:{m.ATTENDEE}", uid)
            conn.commit()
            raw = m.google_with_attachment(token, m.reply_ics(uid), args.mb * 1024 * 1024,
                                           message_id=f"<{mode}-{uid}>")
            whole = root / f"{mode}.eml"
            whole.write_bytes(raw)
            paths[mode] = str(whole)
        conn.close()
        # The server's side, in this (parent) process: structure and sections; the attachment
        # is left out of what the child gets, as a server never sends an unasked part.
        import imap_sections  # noqa: E402 - the parent only

        raw = Path(paths["parts"]).read_bytes()
        box = imap_sections.Mailbox(raw)
        sections = {k: v for k, v in box.sections.items() if len(v) < 1024 * 1024}
        with open(root / "parts.pickle", "wb") as handle:
            pickle.dump((box.header, box.structure, sections, len(raw)), handle)
        del raw, box
        print(f"message: {Path(paths['whole']).stat().st_size / 1024 / 1024:.1f} MiB (a Google-shaped reply "
              f"plus a {args.mb} MiB attachment, base64)")
        for mode, data in (("baseline", ""), ("parts", str(root / "parts.pickle")), ("whole", paths["whole"])):
            subprocess.run([sys.executable, __file__, "--child", mode, server.url, str(root / "gateway.db"), data],
                           check=True)
    finally:
        shared.stop_radicale(server)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:6])
    else:
        main()
