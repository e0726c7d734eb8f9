"""Pieces of the model-based test (test_model_stateful.py) that are not the state machine itself.

- `ModelSMTP`: the shared aiosmtpd server of conftest.py, with SMTPUTF8 switchable and chosen
  recipients refused (550) or deferred (451), as a real MX would;
- the organizer's client: events written and edited in iCalendar the way CalDAV clients do
  (GET, change, PUT; a move is PUT into the other calendar + DELETE);
- the attendee's client: the mail an attendee received, applied in arrival order (higher
  SEQUENCE wins, CANCEL removes the event or the instance), and a REPLY built from it;
- the oracle: both sides expanded into the set of instants (UTC start, UTC end) the attendee
  is expected at, so "same time and rule" is compared by meaning, not by text;
- `GatewayUnderTest`: the gateway's own objects on one state directory, driven step by step,
  restarted, and crashed between SMTP 250 and the commit.

Only the gateway's public pieces are used; where the package is being reorganised the
constructors are looked up by name (see `_scheduler_class`).
"""

from __future__ import annotations

import copy
import datetime as dt
import email
import email.message
import email.policy
import email.utils
import importlib
import inspect
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
from aiosmtpd.controller import Controller
from conftest import CALDAV_PASSWORD, SMTP_PASSWORD, Received, SMTPServer, _Handler
from dateutil import rrule as dateutil_rrule

from imip_gateway import db
from imip_gateway.caldav_client import CalDAVClient

ZONE = ZoneInfo("Europe/Berlin")
UTC = dt.timezone.utc
ORGANIZER = "alice@example.test"
LOCAL = "carol@example.test"              # a colleague: her copy is kept in her calendar
BOB, CARL = "bob@external.test", "carl@external.test"
JOERG_UTF8 = "jörg@bücher.example"        # non-ASCII local part: needs SMTPUTF8
JOERG_IDN = "joerg@bücher.example"        # ASCII local part, IDN domain: IDNA (xn--) works anywhere
REFUSED = "refused@external.test"         # the MX answers 550 to RCPT
LATER = "later@external.test"             # the MX answers 451 to RCPT (greylisting)
POOL = (BOB, CARL, JOERG_UTF8, JOERG_IDN, REFUSED, LATER, LOCAL)
NAMES = {BOB: "Bob", CARL: "Carl Carlsson", JOERG_UTF8: "Jörg Bücher", JOERG_IDN: "Joerg Bücher",
         REFUSED: "Refused", LATER: "Later", LOCAL: "Carol"}
# Start slots (local time in Berlin): a weekly series from the first one crosses the switch to
# summer time on 2030-03-31, so instances are compared in wall-clock time, as clients expand them.
SLOTS = ((2030, 3, 25, 9), (2030, 3, 27, 14), (2030, 3, 30, 11), (2030, 4, 2, 16))
DURATION = dt.timedelta(hours=1)
RULES = (None, "FREQ=WEEKLY;COUNT=4", "FREQ=DAILY;COUNT=3", "FREQ=WEEKLY;INTERVAL=2;COUNT=3")

VTIMEZONE = """BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE"""


def canonical(address: str) -> str:
    """`MAILTO:Joerg@XN--BCHER-KVA.example` -> `joerg@bücher.example`: one key per mailbox."""
    address = str(address).strip()
    if address.lower().startswith("mailto:"):
        address = address[len("mailto:"):]
    local, _at, domain = address.rpartition("@")
    labels = []
    for label in domain.lower().split("."):
        if label.startswith("xn--"):
            try:
                label = label.encode("ascii").decode("idna")
            except UnicodeError:
                pass
        labels.append(label)
    return f"{local.lower()}@{'.'.join(labels)}"


# ---------------------------------------------------------------- the MX
class _ModelHandler(_Handler):
    """conftest's handler (DATA recorded as Received), with the model's refused recipients."""

    async def handle_RCPT(self, _server, _session, envelope, address, _options):
        answer = self.server.refuse.get(canonical(address))
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"


@dataclass
class ModelSMTP(SMTPServer):
    """conftest's SMTP server (STARTTLS + AUTH), SMTPUTF8 on or off, some recipients refused."""

    smtputf8: bool = False
    refuse: dict[str, str] = field(default_factory=dict)

    def start(self) -> None:
        self.controller = Controller(_ModelHandler(self), hostname="127.0.0.1", port=self.port,
                                     server_hostname="smtp.test", tls_context=self.tls_context,
                                     require_starttls=True, auth_required=True, auth_require_tls=True,
                                     authenticator=self.authenticate, enable_SMTPUTF8=self.smtputf8)
        self.controller.start()


