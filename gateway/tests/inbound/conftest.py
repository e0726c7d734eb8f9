"""Fixtures of the inbound tests: a real Radicale (subprocess on 127.0.0.1), the state database,
a token, and the Processor wired to them as the service wires it.

TODO(integration): when gateway-out's shared Radicale fixture lands in gateway/tests/conftest.py,
`radicale` below becomes a thin alias of it.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from imip_gateway import db
from imip_gateway.caldav_client import CalDAVClient
from imip_gateway.inbound.events import CalDAVEvents
from imip_gateway.inbound.processor import InboundSettings, Processor
from imip_gateway.inbound.state import InboundState
from imip_gateway.tokens import TokenStore

from . import messages as m

GATEWAY_USER = m.INVITE
PASSWORD = "inbound-test-secret-7Qx"  # tests grep captured output for it


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Radicale:
    url: str
    root: Path

    def client(self, user: str = GATEWAY_USER) -> CalDAVClient:
        return CalDAVClient(self.url, user, PASSWORD)


@pytest.fixture(scope="session")
def radicale(tmp_path_factory):
    root = tmp_path_factory.mktemp("radicale")
    users = root / "users"
    users.write_text("".join(f"{u}:{PASSWORD}\n" for u in (GATEWAY_USER, "alice@example.test",
                                                           "dave@example.test")))
    rights = root / "rights"
    # As the calendar role's rights: the invitation account reads and writes every calendar.
    rights.write_text(
        f"[gateway]\nuser: {GATEWAY_USER}\ncollection: .*\npermissions: RrWw\n\n"
        "[root]\nuser: .+\ncollection:\npermissions: R\n\n"
        "[principal]\nuser: .+\ncollection: {user}\npermissions: RW\n\n"
        "[calendars]\nuser: .+\ncollection: {user}/[^/]+\npermissions: rw\n")
    port = _free_port()
    config = root / "config"
    config.write_text(
        f"[server]\nhosts = 127.0.0.1:{port}\n[auth]\ntype = htpasswd\nhtpasswd_filename = {users}\n"
        "htpasswd_encryption = plain\n[rights]\ntype = from_file\n"
        f"file = {rights}\n[storage]\nfilesystem_folder = {root / 'collections'}\n"
        "[logging]\nlevel = warning\n")
    proc = subprocess.Popen([sys.executable, "-m", "radicale", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"radicale exited: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.05)
    else:
        proc.kill()
        raise RuntimeError("radicale did not start in 20 s")
    server = Radicale(f"http://127.0.0.1:{port}/", root)
    # The organizer's calendar collection.
    owner = server.client("alice@example.test")
    body = ('<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            "<D:set><D:prop><D:displayname>Work</D:displayname></D:prop></D:set></C:mkcalendar>")
    response = owner.request("MKCALENDAR", "/alice@example.test/work/", body)
    assert response.status in (201, 405), response.status
    yield server
    proc.terminate()
    proc.wait(10)


@dataclass
class World:
    """One test's state: database, token store, the organizer's calendar, the processor."""

    conn: object
    tokens: TokenStore
    state: InboundState
    radicale: Radicale
    processor: Processor
    sent: list
    clock: list

    def new_event(self, text_or_uid: str | None = None, **kw) -> tuple[str, str]:
        """PUT an event into alice's calendar; return (uid, token for the default attendee)."""
        uid = f"{uuid.uuid4()}@example.test"
        text = m.event(uid, **kw)
        self.radicale.client("alice@example.test").put(f"/alice@example.test/work/{uid}.ics", text, create=True)
        return uid, self.tokens.token_for(m.ORGANIZER, f"mailto:{m.ATTENDEE}", uid, now=self.clock[0])

    def stored(self, uid: str) -> str:
        found = self.radicale.client().get(f"/alice@example.test/work/{uid}.ics")
        return found.text if found else ""

    def put_stored(self, uid: str, text: str) -> None:
        self.radicale.client("alice@example.test").put(f"/alice@example.test/work/{uid}.ics", text)

    def attendee_line(self, uid: str, address: str = m.ATTENDEE, recurrence_id: str | None = None) -> str:
        """The unfolded ATTENDEE line of `address` in the master (or the override of recurrence_id)."""
        from imip_gateway.inbound.ical import parse
        from imip_gateway.inbound.eventedit import attendee_on, find_component
        from imip_gateway.inbound.ical import Property

        cal = parse(self.stored(uid))
        rid = Property("RECURRENCE-ID", {}, recurrence_id) if recurrence_id else None
        comp = find_component(cal, rid)
        if comp is None:
            return ""
        att = attendee_on(comp, address)
        return att.to_line() if att is not None else ""

    def process(self, raw: bytes, **kw):
        return self.processor.process(raw, **kw)


def make_settings(**overrides) -> InboundSettings:
    values = dict(invitation_address=m.INVITE, instance_id="cal.example.test", local_domains=("example.test",),
                  site_name="Example", authserv_id="cal.example.test")
    values.update(overrides)
    return InboundSettings(**values)


@pytest.fixture
def world(tmp_path, radicale):
    conn = db.connect(tmp_path / "gateway.db")
    clock = [time.time()]
    sent: list = []
    state = InboundState(conn, clock=lambda: clock[0])
    tokens = TokenStore(conn)
    processor = Processor(make_settings(), state, tokens.lookup, CalDAVEvents(radicale.client(), conn),
                          send=sent.append, clock=lambda: clock[0])
    yield World(conn, tokens, state, radicale, processor, sent, clock)
    conn.close()
