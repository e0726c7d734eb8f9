"""The inbound half inside `imip-gateway run`: InboundService(cfg, conn, ...).run_forever(stop).

imip_gateway.service starts `run(cfg, stop, ...)` in its own thread with its own database
connection, handing it the clients it made once for both halves (no secret is read here).
IMAP or CalDAV failures never end the loop: it backs off (doubling, capped at five minutes) and
logs one line per failure; the state database keeps every decision, so a restart resumes where
the last run stopped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from imip_gateway import db, wake
from imip_gateway.caldav_client import CalDAVClient
from imip_gateway.config import Config
from imip_gateway.submission import Submitter
from imip_gateway.tokens import TokenStore

from .events import CalDAVEvents
from .imap import MailboxWorker
from .invitations import Invitations, Settings as InvitationSettings
from .processor import InboundSettings, Processor
from .state import InboundState

__all__ = ["InboundService", "run", "settings_from_config"]

log = logging.getLogger("imip_gateway.inbound")
MAX_BACKOFF = 300.0


def settings_from_config(cfg: Config) -> InboundSettings:
    return InboundSettings(
        invitation_address=cfg.invitations.address,
        instance_id=cfg.gateway.instance_id,
        local_domains=tuple(cfg.gateway.local_domains),
        site_name=cfg.gateway.site_name,
        max_itip_bytes=cfg.gateway.max_itip_bytes,
        token_ttl_days=cfg.gateway.token_ttl_days,
        auth_policy=cfg.gateway.auth_policy,
        # Our MTA stamps Authentication-Results with its host name; [gateway] authserv_id, when
        # the config gains it, overrides this.
        authserv_id=getattr(cfg.gateway, "authserv_id", None) or cfg.gateway.instance_id,
    )


def _sender(cfg: Config, submitter: Submitter):
    """Forwards go out like invitations: SMTP submission as the invitation account."""

    def send(message) -> None:
        outcome = submitter.send(message, cfg.invitations.address, str(message["To"]))
        if outcome.ok:
            return
        if outcome.permanent:
            log.error("inbound forward to %s refused for good: %s", message["To"], outcome.detail)
            return
        raise OSError(outcome.detail)  # temporary: the message stays in INBOX, retried next pass

    send.close = submitter.close  # type: ignore[attr-defined]
    return send


class InboundService:
    def __init__(self, cfg: Config, conn, *, imap_password: str, caldav: CalDAVClient,
                 submitter: Submitter | None = None, send=None, connect=None,
                 mailed_sequence: Callable[..., int | None] | None = None,
                 refresh: Callable[..., str] | None = None):
        """The clients come from `imip-gateway run` (secrets read once there): the CalDAV client
        of this thread and the Submitter shared with the outbound half. `send` replaces the
        Submitter for forwards (tests); without either, nothing is forwarded.

        `mailed_sequence(conn, uid, recurrence_id, attendee)` says what was last mailed to an
        attendee (the outbound half's record; `imip-gateway run` hands it in, so this half
        imports nothing of the other); without it a reply is judged against the stored event.
        `refresh(conn, organizer, uid, attendee)` answers an attendee's REFRESH (the outbound half
        queues the event as it stands for them); without it a REFRESH is forwarded to the organizer."""
        self.cfg = cfg
        self.conn = conn
        self.state = InboundState(conn)
        self.caldav = caldav
        # With the lifetime, a reply to a token whose event ended long ago is told apart at once.
        tokens = TokenStore(conn, ttl_days=cfg.gateway.token_ttl_days)
        if send is None and submitter is not None:
            send = _sender(cfg, submitter)
        settings = settings_from_config(cfg)
        invitations = Invitations(InvitationSettings(
            max_itip_bytes=settings.max_itip_bytes, auth_policy=settings.auth_policy,
            authserv_id=settings.authserv_id, is_local=cfg.is_local_address,
            invitation_address=cfg.invitations.address, opt_out_users=tuple(cfg.gateway.opt_out_users)), caldav)
        self.processor = Processor(
            settings, self.state, tokens.lookup, CalDAVEvents(caldav, conn),
            send=send, last_sent_sequence=self._last_sent_sequence, invitations=invitations,
            refresh=(lambda organizer, uid, attendee: refresh(conn, organizer, uid, attendee)) if refresh else None,
        )
        self.worker = MailboxWorker(
            host=cfg.imap.host, port=cfg.imap.port, tls=cfg.imap.tls, user=cfg.imap.user,
            password=imap_password, ca_file=cfg.imap.ca_file, processor=self.processor, state=self.state,
            polling_seconds=cfg.imap.polling_seconds, connect=connect)
        self.failures = 0
        self._mailed_sequence = mailed_sequence

    def _last_sent_sequence(self, _organizer: str, uid: str, rid: str, attendee: str) -> int | None:
        """What was last mailed to this attendee (same database), when the service said how to read it."""
        if self._mailed_sequence is None:
            return None
        return self._mailed_sequence(self.conn, uid, rid, attendee)

    def run_once(self) -> int:
        """One pass over INBOX; raises on IMAP failure (run_forever backs off)."""
        return self.worker.pass_once()

    def run_forever(self, stop: threading.Event) -> None:
        log.info("inbound: reading %s@%s:%d (%s), polling every %d s when IDLE is not offered",
                 self.cfg.imap.user, self.cfg.imap.host, self.cfg.imap.port,
                 "TLS" if self.cfg.imap.tls else "STARTTLS", self.cfg.imap.polling_seconds)
        while not stop.is_set():
            try:
                self.run_once()
                self.failures = 0
                self.worker.wait(stop)
            # IMAP/CalDAV down: back off and retry.
            except Exception as exc:  # pylint: disable=broad-exception-caught
                self.failures += 1
                delay = min(MAX_BACKOFF, 2.0 ** min(self.failures, 9))
                self.state.set_status(imap_last_error=f"{type(exc).__name__}: {exc}"[:300],
                                      imap_last_error_time=time.time())
                log.error("inbound: %s: %s; retrying in %.0f s", type(exc).__name__, exc, delay)
                self.worker.close()
                self.caldav.close()
                wake.sleep_inbound(stop, delay)
        self.worker.close()
        self.caldav.close()


def run(cfg: Config, stop: threading.Event, *, imap_password: str, caldav: CalDAVClient,
        submitter: Submitter, mailed_sequence: Callable[..., int | None] | None = None,
        refresh: Callable[..., str] | None = None) -> None:
    """Entry point used by imip_gateway.service (own thread, own connection, shared clients)."""
    conn = db.connect(cfg.gateway.db_path)
    try:
        InboundService(cfg, conn, imap_password=imap_password, caldav=caldav, submitter=submitter,
                       mailed_sequence=mailed_sequence, refresh=refresh).run_forever(stop)
    finally:
        conn.close()