REFUSALS = {REFUSED: "550 5.1.1 No such user here", LATER: "451 4.7.1 Greylisted, try again later"}


def undeliverable(smtputf8: bool) -> set[str]:
    """Addresses whose jobs must end failed (not pending) on this server."""
    return {REFUSED} | (set() if smtputf8 else {JOERG_UTF8})


# ---------------------------------------------------------------- iCalendar helpers
def parse(text: str | bytes) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(text)


def serialize(calendar: icalendar.Calendar) -> str:
    return calendar.to_ical().decode("utf-8")


def vevents(calendar: icalendar.Calendar) -> list:
    return [c for c in calendar.subcomponents if c.name == "VEVENT"]


def as_utc(value) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    return dt.datetime(value.year, value.month, value.day, tzinfo=UTC)


def rid_key(component) -> str:
    """'' for the master, else the RECURRENCE-ID as a UTC instant (TZIDs and forms differ)."""
    rid = component.get("RECURRENCE-ID")
    return "" if rid is None else as_utc(rid.dt).strftime("%Y%m%dT%H%M%SZ")


def attendees(component) -> list:
    value = component.get("ATTENDEE")
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def attendee_prop(component, who: str):
    for prop in attendees(component):
        if canonical(prop) == canonical(who):
            return prop
    return None


def status(component) -> str:
    return str(component.get("STATUS", "")).upper()


def slot_start(slot: int) -> dt.datetime:
    year, month, day, hour = SLOTS[slot % len(SLOTS)]
    return dt.datetime(year, month, day, hour, tzinfo=ZONE)


def _local(value: dt.datetime) -> str:
    return value.astimezone(ZONE).strftime("%Y%m%dT%H%M%S")


def attendee_line(address: str) -> str:
    return (f"ATTENDEE;CN={NAMES.get(address, address)};PARTSTAT=NEEDS-ACTION;RSVP=TRUE;"
            f"ROLE=REQ-PARTICIPANT:mailto:{address}")


def new_event(uid: str, summary: str, people: list[str], slot: int, rule: str | None) -> str:
    """The event as a CalDAV client first writes it (VTIMEZONE included, SEQUENCE 0)."""
    start = slot_start(slot)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//imip.server tests//model organizer//EN",
             *VTIMEZONE.splitlines(), "BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260101T000000Z",
             f"DTSTART;TZID=Europe/Berlin:{_local(start)}", f"DTEND;TZID=Europe/Berlin:{_local(start + DURATION)}",
             f"SUMMARY:{summary}", "SEQUENCE:0"]
    if rule:
        lines.append(f"RRULE:{rule}")
    lines += [f"ORGANIZER;CN=Alice Example:mailto:{ORGANIZER}",
              f"ATTENDEE;CN=Alice Example;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:{ORGANIZER}"]
    lines += [attendee_line(a) for a in people]
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


def master_of(calendar: icalendar.Calendar):
    return next((c for c in vevents(calendar) if c.get("RECURRENCE-ID") is None), None)


def _touch(component, stamp: dt.datetime, bump: bool = False) -> None:
    component.pop("DTSTAMP", None)
    component.add("DTSTAMP", stamp)
    if bump:
        sequence = int(component.get("SEQUENCE", 0) or 0) + 1
        component.pop("SEQUENCE", None)
        component.add("SEQUENCE", sequence)


def _drop_exceptions(calendar: icalendar.Calendar) -> None:
    """What clients do when the series itself moves or its rule changes: exceptions go."""
    for component in list(vevents(calendar)):
        if component.get("RECURRENCE-ID") is not None:
            calendar.subcomponents.remove(component)
    master = master_of(calendar)
    master.pop("EXDATE", None)


def edit_add_attendee(calendar, address: str, stamp) -> bool:
    changed = False
    for component in vevents(calendar):
        if attendee_prop(component, address) is None:
            prop = icalendar.vCalAddress(f"mailto:{address}")
            prop.params.update({"CN": NAMES.get(address, address), "PARTSTAT": "NEEDS-ACTION", "RSVP": "TRUE",
                                "ROLE": "REQ-PARTICIPANT"})
            component.add("ATTENDEE", prop, encode=False)
            _touch(component, stamp)
            changed = True
    return changed


