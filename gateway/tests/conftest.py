"""Shared fixtures for the gateway's tests: real servers on 127.0.0.1, never mock objects.

- `smtp_server`: aiosmtpd with STARTTLS (a throw-away certificate made by openssl) and AUTH
  LOGIN/PLAIN; `mode` switches it to answer RCPT with 451 (temporary) or 550 (permanent).
- `radicale`: the pinned Radicale from requirements-test.txt as a subprocess, htpasswd users,
  a rights file like the calendar role's (owners own their calendars, the gateway's identity
  reads and writes all of them) and our hook configured.
- `make_config`: a gateway.ini for those servers, and $CREDENTIALS_DIRECTORY with the secrets.

Other test modules import nothing from each other; whatever they share lives here.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import logging
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from imip_gateway import config as config_mod
from imip_gateway import service

# Everything under gateway/ ships in the collection: hypothesis (inbound property tests) must not
# leave its database in the working directory, however pytest is started. tools/gateway-test
# points it at .cache/hypothesis; a bare `pytest` run uses the system's temporary directory.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir()) / "imip-gateway-hypothesis"))

# aiosmtpd logs every connection from its own thread, sometimes after a test's log capture has
# closed; its INFO lines say nothing the tests check.
logging.getLogger("mail.log").setLevel(logging.WARNING)

# Test secrets: every test that captures logs or output checks they never appear.
SMTP_PASSWORD = "smtp-S3cret-pass-9f2"
CALDAV_PASSWORD = "caldav-S3cret-pass-4b7"
USER_PASSWORD = "alice-pass-1c3"
INVITE_USER = "calendar-invites@example.test"
SECRETS = (SMTP_PASSWORD, CALDAV_PASSWORD, USER_PASSWORD)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# How long a test lets `imip-gateway run` take to stop after SIGTERM: the service finishes its
# current step (an SMTP conversation, a CalDAV request) and joins each thread for up to 10 s
# (service.py), which under load is seconds; a stop that hangs still fails.
STOP_SECONDS = 60


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# ---------------------------------------------------------------- TLS material
@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


# ---------------------------------------------------------------- SMTP
@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    authenticated_as: str | None
    tls: bool


class _Handler:
    def __init__(self, server: "SMTPServer"):
        self.server = server

    async def handle_RCPT(self, _server, _session, envelope, address, _options):
        if self.server.mode == "tempfail":
            return "451 4.3.0 Try again later"
        if self.server.mode == "permfail":
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, _server, session, envelope):
        with self.server.lock:
            self.server.messages.append(Received(
                envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content,
                session.auth_data.login.decode() if session.auth_data else None,
                session.ssl is not None))
        if self.server.delay:
            time.sleep(self.server.delay)
        return "250 2.0.0 Ok: queued"


@dataclass
class SMTPServer:
    port: int
    user: str = INVITE_USER
    password: str = SMTP_PASSWORD
    mode: str = "ok"          # ok | tempfail | permfail
    delay: float = 0.0
    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    controller: Controller | None = None
    tls_context: ssl.SSLContext | None = None

    def authenticate(self, _server, _session, _envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword) and auth_data.login.decode() == self.user \
                and auth_data.password.decode() == self.password:
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)

    def start(self) -> None:
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                     server_hostname="smtp.test", tls_context=self.tls_context,
                                     require_starttls=True, auth_required=True, auth_require_tls=True,
                                     authenticator=self.authenticate)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def received(self) -> list[Received]:
        with self.lock:
            return list(self.messages)


@pytest.fixture
def smtp_server(tls_cert):
    cert, key = tls_cert
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    server = SMTPServer(port=free_port(), tls_context=context)
    server.start()
    yield server
    server.stop()


# ---------------------------------------------------------------- Radicale
@dataclass
class Radicale:
    url: str
    port: int
    root: Path
    spool_dir: Path
    process: subprocess.Popen
    log_path: Path

    def request(self, method: str, path: str, user: str, password: str, body: str | None = None,
                headers: dict | None = None) -> tuple[int, dict, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        conn.request(method, path, body=body.encode() if body is not None else None,
                     headers={"Authorization": auth, **(headers or {})})
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def mkcalendar(self, user: str, name: str = "calendar") -> str:
        path = f"/{user}/{name}/"
        status, _headers, body = self.request("MKCALENDAR", path, user, USER_PASSWORD)
        assert status in (201, 405), (status, body)
        return path

    def put(self, path: str, text: str, user: str = "alice", password: str = USER_PASSWORD) -> int:
        headers = {"Content-Type": "text/calendar; charset=utf-8"}
        status, _headers, body = self.request("PUT", path, user, password, text, headers)
        assert status in (201, 204), (status, body)
        return status

    def delete(self, path: str, user: str = "alice") -> int:
        status, _headers, _body = self.request("DELETE", path, user, USER_PASSWORD)
        return status

    def get(self, path: str, user: str = "alice") -> str:
        status, _headers, body = self.request("GET", path, user, USER_PASSWORD)
        assert status == 200, status
        return body.decode()


RIGHTS = """\
# As roles/calendar/templates/etc/radicale/rights.j2: the gateway's identity reads every
# collection and writes events into every calendar (and makes a calendar for a local attendee
# who has none).
[imip-gateway]
user: calendar-invites@example\\.test
collection: .*
permissions: Rrw

[root]
user: .+
collection:
permissions: R

[principal]
user: .+
collection: {user}
permissions: RW

