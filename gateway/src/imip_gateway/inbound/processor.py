"""One inbound message in, one decision out: the folder it belongs in and what changed.

A message the mail system handed over for a local user (inbound.invitations) is checked and
written into that user's calendar, never forwarded. For the others, the order of checks: loop
header, bounce, size and shape of the calendar, token, sender authentication, METHOD, validation
against the token and the stored event, ordering, write-back, forward. Every path ends in a folder; only a transient failure (CalDAV unreachable) leaves the
message in INBOX for the next pass. No exception escapes ``Processor.process``: a bug files the
message in Rejected with the exception's type as the reason (the traceback is logged at debug level).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from typing import Protocol

from imip_gateway.addresses import base_local_part, domain_of, from_calendar_address, is_address, split_address

from . import authres, dsn, eventedit, mime
from .forward import LOOP_HEADER, build_forward
from .ical import ICalError, parse
from .invitations import CalendarUnreachable, Invitations, handoff_recipient
from .itip import PARTSTATS, Instance, ItipMessage, parse_itip
from .recipients import InviteAddress, TokenCandidate, header_text, token_candidates
from .state import AppliedReply, InboundState, iso, message_key

__all__ = [
    "Decision",
    "EventStore",
    "FOLDERS",
    "InboundSettings",
    "Processor",
    "StoredEvent",
    "TransientError",
]

log = logging.getLogger("imip_gateway.inbound")

PROCESSED, REJECTED, FORWARDED, UNKNOWN = "Processed", "Rejected", "Forwarded", "Unknown"
FOLDERS = (PROCESSED, REJECTED, FORWARDED, UNKNOWN)
PUT_ATTEMPTS = 5
# Clocks of senders run ahead by minutes at most; a DTSTAMP or Date further ahead than this is
# read as its arrival time, or one reply dated 2099 would make every later one look older.
CLOCK_SKEW = dt.timedelta(minutes=5)


class TransientError(Exception):
    """CalDAV or SMTP could not be reached: try the same message again later."""


@dataclass
class StoredEvent:
    href: str
    etag: str | None
    text: str


class EventStore(Protocol):
    """The organizer's events over CalDAV (adapter over imip_gateway.caldav_client)."""

    def find(self, organizer: str, uid: str) -> StoredEvent | None: ...

    def put(self, event: StoredEvent, text: str) -> bool:
        """Write with If-Match: event.etag; False when the server answers 412."""


@dataclass
class InboundSettings:
    invitation_address: str
    instance_id: str
    local_domains: tuple[str, ...] = ()
    site_name: str = "Calendar"
    max_itip_bytes: int = 524288
    max_vevents: int = 100
    token_ttl_days: int = 90  # judged by the token store (Token.expired), not here
    auth_policy: str = "require_dkim_or_spf"
    authserv_id: str = ""
    forward_limit_per_hour: int = 20

    @property
    def invite(self) -> InviteAddress:
        return InviteAddress.from_config(self.invitation_address, self.local_domains)


@dataclass
class Decision:
    folder: str | None  # None: transient failure, leave the message where it is
    outcome: str
    reason: str = ""
    key: str = ""
    message_id: str = ""
    token: str | None = None
    uid: str | None = None
    attendee: str | None = None
    forward_kind: str | None = None
    forward_details: str = ""
    forward_to: str | None = None
    applied: list = field(default_factory=list)
    duplicate: bool = False
    forward_pending: bool = False  # the forward is not sent yet: keep the message in INBOX

    @property
    def ready_to_file(self) -> bool:
        return self.folder is not None and not self.forward_pending

    def log_line(self) -> str:
        token = (self.token[:8] + "…") if self.token else "-"
        reason = self.reason.replace('"', "'")
        return (f"inbound message={self.message_id or '-'} token={token} uid={self.uid or '-'} "
                f"attendee={self.attendee or '-'} outcome={self.outcome} folder={self.folder or 'INBOX'} "
                f'reason="{reason}"')


def _date_header(msg: Message) -> dt.datetime | None:
    try:
        value = email.utils.parsedate_to_datetime(str(msg.get("Date", "")))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _body_of(raw: bytes) -> bytes:
    for sep in (b"\r\n\r\n", b"\n\n"):
        idx = raw.find(sep)
        if idx >= 0:
            return raw[idx + len(sep):]
    return b""