def edit_remove_attendee(calendar, address: str, stamp) -> bool:
    changed = False
    for component in vevents(calendar):
        kept = [p for p in attendees(component) if canonical(p) != canonical(address)]
        if len(kept) != len(attendees(component)):
            component.pop("ATTENDEE", None)
            for prop in kept:
                component.add("ATTENDEE", prop, encode=False)
            _touch(component, stamp)
            changed = True
    return changed


def edit_reschedule(calendar, slot: int, bump: bool, stamp) -> bool:
    master = master_of(calendar)
    start = slot_start(slot)
    if as_utc(master["DTSTART"].dt) == as_utc(start):
        return False
    _drop_exceptions(calendar)
    for name in ("DTSTART", "DTEND"):
        master.pop(name, None)
    master.add("DTSTART", start)
    master.add("DTEND", start + DURATION)
    _touch(master, stamp, bump)
    return True


def edit_rule(calendar, rule: str | None, bump: bool, stamp) -> bool:
    master = master_of(calendar)
    current = master.get("RRULE")
    if (current.to_ical().decode() if current is not None else None) == rule:
        return False
    _drop_exceptions(calendar)
    master.pop("RRULE", None)
    if rule:
        master.add("RRULE", icalendar.vRecur.from_ical(rule))
    _touch(master, stamp, bump)
    return True


def edit_cancel_instance(calendar, index: int, as_override: bool, stamp) -> str | None:
    """Cancel one live instance (EXDATE on the master, or an override STATUS:CANCELLED, as
    Outlook does); returns its key, or None when the event has no live instance to cancel."""
    master = master_of(calendar)
    if master.get("RRULE") is None:
        return None
    live = sorted(occurrences_of(calendar))
    if len(live) < 2:
        return None   # cancelling the last instance is deleting the event: another rule does that
    start = live[index % len(live)][0].astimezone(ZONE)
    key = start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    override = next((c for c in vevents(calendar) if rid_key(c) == key), None)
    if not as_override and override is None:
        master.add("EXDATE", start)
        _touch(master, stamp)
        return key
    if override is None:
        override = icalendar.Event()
        for name, value in master.property_items(recursive=False, sorted=False):
            if name.upper() not in ("BEGIN", "END", "RRULE", "RDATE", "EXDATE", "DTSTART", "DTEND"):
                override.add(name, copy.deepcopy(value), encode=False)
        override.add("RECURRENCE-ID", start)
        override.add("DTSTART", start)
        override.add("DTEND", start + DURATION)
        calendar.add_component(override)
    override.pop("STATUS", None)
    override.add("STATUS", "CANCELLED")
    _touch(override, stamp)
    return key


# ---------------------------------------------------------------- the oracle
def _exdates(component) -> set[dt.datetime]:
    value = component.get("EXDATE")
    items = value if isinstance(value, list) else [value] if value is not None else []
    return {as_utc(d.dt) for item in items for d in item.dts}


def _rule_starts(master) -> list[dt.datetime]:
    start = master["DTSTART"].dt
    rule = master.get("RRULE")
    if rule is None:
        return [start]
    # Wall-clock expansion in the event's zone (dateutil keeps tzinfo and moves the fields).
    return list(dateutil_rrule.rrulestr(rule.to_ical().decode(), dtstart=start))


def _master_starts(master) -> list[dt.datetime]:
    excluded = _exdates(master)
    return [s for s in _rule_starts(master) if as_utc(s) not in excluded]


def _span(component, start) -> tuple[dt.datetime, dt.datetime]:
    end = component.get("DTEND")
    length = (end.dt - component["DTSTART"].dt) if end is not None else DURATION
    return as_utc(start), as_utc(start + length)


def occurrences(components: list, who: str | None = None, cancelled: set[str] = frozenset()) -> frozenset:
    """The instants (UTC start, UTC end) of an event, for attendee `who` if given (only the
    components they are on); overrides replace their instance, STATUS:CANCELLED removes it."""
    master = next((c for c in components if c.get("RECURRENCE-ID") is None), None)
    found: dict[str, tuple] = {}

    def counts(component) -> bool:
        return status(component) != "CANCELLED" and (who is None or attendee_prop(component, who) is not None)

    if master is not None and counts(master):
        for start in _master_starts(master):
            found[as_utc(start).strftime("%Y%m%dT%H%M%SZ")] = _span(master, start)
    for component in components:
        key = rid_key(component)
        if not key:
            continue
        found.pop(key, None)
        if counts(component) and (master is None or status(master) != "CANCELLED"):
            found[key] = _span(component, component["DTSTART"].dt)
    for key in cancelled:
        found.pop(key, None)
    return frozenset(found.values())


