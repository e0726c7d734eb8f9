# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Network probes of the status report (private to imip.server): a TCP connect, an SMTP
envelope that is never sent, and the certificate a TLS port serves.

Each probe returns what it saw as plain data and never raises for what the network does
(refused, timed out, a TLS error): the checks decide what that means. Timeouts are retried
(`checks.retry`); an answer, even a refusal, is never retried.
"""

from __future__ import annotations

import errno
import smtplib
import socket
import ssl
import time

from ansible_collections.imip.server.plugins.module_utils.status.checks import retry

OPEN, REFUSED, TIMEOUT, UNREACHABLE, ERROR = "open", "refused", "timeout", "unreachable", "error"


def _reason(exc):
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def tcp_connect(address, port, timeout, retries):
    """{"state": open|refused|timeout|unreachable|error, "detail": text, "tries": n}."""
    tries = []

    def attempt():
        tries.append(1)
        with socket.create_connection((address, int(port)), timeout=timeout):
            return True

    try:
        dummy, exc = retry(attempt, retries)
    except ConnectionRefusedError:
        return {"state": REFUSED, "detail": "connection refused", "tries": len(tries)}
    except OSError as exc2:
        state = UNREACHABLE if exc2.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH) else ERROR
        return {"state": state, "detail": _reason(exc2), "tries": len(tries)}
    if exc is not None:
        return {"state": TIMEOUT, "detail": "no answer within %gs (%d tries)" % (timeout, len(tries)),
                "tries": len(tries)}
    return {"state": OPEN, "detail": "accepts connections", "tries": len(tries)}


def _reply(code_text):
    code, text = code_text
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return {"code": int(code), "text": " ".join(text.split())}


def smtp_envelope(address, port, helo, sender, recipients, timeout, retries):
    """Connect, EHLO, MAIL FROM, one RCPT TO per recipient, then RSET and QUIT: no DATA, so no
    mail is ever sent. Returns {"state", "detail", "banner", "mail", "rcpt": {address: reply}}
    with each reply {"code", "text"}; state is open when the conversation took place."""
    out = {"banner": None, "mail": None, "rcpt": {}}

    def conversation():
        out["rcpt"] = {}
        client = smtplib.SMTP(timeout=timeout)
        try:
            code, banner = client.connect(address, int(port))
            out["banner"] = _reply((code, banner))
            if code != 220:
                return
            client.ehlo(helo)
            out["mail"] = _reply(client.mail(sender))
            if out["mail"]["code"] == 250:
                for rcpt in recipients:
                    out["rcpt"][rcpt] = _reply(client.rcpt(rcpt))
            client.rset()
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()

    try:
        dummy, exc = retry(conversation, retries, is_transient=_transient_smtp)
    except ConnectionRefusedError:
        return dict(out, state=REFUSED, detail="connection refused")
    except (smtplib.SMTPException, OSError) as exc2:
        return dict(out, state=ERROR, detail="SMTP conversation failed: %s" % _reason(exc2))
    if exc is not None:
        return dict(out, state=TIMEOUT, detail="SMTP conversation timed out (%d tries of %gs)" % (int(retries) + 1, timeout))
    return dict(out, state=OPEN, detail="SMTP conversation held")


def _transient_smtp(exc):
    return isinstance(exc, (socket.timeout, TimeoutError, smtplib.SMTPServerDisconnected))


# ------------------------------------------------------------------------------ certificates

def _read_smtp_reply(sock_file):
    """Lines of one SMTP reply ("250-..." continues, "250 ..." ends); (code, text)."""
    lines = []
    while True:
        line = sock_file.readline(1024)
        if not line:
            raise ConnectionError("the server closed the connection")
        lines.append(line.decode("utf-8", "replace").rstrip("\r\n"))
        if len(line) < 4 or line[3:4] != b"-":
            break
    return int(lines[-1][:3]), " ".join(l[4:] for l in lines)


def _starttls_socket(address, port, timeout, helo):
    """A plain socket after a successful SMTP STARTTLS exchange (ready for the TLS handshake)."""
    sock = socket.create_connection((address, int(port)), timeout=timeout)
    try:
        stream = sock.makefile("rb")
        code, text = _read_smtp_reply(stream)
        if code != 220:
            raise ConnectionError("SMTP banner %d %s" % (code, text))
        sock.sendall(("EHLO %s\r\n" % helo).encode("ascii"))
        code, text = _read_smtp_reply(stream)
        if code != 250 or "STARTTLS" not in text.upper():
            raise ConnectionError("the server does not offer STARTTLS after EHLO (%d %s)" % (code, text))
        sock.sendall(b"STARTTLS\r\n")
        code, text = _read_smtp_reply(stream)
        if code != 220:
            raise ConnectionError("STARTTLS answered %d %s" % (code, text))
        stream.close()
        return sock
    except Exception:
        sock.close()
        raise


def _handshake(address, port, protocol, server_name, timeout, context, helo):
    if protocol == "smtp":
        raw = _starttls_socket(address, port, timeout, helo)
    else:
        raw = socket.create_connection((address, int(port)), timeout=timeout)
    try:
        tls = context.wrap_socket(raw, server_hostname=server_name)
    except Exception:
        raw.close()
        raise
    try:
        return tls.getpeercert(), tls.getpeercert(binary_form=True)
    finally:
        tls.close()


def _describe_der(der):
    """Names and end of validity of a certificate that failed verification (needs cryptography,
    imported only then: it costs a third of a second)."""
    try:
        from cryptography import x509  # pylint: disable=import-outside-toplevel
        from cryptography.x509.oid import ExtensionOID, NameOID  # pylint: disable=import-outside-toplevel
    except ImportError:
        return {}
    if not der:
        return {}
    cert = x509.load_der_x509_certificate(der)
    try:
        names = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    not_after = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after
    return {"names": sorted(names), "not_after": not_after.strftime("%Y-%m-%d %H:%M:%S UTC"),
            "not_after_epoch": int(not_after.timestamp()) if not_after.tzinfo else int(time.mktime(not_after.timetuple()))}


def served_certificate(address, port, protocol, server_name, timeout, retries, helo="status-check.invalid", cafile=None):
    """The certificate served on address:port (protocol "smtp" = STARTTLS, "tls" = implicit TLS),
    verified against the host's trust store (or cafile) for server_name.

    {"state": open|refused|timeout|error, "detail", "verified": bool, "verify_error": text|None,
     "names": [...], "not_after": text, "not_after_epoch": int}
    """
    context = ssl.create_default_context(cafile=cafile)

    def verified():
        return _handshake(address, port, protocol, server_name, timeout, context, helo)

    out = {"verified": False, "verify_error": None, "names": [], "not_after": None, "not_after_epoch": None}
    try:
        got, exc = retry(verified, retries)
    except ssl.SSLCertVerificationError as err:
        out["verify_error"] = err.verify_message or str(err)
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        try:
            got, exc = retry(lambda: _handshake(address, port, protocol, server_name, timeout, insecure, helo), retries)
        except (OSError, ssl.SSLError, ConnectionError) as exc3:
            return dict(out, state=ERROR, detail=_reason(exc3))
        if exc is not None:
            return dict(out, state=TIMEOUT, detail="timed out")
        out.update(_describe_der(got[1]))
        return dict(out, state=OPEN, detail="certificate not trusted: %s" % out["verify_error"])
    except ConnectionRefusedError:
        return dict(out, state=REFUSED, detail="connection refused")
    except (OSError, ssl.SSLError, ConnectionError) as exc2:
        return dict(out, state=ERROR, detail=_reason(exc2))
    if exc is not None:
        return dict(out, state=TIMEOUT, detail="no answer within %gs (%d tries)" % (timeout, int(retries) + 1))
    cert = got[0]
    names = [value for kind, value in cert.get("subjectAltName", ()) if kind == "DNS"]
    not_after = ssl.cert_time_to_seconds(cert["notAfter"])
    out.update(verified=True, names=sorted(names), not_after_epoch=int(not_after),
               not_after=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(not_after)))
    return dict(out, state=OPEN, detail="certificate verified")