[calendars]
user: .+
collection: {user}/[^/]+
permissions: rw
"""


def start_radicale(root: Path, *, hook: str = "imip_gateway.radicale_hook") -> Radicale:
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    spool_dir = root / "spool"
    (root / "users").write_text(f"alice:{USER_PASSWORD}\nbob:{USER_PASSWORD}\ncarol:{USER_PASSWORD}\nerin:{USER_PASSWORD}\n"
                                f"{INVITE_USER}:{CALDAV_PASSWORD}\n")
    (root / "rights").write_text(RIGHTS)
    # Radicale accepts extra [hook] options only for non-built-in hook types.
    hook_options = f"spool_dir = {spool_dir}" if "." in hook else ""
    (root / "config").write_text(textwrap.dedent(f"""\
        [server]
        hosts = 127.0.0.1:{port}
        [auth]
        type = htpasswd
        htpasswd_filename = {root}/users
        htpasswd_encryption = plain
        delay = 0
        [rights]
        type = from_file
        file = {root}/rights
        [storage]
        filesystem_folder = {root}/collections
        [hook]
        type = {hook}
        {hook_options}
        [logging]
        level = info
        """))
    log_path = root / "radicale.log"
    process = subprocess.Popen([sys.executable, "-m", "radicale", "--config", str(root / "config")],
                               stdout=open(log_path, "wb"), stderr=subprocess.STDOUT)

    def up():
        if process.poll() is not None:
            raise AssertionError("radicale exited:\n" + log_path.read_text())
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False
    wait_for(up, what="radicale to listen")
    return Radicale(f"http://127.0.0.1:{port}/", port, root, spool_dir, process, log_path)


def stop_radicale(radicale: Radicale) -> None:
    radicale.process.terminate()
    try:
        radicale.process.wait(10)
    except subprocess.TimeoutExpired:
        radicale.process.kill()


@pytest.fixture
def radicale(tmp_path):
    server = start_radicale(tmp_path / "radicale")
    yield server
    stop_radicale(server)


# ---------------------------------------------------------------- the service
@contextlib.contextmanager
def running_service(cfg):
    """`imip-gateway run` in a thread for the body of the with block; it must stop cleanly."""
    stop = threading.Event()
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("rc", service.run(cfg, stop)), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)
    assert result.get("rc") == 0


# ---------------------------------------------------------------- gateway config
@pytest.fixture
def credentials_dir(tmp_path, monkeypatch) -> Path:
    directory = tmp_path / "credentials"
    directory.mkdir()
    (directory / "imip-gateway.smtp").write_text(SMTP_PASSWORD + "\n")
    (directory / "imip-gateway.caldav").write_text(CALDAV_PASSWORD + "\n")
    os.chmod(directory, 0o700)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(directory))
    return directory


def gateway_ini(*, state_dir: Path, spool_dir: Path, smtp_port: int, ca_file: Path | None, caldav_url: str,
                extra_gateway: str = "", reconcile_seconds: int = 0, retry_base_seconds: int = 1) -> str:
    return textwrap.dedent(f"""\
        [gateway]
        instance_id = test-gw
        state_dir = {state_dir}
        spool_dir = {spool_dir}
        local_domains = example.test
        site_name = Example
        retry_base_seconds = {retry_base_seconds}
        spool_poll_ms = 20
        {extra_gateway}
        [smtp]
        host = 127.0.0.1
        port = {smtp_port}
        starttls = true
        user = {INVITE_USER}
        ca_file = {ca_file or ''}
        timeout_seconds = 10
        [caldav]
        url = {caldav_url}
        user = {INVITE_USER}
        reconcile_seconds = {reconcile_seconds}
        [invitations]
        address = {INVITE_USER}
        """)


@pytest.fixture
def make_config(tmp_path, credentials_dir, tls_cert):
    def make(*, smtp_port: int, caldav_url: str = "http://127.0.0.1:9/", spool_dir: Path | None = None,
             extra_gateway: str = "", reconcile_seconds: int = 0, retry_base_seconds: int = 1) -> config_mod.Config:
        spool = spool_dir or tmp_path / "spool"
        path = tmp_path / "gateway.ini"
        path.write_text(gateway_ini(state_dir=tmp_path / "state", spool_dir=spool, smtp_port=smtp_port,
                                    ca_file=tls_cert[0], caldav_url=caldav_url, extra_gateway=extra_gateway,
                                    reconcile_seconds=reconcile_seconds, retry_base_seconds=retry_base_seconds))
        return config_mod.load(path)
    return make


# ---------------------------------------------------------------- iCalendar samples
def event_ics(uid: str = "evt-1", *, start: str = "20300110T100000", end: str = "20300110T110000",
              summary: str = "Planning", sequence: int | None = None, attendees: tuple[str, ...] = (
                  "bob@external.test",), organizer: str = "alice@example.test", extra: str = "",
              organizer_params: str = ";CN=Alice Example", status: str | None = None,
              overrides: str = "", tzid: str = "Europe/Berlin") -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//imip.server tests//EN", "BEGIN:VEVENT",
             f"UID:{uid}", "DTSTAMP:20260101T000000Z", f"DTSTART;TZID={tzid}:{start}",
             f"DTEND;TZID={tzid}:{end}", f"SUMMARY:{summary}"]
    if sequence is not None:
        lines.append(f"SEQUENCE:{sequence}")
    if status:
        lines.append(f"STATUS:{status}")
    lines.append(f"ORGANIZER{organizer_params}:mailto:{organizer}")
    lines.append(f"ATTENDEE;CN=Alice Example;PARTSTAT=ACCEPTED:mailto:{organizer}")
    for attendee in attendees:
        params = ""
        if ";" in attendee:
            attendee, params = attendee.split(";", 1)
            params = ";" + params
        lines.append(f"ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE{params}:mailto:{attendee}")
    if extra:
        lines.extend(extra.strip().splitlines())
    lines.append("END:VEVENT")
    if overrides:
        lines.extend(overrides.strip().splitlines())
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"
