"""SMTP submission as the invitation account: STARTTLS + AUTH (smtplib), one connection reused
while the queue drains. Every outcome is classified, never raised:

- accepted (250)                                  -> the job is done
- 5xx for the recipient or the message            -> permanent: the job fails, SCHEDULE-STATUS 5.x
- 4xx, connection, TLS, timeout, auth failure     -> temporary: the job stays and is retried
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

log = logging.getLogger("imip_gateway.smtp")


@dataclass(frozen=True)
class Outcome:
    ok: bool
    permanent: bool
    code: int | None
    detail: str            # one line, never a password
    auth_failed: bool = False
    login_ok: bool | None = None   # None: no login attempted in this send


def _text(value) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return " ".join(str(value).split())


class Submitter:
    """Holds one authenticated SMTP session; reconnects when needed."""

    def __init__(self, host: str, port: int, user: str, password: str, *, starttls: bool = True,
                 ca_file: Path | None = None, timeout: float = 30.0, local_hostname: str | None = None):
        self.host, self.port, self.user = host, port, user
        self._password = password
        self.starttls = starttls
        self.ca_file = ca_file
        self.timeout = timeout
        self.local_hostname = local_hostname
        self._smtp: smtplib.SMTP | None = None

    def __repr__(self) -> str:
        return f"Submitter({self.host}:{self.port}, user={self.user!r})"

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def close(self) -> None:
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
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout, local_hostname=self.local_hostname)
        try:
            smtp.ehlo()
            if self.starttls:
                context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
                smtp.starttls(context=context)
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

    def send(self, message: Message, sender: str, recipient: str) -> Outcome:
        login_ok = None
        for attempt in (1, 2):
            fresh = self._smtp is None
            try:
                if fresh:
                    self._smtp = self._connect()
                    login_ok = True if self.user else None
                refused = self._smtp.send_message(message, from_addr=sender, to_addrs=[recipient])
            except smtplib.SMTPAuthenticationError as exc:
                self.close()
                return Outcome(False, False, exc.smtp_code,
                               f"authentication failed for {self.user} at {self.where}: "
                               f"{exc.smtp_code} {_text(exc.smtp_error)}", auth_failed=True, login_ok=False)
            except smtplib.SMTPServerDisconnected as exc:
                self.close()
                if not fresh and attempt == 1:
                    continue  # an idle connection the server closed: reconnect once
                return Outcome(False, False, None, f"connection to {self.where} lost: {_text(exc)}",
                               login_ok=login_ok)
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = next(iter(exc.recipients.values()))
                return self._response_outcome(code, text, f"recipient {recipient} refused", login_ok)
            except smtplib.SMTPSenderRefused as exc:
                self.close()
                return self._response_outcome(exc.smtp_code, exc.smtp_error, f"sender {sender} refused",
                                              login_ok)
            except smtplib.SMTPResponseException as exc:
                self.close()
                return self._response_outcome(exc.smtp_code, exc.smtp_error, "SMTP error", login_ok)
            except smtplib.SMTPNotSupportedError as exc:
                self.close()
                return Outcome(False, False, None, f"{self.where}: {_text(exc)} (STARTTLS or AUTH missing)",
                               login_ok=login_ok)
            except ssl.SSLError as exc:
                self.close()
                return Outcome(False, False, None, f"TLS with {self.where} failed: {_text(exc)}",
                               login_ok=login_ok)
            except (socket.timeout, TimeoutError):
                self.close()
                return Outcome(False, False, None, f"timeout talking to {self.where}", login_ok=login_ok)
            except (smtplib.SMTPException, OSError) as exc:
                self.close()
                return Outcome(False, False, None, f"cannot submit to {self.where}: {_text(exc)}",
                               login_ok=login_ok)
            if refused:
                code, text = next(iter(refused.values()))
                return self._response_outcome(code, text, f"recipient {recipient} refused", login_ok)
            return Outcome(True, False, 250, "250 accepted", login_ok=login_ok)
        raise AssertionError("unreachable")

    def check_login(self) -> Outcome:
        """Log in and out again, sending nothing: whether the credentials work now (an operator
        asked the gateway to retry while nothing was queued)."""
        self.close()
        try:
            self._connect().quit()
        except smtplib.SMTPAuthenticationError as exc:
            return Outcome(False, False, exc.smtp_code,
                           f"authentication failed for {self.user} at {self.where}: "
                           f"{exc.smtp_code} {_text(exc.smtp_error)}", auth_failed=True, login_ok=False)
        except (smtplib.SMTPException, OSError) as exc:   # ssl.SSLError and timeouts are OSErrors
            return Outcome(False, False, None, f"cannot log in at {self.where}: {_text(exc)}")
        return Outcome(True, False, 235, f"login at {self.where} accepted", login_ok=True if self.user else None)

    @staticmethod
    def _response_outcome(code: int, text, what: str, login_ok) -> Outcome:
        detail = f"{what}: {code} {_text(text)}"
        return Outcome(False, 500 <= (code or 0) < 600, code, detail, login_ok=login_ok)
