"""SMTP submission as the invitation account, shared by both halves (invitations out, forwards
to organizers): STARTTLS + AUTH (smtplib), one connection reused while the queue drains, safe
to share between the service's threads. Every outcome is classified, never raised:

- accepted (250)                                  -> the job is done
- 5xx for the recipient (RCPT) or the message (DATA) -> permanent: the job fails, SCHEDULE-STATUS 5.x
- 4xx for the recipient or the message             -> temporary: the job is retried
- anything about the sender or the session: connection, greeting, EHLO, TLS, AUTH, MAIL FROM,
  4xx or 5xx alike                                 -> `session`: every other message would fail
  the same way, so the queue pauses (and is retried with backoff) instead of failing jobs.

Messages are sent as bytes made here with BytesGenerator. Internationalized addresses (RFC 6531/6532):
a domain with non-ASCII letters goes out as its IDNA A-labels when the local part is ASCII
(`smtp_address`); a non-ASCII local part needs the server's SMTPUTF8, and without it that one
message fails for good with the reason (an attendee address no server on the way can carry).
"""

from __future__ import annotations

import io
import logging
import re
import smtplib
import socket
import ssl
import threading
from dataclasses import dataclass
from email.generator import BytesGenerator
from email.message import Message
from pathlib import Path

from imip_gateway.addresses import split_address

log = logging.getLogger("imip_gateway.smtp")

# RFC 5321 §4.5.3.2.6: wait ten minutes for the reply to the end of DATA (a slow content filter
# must not make us give up and send the message again); connect and commands keep the short timeout.
END_OF_DATA_TIMEOUT = 600.0
_LEADING_DOT = re.compile(rb"(?m)^\.")


@dataclass(frozen=True)
class Outcome:
    ok: bool
    permanent: bool
    code: int | None
    detail: str            # one line, never a password
    auth_failed: bool = False
    login_ok: bool | None = None   # None: no login attempted in this send
    session: bool = False  # the sender or the session failed, not this message: pause the queue


def _text(value) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return " ".join(str(value).split())


def _a_label(label: str) -> str:
    if label.isascii():
        return label
    encoded = label.encode("idna").decode("ascii")   # the standard library's IDNA 2003
    # IDNA 2003 maps some letters away (ß -> ss, final sigma): under IDNA 2008 that is another
    # domain. Only a label that decodes back to itself (but for case) is converted.
    if encoded.encode("ascii").decode("idna") != label.lower():
        raise UnicodeError(f"{label!r} has no exact IDNA form")
    return encoded


def smtp_address(address: str) -> str:
    """The address as it goes into the envelope and the To header: with an ASCII local part, a
    non-ASCII domain as IDNA A-labels (bücher.example -> xn--bcher-kva.example) when that is
    exact; otherwise unchanged (then only SMTPUTF8 carries it)."""
    local, domain = split_address(address)
    if "@" not in address or domain.isascii() or not local.isascii():
        return address   # a non-ASCII local part needs SMTPUTF8, which carries the domain as it is
    try:
        return f"{local}@{'.'.join(_a_label(label) for label in domain.split('.'))}"
    except UnicodeError:
        return address


def flatten(message: Message) -> bytes:
    """The message as sent (CRLF line ends). compat32 writes headers that hold raw UTF-8 (as
    surrogates) unchanged: the RFC 6532 form that only goes out with SMTPUTF8."""
    buffer = io.BytesIO()
    BytesGenerator(buffer, mangle_from_=False, policy=message.policy).flatten(message, linesep="\r\n")
    return buffer.getvalue()


def _needs_smtputf8(data: bytes, sender: str, recipient: str) -> bool:
    header_end = data.find(b"\r\n\r\n")
    headers = data if header_end < 0 else data[:header_end]
    return not (sender.isascii() and recipient.isascii() and headers.isascii())


class _Session(smtplib.SMTP):
    """smtplib's client with the long wait for the end-of-data reply only."""

    def data(self, msg):
        self.putcmd("data")
        code, reply = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        body = _LEADING_DOT.sub(b"..", msg)   # dot-stuffing (RFC 5321 §4.5.2); msg is CRLF bytes
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        self.sock.settimeout(max(END_OF_DATA_TIMEOUT, self.timeout))
        try:
            self.send(body + b".\r\n")
            return self.getreply()
        finally:
            if self.sock is not None:
                self.sock.settimeout(self.timeout)