def _clamped(text: str | None, arrival: str | None) -> str | None:
    """`text` (a DTSTAMP or Date header, ISO, UTC, comparable as text), but never later than the
    message's arrival plus CLOCK_SKEW: a reply from the future must not outrank every later one.
    Applied when two replies are compared, never when one is stored: stored as written, two
    copies of one reply stay equal whatever second each arrived in."""
    if text and arrival:
        limit = (dt.datetime.strptime(arrival, "%Y-%m-%dT%H:%M:%SZ") + CLOCK_SKEW).strftime("%Y-%m-%dT%H:%M:%SZ")
        return arrival if text > limit else text
    return text


def newer(reply: AppliedReply, last: AppliedReply) -> bool:
    """RFC 5546 §2.1.5: higher SEQUENCE wins; then later DTSTAMP; then later Date header
    (iOS and Outlook for Mac copy the request's DTSTAMP into every reply); arrival only where a
    Date is missing. All equal: not newer, so replaying a message changes nothing."""
    if reply.sequence != last.sequence:
        return reply.sequence > last.sequence
    by_stamp = _later(reply.dtstamp, last.dtstamp, reply.arrival, last.arrival)
    if by_stamp is not None:
        return by_stamp
    if reply.date_header and last.date_header:
        return bool(_later(reply.date_header, last.date_header, reply.arrival, last.arrival))
    if reply.arrival and last.arrival:
        return reply.arrival > last.arrival
    return False


def _later(value: str | None, last: str | None, arrival: str | None, last_arrival: str | None) -> bool | None:
    """Whether `value` is later than `last` (two DTSTAMPs or two Date headers), or None when
    that cannot tell. Equal as written means equal: each clamped to its own arrival, the same
    future stamp would otherwise read as two times, and a replayed copy would win."""
    if not value or not last or value == last:
        return None
    value, last = _clamped(value, arrival), _clamped(last, last_arrival)
    return None if value == last else value > last


@dataclass
class _Reply:
    """What every step of one REPLY's write-back needs."""

    itip: ItipMessage
    token: object
    base: dict
    organizer: str
    attendee: str
    date_header: str | None
    arrival: dt.datetime
    rejected: Callable[..., Decision]


@dataclass
class _Edits:
    """What the instances of one REPLY did to the stored event."""

    applied: list = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    changed: bool = False


def _statuses(partstat: str, request_status: str | None) -> tuple[str | None, str]:
    """(new PARTSTAT or None, SCHEDULE-STATUS): a 3.x/5.x REQUEST-STATUS reports a failure and
    changes no PARTSTAT. `request_status` is a validated status code (itip.STATUS_CODE)."""
    if request_status and request_status[:1] in ("3", "5"):
        return None, request_status
    return partstat, request_status if request_status and request_status[:1] == "2" else "2.0"


def _applied_decision(ctx: _Reply, edits: _Edits) -> Decision:
    """The Processed decision, with a forward when the reply carries a comment or a proposal."""
    itip = ctx.itip
    comments = [c for inst in itip.instances for c in inst.comments]
    proposal = _proposal_text(itip) if any(i.proposal for i in itip.instances) else ""
    decision = Decision(PROCESSED, "applied " + ", ".join(edits.outcomes),
                        "" if edits.changed else "event already said so", **ctx.base, applied=edits.applied)
    if comments or proposal:
        decision.forward_kind = "counter" if proposal else "comment"
        decision.forward_to = ctx.organizer
        decision.forward_details = "\n\n".join(filter(None, [
            "Comment: " + "\n".join(comments) if comments else "", proposal]))
        decision.reason = (decision.reason + "; " if decision.reason else "") + (
            "proposal forwarded" if proposal else "comment forwarded")
    return decision


