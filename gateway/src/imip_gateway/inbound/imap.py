"""The invitation account's mailbox over IMAP: read INBOX, hand each message to
the Processor, then move it to Processed, Rejected, Forwarded or Unknown.

Never twice, even across a crash: a message is moved only after its decision is committed to
the state database (the durable hand-off); a message found in INBOX again (crash between commit
and move, a second delivery, a UIDVALIDITY change) has the same Message-ID + body hash, so the
Processor answers with the recorded decision and nothing is applied or forwarded again.
IDLE wakes us within a second of delivery; servers without IDLE are polled every
`polling_seconds`. Unknown-token messages are deleted after 72 hours (Apple's rule).
Memory follows one message, not a batch: sizes first, then one body at a time, and a message
over parts.whole_message_limit is read by parts (parts.read_by_parts), never whole.
"""

from __future__ import annotations

import datetime as dt
import logging
import ssl
import time
from collections.abc import Callable

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from .parts import assemble, read_by_parts, whole_message_limit
from .processor import FOLDERS, UNKNOWN, Processor
from .state import InboundState

__all__ = ["MailboxWorker", "UNKNOWN_KEEP_SECONDS", "assemble", "read_by_parts", "whole_message_limit"]

log = logging.getLogger("imip_gateway.inbound.imap")

UNKNOWN_KEEP_SECONDS = 72 * 3600
# Sizes and dates of this many messages per FETCH (a few dozen octets each); bodies are then
# fetched one message at a time, so memory follows the largest message, not a batch of them.
META_BATCH = 200
IDLE_MAX_SECONDS = 25 * 60  # RFC 2177: re-issue IDLE before the server's 30 min timeout


def _ssl_context(ca_file) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


def _as_utc(value) -> dt.datetime | None:
    if not isinstance(value, dt.datetime):
        return None
    if value.tzinfo is None:  # imapclient returns local naive times unless normalise_times=False
        value = value.astimezone()
    return value.astimezone(dt.timezone.utc)


