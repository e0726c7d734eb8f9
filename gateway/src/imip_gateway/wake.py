"""Asking a running gateway to retry now.

After an outage (SMTP or IMAP login refused, a server down) the gateway backs off, up to an hour
between attempts. When an operator has fixed the cause - the imip_gateway role does it after a
converge that finds the last login refused - waiting out the backoff only delays invitations
and replies. SIGHUP (`systemctl reload imip-gateway`) asks both halves to try again at once:
the outbound loop makes every pending job due and forgets its SMTP backoff, the inbound loop
cuts its backoff sleep short. Nothing else changes: the configuration and the credentials are
read at start only (a new password needs a restart, which the role does).
"""

from __future__ import annotations

import threading
import time

_outbound = threading.Event()
_inbound = threading.Event()


def request(*_args) -> None:
    """Ask both halves to retry now (the SIGHUP handler)."""
    _outbound.set()
    _inbound.set()


def take_outbound() -> bool:
    """True once per request: the outbound loop retries now."""
    if _outbound.is_set():
        _outbound.clear()
        return True
    return False


def sleep_inbound(stop: threading.Event, seconds: float) -> None:
    """Wait like stop.wait(seconds), cut short by stop or by a retry request."""
    deadline = time.monotonic() + seconds
    while not stop.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        if _inbound.wait(min(left, 0.5)):
            _inbound.clear()
            return