class Processor:
    def __init__(
        self,
        settings: InboundSettings,
        state: InboundState,
        lookup_token: Callable[[str], object | None],
        events: EventStore,
        send: Callable[[object], None] | None = None,
        last_sent_sequence: Callable[[str, str, str, str], int | None] | None = None,
        clock: Callable[[], float] = time.time,
        invitations: Invitations | None = None,
        refresh: Callable[[str, str, str], str] | None = None,
    ):
        """`invitations` writes the invitations the mail system hands over for local users
        (inbound.invitations); without it such a message is filed in Rejected. `refresh(organizer,
        uid, attendee)` answers an attendee's REFRESH (returns what was done); without it a
        REFRESH is forwarded to the organizer like any other request."""
        self.settings = settings
        self.invite = settings.invite
        self.state = state
        self.lookup_token = lookup_token
        self.events = events
        self.send = send
        self.last_sent_sequence = last_sent_sequence
        self.clock = clock
        self.invitations = invitations
        self.refresh = refresh

    # ================================================================== entry point
    def process(self, raw: bytes, *, arrival: dt.datetime | None = None,
                imap_ref: tuple[int, int] | None = None) -> Decision:
        """Decide, apply, record, forward. Never raises."""
        try:
            msg = mime.parse_message(raw)
            message_id = " ".join(str(msg.get("Message-ID", "") or "").split())[:250]
        except Exception as exc:  # noqa: BLE001 - the parser is lenient; this is a last fence
            msg, message_id = None, ""
            log.debug("unparseable message: %s", exc)
        key, body_hash = message_key(message_id, _body_of(raw), handoff_recipient(raw))
        try:
            record = self.state.get(key)
            if record is not None and record.state != "processing" and record.folder:
                decision = Decision(record.folder, record.outcome or "duplicate",
                                    f"already processed ({record.reason})", key, message_id,
                                    record.token, record.ical_uid, record.attendee, duplicate=True)
                decision.forward_pending = self._finish_forward(
                    record.key, raw, msg, record.forward_kind, record.forward_details, record.forward_to,
                    record.reason, record.forward_state)
                log.info(decision.log_line())
                return decision
            self.state.begin(key, message_id, body_hash, imap_ref)
        except Exception as exc:  # noqa: BLE001 - the database is our hand-off: no decision without it
            decision = Decision(None, "deferred", f"state database: {type(exc).__name__}: {exc}", key, message_id)
            log.error(decision.log_line())
            return decision

        try:
            if msg is None:
                decision = Decision(REJECTED, "rejected", "message could not be parsed")
            else:
                decision = self._decide(raw, msg, arrival or dt.datetime.now(dt.timezone.utc))
        except TransientError as exc:
            decision = Decision(None, "deferred", f"transient: {exc}")
        except Exception as exc:  # noqa: BLE001 - a bug must not stop the mailbox: file and say so
            log.debug("internal error on %s:\n%s", message_id, traceback.format_exc())
            decision = Decision(REJECTED, "rejected", f"internal error: {type(exc).__name__}")
        decision.key, decision.message_id = key, message_id

        if decision.folder is None:
            log.warning(decision.log_line())
            return decision
        try:
            self.state.decide(key, folder=decision.folder, outcome=decision.outcome, reason=decision.reason,
                              token=decision.token, ical_uid=decision.uid, attendee=decision.attendee,
                              forward_kind=decision.forward_kind, forward_details=decision.forward_details,
                              forward_to=decision.forward_to, applied=decision.applied)
        except Exception as exc:  # noqa: BLE001
            decision = Decision(None, "deferred", f"state database: {type(exc).__name__}: {exc}", key, message_id)
            log.error(decision.log_line())
            return decision
        log.info(decision.log_line())
        if decision.forward_kind:
            decision.forward_pending = self._finish_forward(
                key, raw, msg, decision.forward_kind, decision.forward_details, decision.forward_to,
                decision.reason, "pending")
        return decision

    # ================================================================== forwarding
    def _finish_forward(self, key, raw, msg, kind, details, organizer, reason, forward_state) -> bool:
        """Send a pending forward once; True while it is still pending (SMTP failed)."""
        if not kind or forward_state != "pending" or not organizer or msg is None:
            return False
        since = self.clock() - 3600
        if self.state.forwards_since(organizer, since) >= self.settings.forward_limit_per_hour:
            self.state.set_forward_state(key, "suppressed")
            log.warning("inbound forward to %s suppressed: more than %d forwards in the last hour",
                        organizer, self.settings.forward_limit_per_hour)
            return False
        if self.send is None:
            self.state.set_forward_state(key, "suppressed")
            log.warning("inbound forward to %s not sent: no mail sender configured", organizer)
            return False
        try:
            forward = build_forward(
                raw, msg, kind=kind, reason=reason or "", organizer=organizer,
                invitation_address=self.settings.invitation_address, site_name=self.settings.site_name,
                instance_id=self.settings.instance_id, message_key=key, details=details or "")
        except Exception as exc:  # noqa: BLE001 - a hostile original must not block the mailbox
            self.state.set_forward_state(key, "suppressed")
            log.warning("inbound forward to %s not built: %s: %s", organizer, type(exc).__name__, exc)
            return False
        try:
            self.send(forward)
        except Exception as exc:  # noqa: BLE001 - stays pending; the next pass retries it
            log.warning("inbound forward to %s failed, will retry: %s: %s", organizer, type(exc).__name__, exc)
            return True
        self.state.set_forward_state(key, "sent", organizer)
        return False

    # ================================================================== the decision
    def _decide(self, raw: bytes, msg: Message, arrival: dt.datetime) -> Decision:
        settings = self.settings
        loop = msg.get_all(LOOP_HEADER) or []
        recipient = handoff_recipient(raw)
        if recipient is not None:
            if any(str(v).strip() == settings.instance_id for v in loop):
                return Decision(PROCESSED, "invitation ignored", "our own message, handed over", attendee=recipient)
            return self._handoff(msg, recipient)
        if any(str(v).strip() == settings.instance_id for v in loop):
            return Decision(REJECTED, "dropped", "carries our own loop header")

        bounce = dsn.detect_bounce(msg)
        if bounce is not None:
            return self._bounce(msg, bounce)

        extraction = mime.extract_calendars(msg, settings.max_itip_bytes)
        itip, parse_error = _read_itip(extraction.first)
        candidates = token_candidates(msg, self.invite, itip.organizer if itip else None)
        token = self._lookup(candidates)
        if token is None:
            return self._unknown(candidates, itip)

        base = dict(token=token.token, uid=token.uid, attendee=from_calendar_address(token.attendee))
        organizer_addr = from_calendar_address(token.organizer)

        def rejected(reason: str, forward: bool = True, details: str = "") -> Decision:
            return Decision(REJECTED, "rejected", reason, **base,
                            forward_kind="rejected" if forward else None, forward_details=details,
                            forward_to=organizer_addr if forward else None)

        if getattr(token, "expired", False):
            # The token store judges a token's lifetime (contract: Token.expired); a late reply
            # still reaches the organizer, once, instead of vanishing.
            decision = rejected("token expired: the reply came after the invitation's reply address "
                                "was retired; forwarded to the organizer")
            decision.outcome = "expired token"
            return decision

        refused = self._shape_problem(msg, extraction, itip, parse_error, base, organizer_addr, rejected)
        if refused is not None:
            return refused
        method = itip.method

        # Authenticated for the domain of the attendee the token was issued to (not the From).
        attendee_domain = domain_of(base["attendee"] or "") or None
        verdict = authres.evaluate(msg, settings.auth_policy, settings.authserv_id, attendee_domain)
        if not verdict.passed:
            return rejected(f"sender authentication: {verdict.note}")
        if verdict.policy == "warn" and verdict.note.startswith("warning"):
            log.info("inbound message %s: %s", msg.get("Message-ID", "-"), verdict.note)

        if method == "COUNTER":
            return Decision(FORWARDED, "forwarded", "COUNTER: proposal forwarded, no state change", **base,
                            forward_kind="counter", forward_to=organizer_addr,
                            forward_details=_proposal_text(itip))
        if method == "REFRESH" and self.refresh is not None:
            return self._refresh(itip, token, base, rejected)
        if method != "REPLY":
            return Decision(FORWARDED, "forwarded", f"METHOD:{method} is never applied", **base,
                            forward_kind="request", forward_to=organizer_addr)
        return self._reply(msg, itip, token, base, organizer_addr, arrival, rejected)

    def _handoff(self, msg: Message, recipient: str) -> Decision:
        """A local user's calendar mail, handed over by the mail system: never answered by mail."""
        if self.invitations is None:
            return Decision(REJECTED, "invitation rejected", "local invitations are not set up in this gateway",
                            attendee=recipient)
        try:
            verdict = self.invitations.decide(msg, recipient)
        except CalendarUnreachable as exc:
            raise TransientError(str(exc)) from None
        return Decision(REJECTED if verdict.rejected else PROCESSED, f"invitation {verdict.outcome}", verdict.reason,
                        uid=verdict.uid, attendee=recipient)

    def _shape_problem(self, msg, extraction, itip, parse_error, base, organizer_addr, rejected) -> Decision | None:
        """The decision when the calendar is missing, too big, unreadable or not iTIP; else None."""
        settings = self.settings
        if extraction.oversize:
            return rejected(f"calendar part of {max(extraction.oversize)} bytes exceeds max_itip_bytes "
                            f"{settings.max_itip_bytes}")
        if extraction.truncated:
            return rejected(f"more than {mime.MAX_PARTS} MIME parts or nested deeper than {mime.MAX_DEPTH}")
        if extraction.first is None:
            return Decision(FORWARDED, "forwarded", "no calendar part (non-iTIP mail)", **base,
                            forward_kind="non-itip", forward_to=organizer_addr)
        if itip is None:
            return rejected(f"calendar part unreadable: {parse_error}")
        if len(itip.instances) > settings.max_vevents:
            return rejected(f"{len(itip.instances)} VEVENTs exceed the limit of {settings.max_vevents}")
        if itip.method_mismatch:
            log.info("inbound message %s: Content-Type method=%s but METHOD:%s; METHOD decides",
                     msg.get("Message-ID", "-"), itip.method_param, itip.calendar.value("METHOD"))
        if not itip.method:
            # RFC 6047 §2.4 Note 2: no method anywhere is not an iMIP part (a person's .ics).
            return Decision(FORWARDED, "forwarded", "calendar without METHOD (not iTIP)", **base,
                            forward_kind="non-itip", forward_to=organizer_addr)
        return None

    def _lookup(self, candidates: list[TokenCandidate]):
        for cand in candidates:
            token = self.lookup_token(cand.token)
            if token is not None:
                return token
        return None

    def _unknown(self, candidates: list[TokenCandidate], itip: ItipMessage | None) -> Decision:
        """No token of ours: forwarded once to a local organizer the calendar names, else
        Unknown (kept 72 h, Apple's rule) or, without any token address, Rejected."""
        if not candidates:
            return Decision(REJECTED, "rejected", "not addressed to a token address; nobody to forward to")
        first = candidates[0]
        organizer = self._local_organizer(itip)
        if organizer is None:
            return Decision(UNKNOWN, "unknown token", f"token {first.token[:8]}… from {first.source} is not ours "
                            "(kept 72 h)", token=first.token)
        return Decision(REJECTED, "unknown token", f"token {first.token[:8]}… from {first.source} is not known "
                        "(expired and purged?); forwarded to the organizer the calendar names",
                        token=first.token, forward_kind="rejected", forward_to=organizer)

    def _local_organizer(self, itip: ItipMessage | None) -> str | None:
        """The calendar's ORGANIZER (its EMAIL parameter, then its value) when it is a plain
        address in one of our domains and not the invitation address itself: mail from a
        stranger must not make the gateway write to anyone outside, nor to itself."""
        if itip is None:
            return None
        for inst in itip.instances:
            prop = inst.component.get("ORGANIZER")
            if prop is None:
                continue
            for value in (prop.param("EMAIL"), prop.value):
                address = from_calendar_address(value)
                local, domain = split_address(address)
                if (not is_address(address, root_dot=True) or domain.rstrip(".") not in self.invite.domains
                        or base_local_part(local) == self.invite.local):
                    continue
                return address
        return None

    # ------------------------------------------------------------------ REFRESH
    def _refresh(self, itip: ItipMessage, token, base, rejected) -> Decision:
        """RFC 5546 §3.2.6: the attendee asks for the event as it stands; it is mailed to them
        again (the outbound half queues it), nothing is written."""
        if itip.uids != {token.uid}:
            return rejected(f"calendar UID {', '.join(sorted(itip.uids)) or '(none)'} is not the token's UID")
        asking = {from_calendar_address(a.value) for inst in itip.instances for a in inst.attendees}
        if asking != {base["attendee"]}:
            return rejected(f"REFRESH from {', '.join(sorted(asking)) or 'nobody'}, not the token's attendee")
        return Decision(PROCESSED, "refreshed", self.refresh(token.organizer, token.uid, base["attendee"]), **base)

    # ------------------------------------------------------------------ REPLY
    def _reply(self, msg, itip: ItipMessage, token, base, organizer_addr, arrival, rejected) -> Decision:
        attendee = base["attendee"]
        if itip.uids != {token.uid}:
            return rejected(f"calendar UID {', '.join(sorted(itip.uids)) or '(none)'} is not the token's UID")
        for inst in itip.instances:
            if len(inst.attendees) != 1:
                return rejected(f"{len(inst.attendees)} VEVENT-level ATTENDEEs (a REPLY has exactly one)")
            replying = from_calendar_address(inst.attendees[0].value)
            if replying != attendee:
                return rejected(f"attendee {replying} is not the token's attendee")
            partstat = (inst.attendees[0].param("PARTSTAT") or "").upper()
            if partstat not in PARTSTATS:
                return rejected(f"PARTSTAT {partstat or '(none)'} is not a VEVENT participation status")

        ctx = _Reply(itip, token, base, organizer_addr, attendee, iso(_date_header(msg)), arrival, rejected)
        for attempt in range(PUT_ATTEMPTS):
            result = self._write_back(ctx)
            if result is not None:
                return result
            log.info("inbound uid=%s: event changed meanwhile (412), re-reading (attempt %d)",
                     token.uid, attempt + 1)
        raise TransientError(f"event {token.uid} kept changing under us ({PUT_ATTEMPTS} times 412)")

    def _write_back(self, ctx: _Reply) -> Decision | None:
        """Read the organizer's event, edit each instance the reply names, write it back with
        If-Match. None on 412 (the caller re-reads)."""
        loaded = self._load_event(ctx)
        if isinstance(loaded, Decision):
            return loaded
        stored, calendar = loaded
        edits = _Edits()
        for inst in ctx.itip.instances:
            refused = self._edit_instance(ctx, calendar, inst, edits)
            if refused is not None:
                return refused
        if not edits.applied:
            return Decision(PROCESSED, "ignored", "not newer than the last applied reply "
                            f"({', '.join(edits.skipped)})", **ctx.base)
        if edits.changed and not self.events.put(stored, calendar.serialize()):
            return None  # 412: re-read and decide again
        return _applied_decision(ctx, edits)

    def _load_event(self, ctx: _Reply):
        """(stored, parsed calendar) of the token's event, or the Decision that ends here."""
        stored = self.events.find(ctx.token.organizer, ctx.token.uid)
        if stored is None:
            return ctx.rejected("the event no longer exists")
        try:
            calendar = parse(stored.text)
        except ICalError as exc:
            return ctx.rejected(f"stored event unreadable: {exc}")
        first = eventedit.master(calendar) or (eventedit.events(calendar) or [None])[0]
        if first is None:
            return ctx.rejected("stored object has no VEVENT")
        stored_org = from_calendar_address(first.value("ORGANIZER"))
        if stored_org != ctx.organizer:
            return ctx.rejected(f"the event's organizer is now {stored_org or '(none)'}, not the token's")
        return stored, calendar

    def _edit_instance(self, ctx: _Reply, calendar, inst: Instance, edits: _Edits) -> Decision | None:
        """Apply one VEVENT of the reply to `calendar` (recorded in `edits`); a Decision when
        the whole reply must stop (not an instance, not invited, stale)."""
        target = eventedit.locate(calendar, inst.recurrence_id, ctx.itip.vtimezones)
        if isinstance(target, str):
            return ctx.rejected(target)
        holder = target.component if target.component is not None else eventedit.master(calendar)
        if eventedit.attendee_on(holder, ctx.attendee) is None:
            return ctx.rejected("attendee is not invited (party crasher, not added)", details=_who(inst))
        threshold = self._stale_threshold(ctx, target, holder)
        if inst.sequence is not None and inst.sequence < threshold:
            return Decision(REJECTED, "stale", f"SEQUENCE {inst.sequence} is older than {threshold}", **ctx.base)

        last = self.state.last_applied(ctx.organizer, ctx.token.uid, target.key, ctx.attendee)
        partstat = inst.attendees[0].param("PARTSTAT").upper()
        candidate = AppliedReply(
            sequence=inst.sequence if inst.sequence is not None else (last.sequence if last else 0),
            dtstamp=iso(inst.dtstamp), date_header=ctx.date_header,
            arrival=iso(ctx.arrival), partstat=partstat, message_key="")
        if last is not None and not newer(candidate, last):
            edits.skipped.append(target.key or "master")
            return None

        new_partstat, schedule_status = _statuses(partstat, inst.request_status)
        comp = target.component
        if comp is None:
            comp = eventedit.create_override(calendar, target.recurrence_id)
            edits.changed = True
        edits.changed |= eventedit.set_attendee_status(eventedit.attendee_on(comp, ctx.attendee),
                                                       new_partstat, schedule_status)
        edits.applied.append(((ctx.organizer, ctx.token.uid, target.key, ctx.attendee), candidate))
        label = new_partstat or f"SCHEDULE-STATUS {schedule_status}"
        edits.outcomes.append(label + (f" for {inst.recurrence_id.value}" if inst.recurrence_id else ""))
        return None

    def _stale_threshold(self, ctx: _Reply, target: eventedit.Target, holder) -> int:
        """The SEQUENCE last mailed to this attendee for this instance (the outbound records,
        per attendee: a CANCEL to someone else never makes this reply stale); without a record,
        the stored component's own SEQUENCE."""
        if self.last_sent_sequence is not None:
            sent = self.last_sent_sequence(ctx.token.organizer, ctx.token.uid, target.key, ctx.attendee)
            if sent is not None:
                return sent
        try:
            return int((holder.value("SEQUENCE") or "0").strip())
        except ValueError:
            return 0

    # ------------------------------------------------------------------ bounces
    def _bounce(self, msg: Message, bounce: dsn.Bounce) -> Decision:
        if not bounce.failed:
            return Decision(PROCESSED, "ignored", "delivery report without a failure (delayed/relayed)")
        returned = bounce.returned
        organizer_value = None
        if returned is not None:
            extraction = mime.extract_calendars(returned, self.settings.max_itip_bytes)
            if extraction.first is not None:
                try:
                    organizer_value = parse_itip(extraction.first.text, extraction.first.method_param).organizer
                except ICalError:
                    organizer_value = None
        candidates = token_candidates(msg, self.invite, None)
        if returned is not None:
            for name in ("Reply-To", "From"):
                token = self.invite.token_of(str(email.utils.parseaddr(header_text(returned.get(name, "")))[1]))
                if token:
                    candidates.append(TokenCandidate(token, f"returned {name}"))
            if organizer_value:
                token = self.invite.token_of(organizer_value)
                if token:
                    candidates.append(TokenCandidate(token, "returned ORGANIZER"))
        token = None
        for cand in candidates:
            token = self.lookup_token(cand.token)
            if token is not None:
                break
        if token is None:
            return Decision(REJECTED, "bounce", "bounce of a message without a known token; not forwarded")
        attendee = from_calendar_address(token.attendee)
        base = dict(token=token.token, uid=token.uid, attendee=attendee)
        for _attempt in range(PUT_ATTEMPTS):
            stored = self.events.find(token.organizer, token.uid)
            if stored is None:
                return Decision(PROCESSED, "bounce", "bounce for an event that no longer exists", **base)
            try:
                calendar = parse(stored.text)
            except ICalError as exc:
                return Decision(REJECTED, "bounce", f"stored event unreadable: {exc}", **base)
            changed = False
            for comp in eventedit.events(calendar):
                att = eventedit.attendee_on(comp, attendee)
                if att is not None:
                    changed |= eventedit.set_attendee_status(att, None, "5.1")
            if not changed or self.events.put(stored, calendar.serialize()):
                status = f" ({bounce.status})" if bounce.status else ""
                return Decision(PROCESSED, "bounce", f"invitation undeliverable{status}: SCHEDULE-STATUS 5.1",
                                **base)
        raise TransientError(f"event {token.uid} kept changing under us")


def _read_itip(cal_part) -> tuple[ItipMessage | None, str | None]:
    """(the parsed calendar part or None, the parse error or None)."""
    if cal_part is None:
        return None, None
    try:
        return parse_itip(cal_part.text, cal_part.method_param), None
    except ICalError as exc:
        return None, str(exc)


def _who(inst: Instance) -> str:
    att = inst.attendees[0] if inst.attendees else None
    return f"Reply for {att.value}" if att is not None else ""


def _proposal_text(itip: ItipMessage) -> str:
    lines = []
    for inst in itip.instances:
        label = f"Instance {inst.recurrence_id.value}" if inst.recurrence_id else "Proposed"
        if inst.proposal:
            lines.append(f"{label}: {inst.proposal}")
        elif itip.method == "COUNTER":
            start = inst.component.value("DTSTART")
            end = inst.component.value("DTEND")
            lines.append(f"{label}: start {start or '?'}, end {end or '?'}")
        if inst.comments:
            lines.append("Comment: " + " ".join(inst.comments))
    return "\n".join(lines)