def occurrences_of(calendar, who: str | None = None) -> frozenset:
    return occurrences(vevents(calendar), who)


def stray_overrides(calendar) -> list[str]:
    """Overrides whose RECURRENCE-ID is no instance of the series (RFC 5545 §3.8.4.4)."""
    master = master_of(calendar)
    if master is None:
        return []
    valid = {as_utc(s) for s in _rule_starts(master)}
    return [rid_key(c) for c in vevents(calendar) if c.get("RECURRENCE-ID") is not None
            and as_utc(c["RECURRENCE-ID"].dt) not in valid]


def describe(spans) -> list[str]:
    return [f"{s:%Y-%m-%d %H:%M}Z-{e:%H:%M}Z" for s, e in sorted(spans)]


# ---------------------------------------------------------------- the attendee's side
@dataclass
class Mail:
    """One message as the attendee's MUA sees it."""

    index: int
    recipient: str            # canonical address of the envelope recipient
    message_id: str
    method: str
    uid: str
    components: list
    timezones: list
    raw: bytes

    def keys(self) -> list[str]:
        return [rid_key(c) for c in self.components]

    def summary(self) -> str:
        parts = [f"{k or 'series'}@{int(c.get('SEQUENCE', 0) or 0)}" for k, c in zip(self.keys(), self.components)]
        return f"#{self.index} {self.method} {' '.join(parts)} {self.message_id}"


def parse_mail(index: int, received: Received) -> list[Mail]:
    msg = email.message_from_bytes(received.data, policy=email.policy.default)
    part = next((p for p in msg.walk() if p.get_content_type() == "text/calendar"), None)
    if part is None:
        return []
    calendar = parse(part.get_payload(decode=True))
    method = str(calendar.get("METHOD", "")).upper()
    components = vevents(calendar)
    timezones = [c for c in calendar.subcomponents if c.name == "VTIMEZONE"]
    uid = str(components[0].get("UID")) if components else ""
    return [Mail(index, canonical(rcpt), str(msg.get("Message-ID", "")), method, uid, components, timezones,
                 received.data) for rcpt in received.rcpt_tos]


@dataclass
class ClientCopy:
    """The attendee's calendar entry for one UID, built from the mail only."""

    components: dict[str, object] = field(default_factory=dict)   # key -> VEVENT
    cancelled: dict[str, int] = field(default_factory=dict)       # key -> SEQUENCE of the CANCEL
    timezones: list = field(default_factory=list)

    def sequence(self, key: str) -> int:
        component = self.components.get(key) or self.components.get("")
        return int(component.get("SEQUENCE", 0) or 0) if component is not None else -1

    def spans(self) -> frozenset:
        return occurrences(list(self.components.values()), None, set(self.cancelled))


def apply_mail(copy_: ClientCopy | None, mail: Mail) -> ClientCopy | None:
    """RFC 5546 §2.1.5 as clients apply it: a message older than what is held is ignored."""
    by_key = dict(zip(mail.keys(), mail.components))
    seq = {k: int(c.get("SEQUENCE", 0) or 0) for k, c in by_key.items()}
    if mail.method == "REQUEST":
        if "" in by_key:
            if copy_ is not None and "" in copy_.components and seq[""] < copy_.sequence(""):
                return copy_
            return ClientCopy(dict(by_key), {}, list(mail.timezones))   # a full update replaces all
        copy_ = copy_ or ClientCopy(timezones=list(mail.timezones))
        for key, component in by_key.items():
            if seq[key] >= max(copy_.sequence(key), copy_.cancelled.get(key, -1)):
                copy_.components[key] = component
                copy_.cancelled.pop(key, None)
        return copy_
    if mail.method == "CANCEL" and copy_ is not None:
        if "" in by_key:
            return None if seq[""] >= copy_.sequence("") else copy_
        for key in by_key:
            if seq[key] >= copy_.sequence(key):
                copy_.cancelled[key] = seq[key]
                copy_.components.pop(key, None)
        if not copy_.spans():
            return None
    return copy_


