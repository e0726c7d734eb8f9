"""Fixtures of the inbound tests: one real Radicale per session (started by the shared
`start_radicale` of gateway/tests/conftest.py, users alice/bob and the gateway's identity),
the state database, tokens, and the Processor wired to them as the service wires it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import pytest

import conftest as shared  # gateway/tests/conftest.py: the one shared fixtures module
from imip_gateway import db
from imip_gateway.caldav_client import CalDAVClient
from imip_gateway.inbound.events import CalDAVEvents
from imip_gateway.inbound.processor import InboundSettings, Processor
from imip_gateway.inbound.state import InboundState
from imip_gateway.tokens import TokenStore

from . import messages as m

GATEWAY_USER = shared.INVITE_USER
PASSWORD = shared.CALDAV_PASSWORD  # tests check it never reaches a log
CAL = "/alice/work/"  # the organizer alice@example.test is Radicale user "alice"


@dataclass
class Radicale:
    server: object

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, user: str = GATEWAY_USER) -> CalDAVClient:
        password = shared.CALDAV_PASSWORD if user == GATEWAY_USER else shared.USER_PASSWORD
        return CalDAVClient(self.server.url, user, password)


@pytest.fixture(scope="session")
def inbound_radicale(tmp_path_factory):
    server = shared.start_radicale(tmp_path_factory.mktemp("inbound") / "radicale")
    radicale = Radicale(server)
    server.mkcalendar("alice", "work")
    yield radicale
    shared.stop_radicale(server)


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
        self.radicale.client("alice").put(f"{CAL}{uid}.ics", text, create=True)
        return uid, self.tokens.token_for(m.ORGANIZER, f"mailto:{m.ATTENDEE}", uid, now=self.clock[0])

    def stored(self, uid: str) -> str:
        found = self.radicale.client().get(f"{CAL}{uid}.ics")
        return found.text if found else ""

    def put_stored(self, uid: str, text: str) -> None:
        self.radicale.client("alice").put(f"{CAL}{uid}.ics", text)

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
def world(tmp_path, inbound_radicale):
    radicale = inbound_radicale
    conn = db.connect(tmp_path / "gateway.db")
    clock = [time.time()]
    sent: list = []
    state = InboundState(conn, clock=lambda: clock[0])
    tokens = TokenStore(conn)
    processor = Processor(make_settings(), state, tokens.lookup, CalDAVEvents(radicale.client(), conn),
                          send=sent.append, clock=lambda: clock[0])
    yield World(conn, tokens, state, radicale, processor, sent, clock)
    conn.close()