class MailboxWorker:
    def __init__(self, *, host: str, port: int, tls: bool, user: str, password: str, ca_file,
                 processor: Processor, state: InboundState, polling_seconds: int,
                 connect: Callable[[], IMAPClient] | None = None, clock: Callable[[], float] = time.time):
        self.host, self.port, self.tls, self.user = host, port, tls, user
        self._password = password
        self.ca_file = ca_file
        self.processor = processor
        self.state = state
        self.polling_seconds = polling_seconds
        self._connect_override = connect
        self.clock = clock
        self.client: IMAPClient | None = None
        self.folders: dict[str, str] = {}
        self.next_expiry = 0.0

    def __repr__(self) -> str:
        return f"MailboxWorker({self.user}@{self.host}:{self.port})"

    # ------------------------------------------------------------------ session
    def connect(self) -> IMAPClient:
        if self.client is not None:
            return self.client
        try:
            if self._connect_override is not None:
                client = self._connect_override()
            else:
                context = _ssl_context(self.ca_file)
                client = IMAPClient(self.host, port=self.port, ssl=self.tls, ssl_context=context, timeout=60)
                if not self.tls:
                    client.starttls(context)  # never LOGIN over plain text
            client.login(self.user, self._password)
        except Exception as exc:
            self.state.set_status(imap_last_login_ok=False, imap_last_login_time=self.clock(),
                                  imap_last_error=f"{type(exc).__name__}: {exc}"[:300],
                                  imap_last_error_time=self.clock())
            log.error("inbound: IMAP login to %s:%d as %s failed: %s: %s", self.host, self.port, self.user,
                      type(exc).__name__, exc)
            raise
        self.state.set_status(imap_last_login_ok=True, imap_last_login_time=self.clock())
        self.client = client
        self._ensure_folders()
        return client

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.logout()
            except Exception:  # noqa: BLE001 - the connection is going anyway
                pass
            self.client = None

    def _ensure_folders(self) -> None:
        """Processed/Rejected/Forwarded/Unknown, under the personal namespace prefix."""
        client = self.client
        prefix = ""
        try:
            personal = client.namespace().personal
            if personal:
                prefix = personal[0][0] or ""
        except (IMAPClientError, AttributeError, IndexError):
            prefix = ""
        for name in FOLDERS:
            path = f"{prefix}{name}"
            if not client.folder_exists(path):
                client.create_folder(path)
                log.info("inbound: created IMAP folder %s", path)
            try:
                client.subscribe_folder(path)
            except IMAPClientError:
                pass
            self.folders[name] = path

    # ------------------------------------------------------------------ one pass
    def pass_once(self) -> int:
        """Process every message in INBOX once; return how many were filed."""
        client = self.connect()
        selected = client.select_folder("INBOX")
        uidvalidity = int(selected.get(b"UIDVALIDITY", 0))
        known = self.state.mailbox("INBOX")
        last_uid = 0
        if known and known[0] == uidvalidity:
            last_uid = known[1]
        elif known:
            log.warning("inbound: INBOX UIDVALIDITY changed %d -> %d; every message is checked again "
                        "(the dedupe keys keep them from being applied twice)", known[0], uidvalidity)
        uids = sorted(client.search(["ALL"]))
        filed = 0
        oldest = None
        can_move = client.has_capability("MOVE")
        for start in range(0, len(uids), META_BATCH):
            batch = uids[start:start + META_BATCH]
            for uid, meta in sorted(client.fetch(batch, ["RFC822.SIZE", "INTERNALDATE"]).items()):
                arrival = _as_utc(meta.get(b"INTERNALDATE"))
                raw = self._read(uid, int(meta.get(b"RFC822.SIZE") or 0))
                if raw is None:
                    continue  # expunged meanwhile by another client
                decision = self.processor.process(raw, arrival=arrival, imap_ref=(uidvalidity, uid))
                del raw  # one message in memory at a time
                if not decision.ready_to_file:
                    # Transient (CalDAV down) or a forward still to send: stays for the next pass.
                    if arrival and (oldest is None or arrival < oldest):
                        oldest = arrival
                    continue
                self._move(uid, self.folders[decision.folder], can_move)
                self.state.filed(decision.key)
                filed += 1
                last_uid = max(last_uid, uid)
        self.state.set_mailbox("INBOX", uidvalidity, last_uid)
        self.state.set_status(imap_oldest_unprocessed=oldest.isoformat() if oldest else None,
                              imap_last_pass=self.clock())
        if self.clock() >= self.next_expiry:
            self.next_expiry = self.clock() + 3600
            self.expire_unknown()
        self._record_counts()
        return filed

    def _read(self, uid: int, size: int) -> bytes | None:
        """The message's bytes: whole when small, else only what the Processor reads
        (read_by_parts). None when the message is gone."""
        max_itip = self.processor.settings.max_itip_bytes
        if size > whole_message_limit(max_itip):
            return read_by_parts(self.client, uid, size, max_itip)
        data = self.client.fetch([uid], ["BODY.PEEK[]"]).get(uid)
        return data.get(b"BODY[]") if data is not None else None

    def _move(self, uid: int, folder: str, can_move: bool) -> None:
        client = self.client
        if can_move:
            client.move([uid], folder)
            return
        client.copy([uid], folder)
        client.add_flags([uid], [b"\\Deleted"], silent=True)
        if client.has_capability("UIDPLUS"):
            client.uid_expunge([uid])
        else:
            client.expunge()

    def expire_unknown(self) -> int:
        """Delete messages older than 72 h from Unknown (their token is not ours)."""
        client = self.client
        folder = self.folders[UNKNOWN]
        client.select_folder(folder)
        cutoff = self.clock() - UNKNOWN_KEEP_SECONDS
        old = []
        uids = client.search(["ALL"])
        if uids:
            for uid, data in client.fetch(uids, ["INTERNALDATE"]).items():
                when = _as_utc(data.get(b"INTERNALDATE"))
                if when is not None and when.timestamp() < cutoff:
                    old.append(uid)
        if old:
            client.add_flags(old, [b"\\Deleted"], silent=True)
            if client.has_capability("UIDPLUS"):
                client.uid_expunge(old)
            else:
                client.expunge()
            log.info("inbound: deleted %d message(s) older than 72 h from %s", len(old), folder)
        client.select_folder("INBOX")
        return len(old)

    def _record_counts(self) -> None:
        counts = {}
        for name, path in [("INBOX", "INBOX")] + list(self.folders.items()):
            try:
                counts[name] = int(self.client.folder_status(path, [b"MESSAGES"])[b"MESSAGES"])
            except (IMAPClientError, KeyError):
                counts[name] = None
        self.state.set_status(imap_folder_counts=counts)

    # ------------------------------------------------------------------ waiting
    def wait(self, stop) -> None:
        """Until new mail (IDLE) or polling_seconds (no IDLE), or until `stop` is set."""
        client = self.client
        if client is None or not client.has_capability("IDLE"):
            stop.wait(self.polling_seconds)
            return
        # Also wake every polling_seconds: messages left in INBOX (CalDAV was down) are retried.
        deadline = time.monotonic() + min(IDLE_MAX_SECONDS, max(self.polling_seconds, 1))
        client.idle()
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                # Short checks so a stop request is honoured within a second.
                responses = client.idle_check(timeout=1)
                if any(isinstance(r, tuple) and len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                    break
        finally:
            client.idle_done()