def reply_message(copy_: ClientCopy, attendee: str, partstat: str, key: str | None, when: dt.datetime,
                  index: int) -> bytes:
    """What the attendee's client mails back: METHOD:REPLY, their ATTENDEE with PARTSTAT, the
    SEQUENCE (and RECURRENCE-ID) of the message answered, To the ORGANIZER they received."""
    master = copy_.components.get("") or next(iter(copy_.components.values()))
    source = copy_.components.get(key or "") if key else master
    out = icalendar.Calendar()
    out.add("PRODID", "-//imip.server tests//model attendee//EN")
    out.add("VERSION", "2.0")
    out.add("METHOD", "REPLY")
    for timezone in copy_.timezones:
        out.add_component(copy.deepcopy(timezone))
    event = icalendar.Event()
    event.add("UID", str(master["UID"]))
    event.add("DTSTAMP", when)
    answered = source if source is not None else master
    if key:
        instant = dt.datetime.strptime(key, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        zone = master["DTSTART"].dt.tzinfo or UTC
        event.add("RECURRENCE-ID", instant.astimezone(zone))
        event.add("DTSTART", source["DTSTART"].dt if source is not None else instant.astimezone(zone))
    else:
        event.add("DTSTART", master["DTSTART"].dt)
    event.add("SEQUENCE", int(answered.get("SEQUENCE", 0) or 0))
    event.add("SUMMARY", str(master.get("SUMMARY", "")))
    organizer = master["ORGANIZER"]
    event.add("ORGANIZER", organizer, encode=False)
    mine = attendee_prop(answered, attendee) or icalendar.vCalAddress(f"mailto:{attendee}")
    prop = icalendar.vCalAddress(str(mine))
    prop.params["PARTSTAT"] = partstat
    if mine.params.get("CN"):
        prop.params["CN"] = str(mine.params["CN"])
    event.add("ATTENDEE", prop, encode=False)
    out.add_component(event)
    token_address = str(organizer)[len("mailto:"):]
    msg = email.message.EmailMessage(policy=email.policy.SMTPUTF8)
    msg["From"] = f"{NAMES.get(attendee, 'Attendee')} <{attendee}>"
    msg["To"] = token_address
    msg["Subject"] = f"{partstat.title()}: {master.get('SUMMARY', '')}"
    msg["Date"] = email.utils.format_datetime(when)
    msg["Message-ID"] = f"<model-reply-{index}-{uuid.uuid4().hex[:8]}@external.test>"
    # The site's MTA verified the attendee's provider's signature (authserv-id: the test
    # gateway's instance_id, as gateway_ini in conftest.py sets it; the default policy reads it).
    # A signature's d= is ASCII: an IDN domain signs as its A-labels (RFC 6376 3.5).
    msg["Authentication-Results"] = f"test-gw; dkim=pass header.d={attendee.rpartition('@')[2].encode('idna').decode()}"
    msg.set_content(serialize(out), subtype="calendar", charset="utf-8", params={"method": "REPLY"})
    return msg.as_bytes()


# ---------------------------------------------------------------- the gateway under test
class Crash(BaseException):
    """The process died right after the server's 250, before the job was committed as sent.

    A BaseException, so that the per-job isolation (which catches Exception) lets it through,
    as it would let a SIGKILL through."""


class CrashingSubmitter:
    """The gateway's own Submitter; when armed, the next accepted message is followed by a crash."""

    def __init__(self, inner):
        self.inner = inner
        self.armed = False
        self.crashed_ids: list[str] = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def send(self, message, *args, **kwargs):
        outcome = self.inner.send(message, *args, **kwargs)
        if self.armed and getattr(outcome, "ok", False):
            self.armed = False
            self.crashed_ids.append(str(message["Message-ID"]))
            raise Crash(str(message["Message-ID"]))
        return outcome


def _submitter_class():
    for name in ("imip_gateway.submission", "imip_gateway.outbound.smtp"):
        try:
            return importlib.import_module(name).Submitter
        except (ModuleNotFoundError, AttributeError):
            continue
    raise AssertionError("no Submitter in imip_gateway.submission or imip_gateway.outbound.smtp")


def _scheduler_classes() -> list:
    """The outbound loops, wherever they live: the send loop (`step()`), and where write-backs
    run in their own thread, that loop too (`CalDAVWork.step()`)."""
    try:
        scheduler = importlib.import_module("imip_gateway.outbound.scheduler")
    except ModuleNotFoundError:
        scheduler = None
    if scheduler is not None and hasattr(getattr(scheduler, "Outbound", None), "step"):
        extra = getattr(scheduler, "CalDAVWork", None)
        return [scheduler.Outbound] + ([extra] if extra is not None else [])
    service = importlib.import_module("imip_gateway.service")
    if hasattr(getattr(service, "Outbound", None), "step"):
        return [service.Outbound]
    raise AssertionError("no outbound scheduler class with a step() method found")


def _lock(state_dir: Path):
    """The state directory's lock, as `imip-gateway run` takes it (None where there is none)."""
    try:
        statelock = importlib.import_module("imip_gateway.statelock")
    except ModuleNotFoundError:
        return None
    return statelock.acquire(state_dir)


def _build(cls, **available):
    """Call cls with the parameters it names, taken from `available` (aliases allowed)."""
    aliases = {"config": "cfg", "smtp": "submitter", "client": "caldav", "connection": "conn"}
    kwargs = {}
    for name, param in inspect.signature(cls).parameters.items():
        key = aliases.get(name, name)
        if key in available:
            kwargs[name] = available[key]
        elif param.default is inspect.Parameter.empty and param.kind not in (param.VAR_KEYWORD,
                                                                             param.VAR_POSITIONAL):
            raise AssertionError(f"{cls.__module__}.{cls.__name__} needs {name!r}: update model_support._build")
    return cls(**kwargs)


def make_processor(cfg, conn, caldav, send):
    """The inbound Processor wired as the service wires it (real tokens, CalDAV, SEQUENCE store)."""
    from imip_gateway.inbound import service as inbound_service
    service = _build(inbound_service.InboundService, cfg=cfg, conn=conn, imap_password="model-unused",
                     caldav=caldav, send=send)
    return service.processor


class LogTail(logging.Handler):
    """The gateway's warnings and errors of one run, quoted in the invariants' messages."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.name}: {record.getMessage()}"[:400])

    def tail(self, count: int = 12) -> str:
        if not self.lines:
            return "gateway log: no warnings"
        return "\n    ".join(["gateway log (warnings):"] + self.lines[-count:])

    def __enter__(self) -> "LogTail":
        logging.getLogger("imip_gateway").addHandler(self)
        return self

    def __exit__(self, *_exc) -> None:
        logging.getLogger("imip_gateway").removeHandler(self)


@dataclass
class StepFailure:
    error: BaseException
    text: str


class GatewayUnderTest:
    """The gateway's objects on one state directory; `restart()` is a new process's worth of them."""

    def __init__(self, cfg, spool_dir: Path):
        self.cfg = cfg
        self.spool_dir = spool_dir
        self.forwards: list = []
        self.crashed_ids: list[str] = []
        self.armed = False
        self.restarts = 0
        self.log = LogTail().__enter__()
        self._open()

    def _open(self) -> None:
        cfg = self.cfg
        self.lock = _lock(cfg.gateway.state_dir)   # a second holder would be refused: proves the restart
        self.conns = []
        self.clients = []

        def conn():
            self.conns.append(db.connect(cfg.gateway.db_path))   # one per thread, as the service has
            return self.conns[-1]

        def caldav():
            self.clients.append(CalDAVClient(cfg.caldav.url, cfg.caldav.user, CALDAV_PASSWORD))
            return self.clients[-1]

        inner = _submitter_class()(cfg.smtp.host, cfg.smtp.port, cfg.smtp.user, SMTP_PASSWORD,
                                   starttls=cfg.smtp.starttls, ca_file=cfg.smtp.ca_file,
                                   timeout=cfg.smtp.timeout_seconds)
        self.submitter = CrashingSubmitter(inner)
        self.submitter.armed = self.armed
        self.conn = conn()
        self.loops = [_build(cls, cfg=cfg, conn=self.conn if not i else conn(), submitter=self.submitter,
                             caldav=caldav()) for i, cls in enumerate(_scheduler_classes())]
        self.processor = make_processor(cfg, conn(), caldav(), self.forwards.append)

    def close(self) -> None:
        self.log.__exit__()
        closers = [self.submitter.inner.close] + [c.close for c in self.clients] + [c.close for c in self.conns]
        if self.lock is not None:
            closers.append(self.lock.release)
        for closing in closers:
            try:
                closing()
            except Exception:  # noqa: BLE001 - a crashed process closes nothing either
                pass

    def restart(self) -> None:
        self.armed = self.submitter.armed
        self.close()
        self.log.__enter__()
        self.restarts += 1
        self._open()

    def arm_crash(self) -> None:
        self.armed = self.submitter.armed = True

    # ------------------------------------------------------------ driving
    def leftovers(self) -> list[str]:
        """What a drained gateway should not still have: spool records, unplanned changes,
        write-backs due."""
        now = time.time()
        found = []
        new_dir = self.spool_dir / "hook" / "new"
        if new_dir.is_dir():
            found += [f"spool record {p.name}" for p in new_dir.iterdir() if p.suffix == ".json"]
        found += [f"change {r[0]} ({r[1]} {r[2]}) never planned" for r in self.conn.execute(
            "SELECT id, type, point FROM changes WHERE state = 'new'")]
        found += [f"SCHEDULE-STATUS {r[0]} for {r[1]} due, not written" for r in self.conn.execute(
            "SELECT status, attendee FROM schedule_status WHERE done IS NULL AND next_attempt <= ?", (now,))]
        found += [f"local {r[0]} ({r[1]}) for {r[2]} {r[3]}: {r[4]}" for r in self.conn.execute(
            "SELECT method, reason, attendee, state, last_error FROM local_deliveries"
            " WHERE (state = 'pending' AND next_attempt <= ?) OR state = 'failed'", (now,))]
        return found

    def drain(self, max_rounds: int = 300, max_seconds: float = 60.0) -> StepFailure | None:
        """Run the service's loops until a round finds nothing to do (bounded), let time pass
        once, and again. A Crash restarts the gateway; any other exception is returned: the
        service loop would meet it again each round."""
        deadline = time.monotonic() + max_seconds
        idle = 0
        waited = False
        for _round in range(max_rounds):
            if time.monotonic() > deadline:
                break
            try:
                # Every loop steps each round (a generator would stop at the first busy one).
                steps = [loop.step() for loop in self.loops]
                busy = any(steps)
            except Crash as crash:
                self.crashed_ids.append(str(crash))
                self.restart()
                continue
            except Exception as exc:  # noqa: BLE001 - reported as the finding it is
                return StepFailure(exc, f"outbound step raised {type(exc).__name__}: {exc}")
            idle = 0 if busy else idle + 1
            if idle >= 2:
                if waited or not self.let_time_pass():
                    return None
                waited, idle = True, 0
        return StepFailure(AssertionError("no progress"), f"not drained after {max_rounds} rounds / {max_seconds} s")

    def let_time_pass(self) -> bool:
        """Between the organizer's actions and the check, time passes: what the gateway scheduled
        for later (a deleted event's CANCEL held for a possible move, a retry after 451) is due
        now. The gateway's clock is the system's, so the schedule is moved, not the clock."""
        with db.transaction(self.conn):
            moved = self.conn.execute("UPDATE jobs SET next_attempt = ? WHERE state = 'pending' AND next_attempt > ?",
                                      (time.time(), time.time())).rowcount
            moved += self.conn.execute("UPDATE local_deliveries SET next_attempt = ? WHERE state = 'pending'"
                                       " AND next_attempt > ?", (time.time(), time.time())).rowcount
            return moved > 0

    def process_reply(self, raw: bytes, arrival: dt.datetime):
        return self.processor.process(raw, arrival=arrival)

    # ------------------------------------------------------------ what the database says
    def jobs(self) -> list[dict]:
        rows = self.conn.execute("SELECT * FROM jobs ORDER BY created, id").fetchall()
        return [dict(r) for r in rows]

    def error_changes(self) -> list[dict]:
        rows = self.conn.execute("SELECT id, type, point, uid, note FROM changes WHERE state = 'error'").fetchall()
        return [dict(r) for r in rows]


def job_line(job: dict) -> str:
    sequences = job.get("sequences")
    try:
        sequences = json.loads(sequences) if sequences else None
    except ValueError:
        pass
    return (f"{job['method']} ({job['reason']}) to {job['attendee']} uid={job['uid']} state={job['state']}"
            f" attempts={job['attempts']} seq={sequences} error={job.get('last_error')}")
