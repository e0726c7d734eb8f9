"""Outbound benchmark: local Radicale + local aiosmtpd (STARTTLS + AUTH) + the gateway service.

Prints:
- the hook's own cost per notification (Hook.notify, in-process, fsync'd record);
- latency from CalDAV PUT to SMTP 250 (median, p95 over N events, one at a time);
- throughput draining M invitations queued at once (PUT with the gateway stopped, then started);
- the gateway's resident memory idle and while draining (VmRSS, peak sampled every 20 ms).

All servers run on 127.0.0.1 on this machine: figures are for a local aiosmtpd, not the lab's
Postfix. Run with the gateway's test venv (tools/gateway-test builds it):

    .cache/gateway-venv/bin/python gateway/bench/bench_outbound.py [--events 100] [--queue 1000]
"""

from __future__ import annotations

import argparse
import os
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the shared test fixtures module

import conftest  # noqa: E402
from conftest import (SMTPServer, event_ics, free_port, gateway_ini, start_radicale,  # noqa: E402
                      stop_radicale, wait_for)


class TimedSMTP(SMTPServer):
    """Records when each message was accepted, keyed by recipient."""


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(values, fraction):
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def bench_hook(tmp: Path, count: int = 500) -> list[float]:
    from radicale import config as radicale_config
    from radicale.hook import HookNotificationItem, HookNotificationItemTypes

    from imip_gateway.radicale_hook import Hook
    configuration = radicale_config.load()
    configuration.update({"hook": {"type": "imip_gateway.radicale_hook", "spool_dir": str(tmp / "hookbench")}},
                         "bench", privileged=True)
    hook = Hook(configuration)
    text = event_ics()
    times = []
    for _round in range(count):
        item = HookNotificationItem(HookNotificationItemTypes.UPSERT, "/alice/calendar/e.ics", content=text,
                                    content_type="VCALENDAR", new_content=text, old_content=text, actor="alice")
        start = time.perf_counter()
        hook.notify(item)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100, help="events for the latency run")
    parser.add_argument("--queue", type=int, default=1000, help="invitations queued at once for throughput")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="imip-bench-"))
    print(f"work dir {tmp}; python {sys.version.split()[0]}; cores {os.cpu_count()}")
    hook_ms = bench_hook(tmp)
    print(f"hook notify (fsync'd spool record): median {statistics.median(hook_ms):.2f} ms, "
          f"p95 {percentile(hook_ms, 0.95):.2f} ms over {len(hook_ms)}")

    # TLS material and servers, as in the tests.
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out",
                    str(cert)], check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    accepted: dict[str, float] = {}
    smtp = SMTPServer(port=free_port(), tls_context=context)
    original = conftest._Handler.handle_DATA

    async def timed_data(handler, server, session, envelope):
        result = await original(handler, server, session, envelope)
        accepted[envelope.rcpt_tos[0]] = time.monotonic()
        return result
    conftest._Handler.handle_DATA = timed_data
    smtp.start()
    radicale = start_radicale(tmp / "radicale")
    creds = tmp / "credentials"
    creds.mkdir()
    (creds / "imip-gateway.smtp").write_text(conftest.SMTP_PASSWORD)
    (creds / "imip-gateway.caldav").write_text(conftest.CALDAV_PASSWORD)
    env = dict(os.environ, CREDENTIALS_DIRECTORY=str(creds))
    ini = tmp / "gateway.ini"
    text = gateway_ini(state_dir=tmp / "state", spool_dir=radicale.spool_dir, smtp_port=smtp.port,
                       ca_file=cert, caldav_url=radicale.url)
    # The production default poll interval, not the tests' 20 ms.
    ini.write_text(text.replace("spool_poll_ms = 20", "spool_poll_ms = 100"))
    cmd = [sys.executable, "-m", "imip_gateway", "run", "--config", str(ini)]
    calendar = radicale.mkcalendar("alice")
    gateway = None
    try:
        # ---------------------------------------------------------------- latency
        gateway = subprocess.Popen(cmd, env=env, stdout=open(tmp / "gateway1.log", "wb"), stderr=subprocess.STDOUT)
        time.sleep(2.0)
        idle_kb = rss_kb(gateway.pid)
        latencies, puts = [], []
        for i in range(args.events):
            attendee = f"lat{i}@external.test"
            start = time.monotonic()
            radicale.put(calendar + f"lat{i}.ics", event_ics(uid=f"lat-{i}", attendees=(attendee,)))
            puts.append((time.monotonic() - start) * 1000)
            wait_for(lambda: attendee in accepted, timeout=30, interval=0.002, what=attendee)
            latencies.append((accepted[attendee] - start) * 1000)
        print(f"latency CalDAV PUT -> SMTP 250: median {statistics.median(latencies):.0f} ms, "
              f"p95 {percentile(latencies, 0.95):.0f} ms, max {max(latencies):.0f} ms over {len(latencies)} events "
              f"(spool_poll_ms=100)")
        print(f"  of which Radicale's PUT (until its response): median {statistics.median(puts):.0f} ms, "
              f"p95 {percentile(puts, 0.95):.0f} ms")
        print(f"gateway RSS idle (after start, before load): {idle_kb / 1024:.1f} MB")
        gateway.send_signal(signal.SIGTERM)
        gateway.wait(20)

        # ---------------------------------------------------------------- throughput
        put_start = time.monotonic()
        for i in range(args.queue):
            radicale.put(calendar + f"q{i}.ics", event_ics(uid=f"q-{i}", attendees=(f"q{i}@external.test",)))
        print(f"queued {args.queue} invitations through Radicale in {time.monotonic() - put_start:.1f} s "
              f"(gateway stopped)")
        wanted = {f"q{i}@external.test" for i in range(args.queue)}
        peak = [0]
        start = time.monotonic()
        gateway = subprocess.Popen(cmd, env=env, stdout=open(tmp / "gateway2.log", "wb"), stderr=subprocess.STDOUT)
        done = threading.Event()

        def sample():
            while not done.is_set():
                try:
                    peak[0] = max(peak[0], rss_kb(gateway.pid))
                except OSError:
                    pass
                time.sleep(0.02)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        wait_for(lambda: wanted <= accepted.keys(), timeout=600, interval=0.01, what="the queue to drain")
        elapsed = max(accepted[a] for a in wanted) - start
        done.set()
        sampler.join()
        print(f"throughput: {args.queue} invitations drained in {elapsed:.1f} s = {args.queue / elapsed:.0f}/s "
              f"(gateway start, ingest, plan, SMTP STARTTLS+AUTH to local aiosmtpd)")
        print(f"gateway RSS while draining: peak {peak[0] / 1024:.1f} MB")
        time.sleep(1.0)
        print(f"gateway RSS idle after draining: {rss_kb(gateway.pid) / 1024:.1f} MB")
    finally:
        if gateway is not None and gateway.poll() is None:
            gateway.send_signal(signal.SIGTERM)
            gateway.wait(20)
        stop_radicale(radicale)
        smtp.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
