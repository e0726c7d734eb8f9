"""Scheduling between local users: local Radicale + the gateway service (no SMTP involved).

Prints, over N events, one at a time (median, p95, max):
- organizer's CalDAV PUT -> the local attendee's copy readable in their calendar;
- the attendee's PUT of their answer in the copy -> the answer on the organizer's event.

The spool is read every 100 ms (the production default); the send loop wakes the CalDAV thread,
which writes the copies and answers, once it has planned them. Run with the
gateway's test venv (tools/gateway-test builds it):

    .cache/gateway-venv/bin/python gateway/bench/bench_local.py [--events 50]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the shared test fixtures module

import conftest  # noqa: E402
from conftest import USER_PASSWORD, event_ics, gateway_ini, start_radicale, stop_radicale  # noqa: E402


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def poll(probe, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.005)
    raise SystemExit("timed out")


def copy_text(radicale, href):
    status, _headers, body = radicale.request("GET", href, "bob", USER_PASSWORD)
    return body.decode() if status == 200 else None


def summary(name, values):
    return (f"{name}: median {statistics.median(values):.0f} ms, p95 {percentile(values, 0.95):.0f} ms, "
            f"max {max(values):.0f} ms over {len(values)}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="imip-bench-local-"))
    print(f"work dir {tmp}; python {sys.version.split()[0]}; cores {os.cpu_count()}")
    radicale = start_radicale(tmp / "radicale")
    creds = tmp / "credentials"
    creds.mkdir()
    (creds / "imip-gateway.smtp").write_text(conftest.SMTP_PASSWORD)
    (creds / "imip-gateway.caldav").write_text(conftest.CALDAV_PASSWORD)
    ini = tmp / "gateway.ini"
    text = gateway_ini(state_dir=tmp / "state", spool_dir=radicale.spool_dir, smtp_port=9, ca_file=None,
                       caldav_url=radicale.url)
    ini.write_text(text.replace("spool_poll_ms = 20", "spool_poll_ms = 100"))
    organizer = radicale.mkcalendar("alice")
    bobs = radicale.mkcalendar("bob", "work")
    gateway = subprocess.Popen([sys.executable, "-m", "imip_gateway", "run", "--config", str(ini)],
                               env=dict(os.environ, CREDENTIALS_DIRECTORY=str(creds)),
                               stdout=open(tmp / "gateway.log", "wb"), stderr=subprocess.STDOUT)
    try:
        time.sleep(2.0)
        copies, answers = [], []
        for i in range(args.events):
            uid = f"local-{i}"
            start = time.monotonic()
            radicale.put(organizer + f"{uid}.ics", event_ics(uid=uid, attendees=("bob@example.test",)))
            # Where the gateway writes a new copy: bob's first calendar, a name made from the UID
            # (outbound.local._new_href).
            href = bobs + uuid.uuid5(uuid.NAMESPACE_URL, uid).hex + ".ics"
            poll(lambda: copy_text(radicale, href))
            copies.append((time.monotonic() - start) * 1000)
            text = copy_text(radicale, href)
            start = time.monotonic()
            radicale.put(href, text.replace("PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@example.test",
                                            "PARTSTAT=ACCEPTED:mailto:bob@example.test"), user="bob")
            poll(lambda: any("PARTSTAT=ACCEPTED" in line and line.endswith(":mailto:bob@example.test") for line in
                             radicale.get(organizer + f"{uid}.ics").replace("\r\n ", "").splitlines()))
            answers.append((time.monotonic() - start) * 1000)
        print(summary("organizer's PUT -> the attendee's copy in their calendar", copies))
        print(summary("attendee's answer in the copy -> on the organizer's event", answers))
    finally:
        gateway.send_signal(signal.SIGTERM)
        gateway.wait(20)
        stop_radicale(radicale)
    return 0


if __name__ == "__main__":
    sys.exit(main())