class Submitter:
    """Holds one authenticated SMTP session; reconnects when needed. One lock serializes the
    threads that share it (the send loop and the inbound half's forwards)."""

    def __init__(self, host: str, port: int, user: str, password: str, *, starttls: bool = True,
                 ca_file: Path | None = None, timeout: float = 30.0, local_hostname: str | None = None):
        self.host, self.port, self.user = host, port, user
        self._password = password
        self.starttls = starttls
        self.ca_file = ca_file
        self.timeout = timeout
        self.local_hostname = local_hostname
        self._smtp: smtplib.SMTP | None = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"Submitter({self.host}:{self.port}, user={self.user!r})"

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def close(self) -> None:
        with self._lock:
            if self._smtp is not None:
                try:
                    self._smtp.quit()
                except (smtplib.SMTPException, OSError):
                    try:
                        self._smtp.close()
                    except OSError:
                        pass
                self._smtp = None

    def _connect(self) -> smtplib.SMTP:
        smtp = _Session(self.host, self.port, timeout=self.timeout, local_hostname=self.local_hostname)
        try:
            code, reply = smtp.ehlo()
            if code != 250:
                raise smtplib.SMTPHeloError(code, reply)
            if self.starttls:
                context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
                code, reply = smtp.starttls(context=context)
                if code != 220:   # smtplib returns a refused STARTTLS instead of raising
                    raise smtplib.SMTPResponseException(code, reply)
                smtp.ehlo()
            if self.user:
                smtp.login(self.user, self._password)
        except BaseException:
            try:
                smtp.close()
            except OSError:
                pass
            raise
        return smtp

    def _session_failure(self, exc: BaseException, login_ok) -> Outcome:
        """Connection, greeting, EHLO, TLS or AUTH failed: never the message's fault."""
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return Outcome(False, False, exc.smtp_code, f"authentication failed for {self.user} at {self.where}: "
                           f"{exc.smtp_code} {_text(exc.smtp_error)}", auth_failed=True, login_ok=False, session=True)
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            detail = f"connection to {self.where} lost: {_text(exc)}"
        elif isinstance(exc, smtplib.SMTPNotSupportedError):
            detail = f"{self.where}: {_text(exc)} (STARTTLS or AUTH missing)"
        elif isinstance(exc, smtplib.SMTPResponseException):
            return Outcome(False, False, exc.smtp_code, f"SMTP session with {self.where} refused: {exc.smtp_code} "
                           f"{_text(exc.smtp_error)}", login_ok=login_ok, session=True)
        elif isinstance(exc, ssl.SSLError):
            detail = f"TLS with {self.where} failed: {_text(exc)}"
        elif isinstance(exc, (socket.timeout, TimeoutError)):
            detail = f"timeout talking to {self.where}"
        else:
            detail = f"cannot submit to {self.where}: {_text(exc)}"
        return Outcome(False, False, None, detail, login_ok=login_ok, session=True)

    def _transaction_failure(self, exc: BaseException, sender: str, recipient: str, login_ok) -> Outcome:
        """MAIL FROM concerns the sender (pause); RCPT the recipient and DATA the message (the job)."""
        if isinstance(exc, smtplib.SMTPSenderRefused):
            self.close()
            return Outcome(False, False, exc.smtp_code, f"sender {sender} refused: {exc.smtp_code} "
                           f"{_text(exc.smtp_error)}", login_ok=login_ok, session=True)
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            code, text = next(iter(exc.recipients.values()))
            return self._response_outcome(code, text, f"recipient {recipient} refused", login_ok)
        if isinstance(exc, smtplib.SMTPDataError):
            return self._response_outcome(exc.smtp_code, exc.smtp_error, "message refused", login_ok)
        self.close()
        return self._session_failure(exc, login_ok)

    def _mail_options(self, data: bytes, international: bool) -> list[str] | None:
        """MAIL FROM parameters; None when the message needs SMTPUTF8 and the server lacks it."""
        options = []
        if international:
            if not self._smtp.has_extn("smtputf8"):
                return None
            options.append("SMTPUTF8")
        if (international or not data.isascii()) and self._smtp.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        return options

    def send(self, message: Message, sender: str, recipient: str) -> Outcome:
        """Submit `message` from envelope sender `sender` to `recipient` (as smtp_address made it)."""
        data = flatten(message)
        international = _needs_smtputf8(data, sender, recipient)
        with self._lock:
            return self._send(data, sender, recipient, international)

    def _send(self, data: bytes, sender: str, recipient: str, international: bool) -> Outcome:
        login_ok = None
        for attempt in (1, 2):
            fresh = self._smtp is None
            if fresh:
                try:
                    self._smtp = self._connect()
                except (smtplib.SMTPException, OSError) as exc:   # ssl.SSLError and timeouts are OSErrors
                    return self._session_failure(exc, login_ok)
                login_ok = True if self.user else None
            options = self._mail_options(data, international)
            if options is None:
                return Outcome(False, True, None, f"the address {recipient} (or the message's headers) needs "
                               f"SMTPUTF8 (RFC 6531), which {self.where} does not offer", login_ok=login_ok)
            try:
                refused = self._smtp.sendmail(sender, [recipient], data, mail_options=options)
            except smtplib.SMTPServerDisconnected as exc:
                self.close()
                if not fresh and attempt == 1:
                    continue  # an idle connection the server closed: reconnect once
                return self._session_failure(exc, login_ok)
            except (smtplib.SMTPException, OSError) as exc:
                return self._transaction_failure(exc, sender, recipient, login_ok)
            if refused:
                code, text = next(iter(refused.values()))
                return self._response_outcome(code, text, f"recipient {recipient} refused", login_ok)
            return Outcome(True, False, 250, "250 accepted", login_ok=login_ok)
        raise AssertionError("unreachable")

    def check_login(self) -> Outcome:
        """Log in and out again, sending nothing: whether the credentials work now (an operator
        asked the gateway to retry while nothing was queued)."""
        with self._lock:
            self.close()
            try:
                self._connect().quit()
            except smtplib.SMTPAuthenticationError as exc:
                return self._session_failure(exc, False)
            except (smtplib.SMTPException, OSError) as exc:
                return Outcome(False, False, None, f"cannot log in at {self.where}: {_text(exc)}", session=True)
            return Outcome(True, False, 235, f"login at {self.where} accepted",
                           login_ok=True if self.user else None)

    @staticmethod
    def _response_outcome(code: int, text, what: str, login_ok) -> Outcome:
        detail = f"{what}: {code} {_text(text)}"
        return Outcome(False, 500 <= (code or 0) < 600, code, detail, login_ok=login_ok)
