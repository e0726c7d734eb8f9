# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Test data and small real servers for the status report's unit tests (one module, so that test
modules never import each other).

- `MxHandler`: the one fake SMTP server (common.SmtpHandler) as an MX on 127.0.0.1, answering the
  outside checks the way Postfix with postgrey does (a table of RCPT replies), optionally with
  STARTTLS; it records every command, so tests can prove that no DATA was ever sent.
- `certificates()` / `TlsHandler`: a CA and leaf certificates made with cryptography, served over
  implicit TLS on 127.0.0.1.
- `gateway_status()`: `imip-gateway status --json` as the lab's gateway prints it.
"""

from __future__ import annotations

import copy
import datetime
import socket
import socketserver
import ssl
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# closed_port is re-exported for the status tests.
from .common import LocalServer, SmtpHandler, closed_port  # noqa: F401  pylint: disable=unused-import

# ------------------------------------------------------------------------------ servers


# The small local server of the parity tests (common.py), under the name these tests use.
Running = LocalServer


class MxHandler(SmtpHandler):
    """common.SmtpHandler, the one fake SMTP server, with an MX's defaults: Postfix's banner on
    cal.example.test, no AUTH, an envelope (rcpt: {address: "450 4.2.0 ..."}, default "250 2.1.5 Ok";
    mail_reply), every command line in `seen` (so tests can prove that no DATA was ever sent);
    tls_context offers STARTTLS."""

    defaults = dict(SmtpHandler.defaults, hostname="cal.example.test", banner="220 cal.example.test ESMTP Postfix",
                    rcpt={}, record="commands")


POSTGREY = "450 4.2.0 <alice@example.test>: Recipient address rejected: Greylisted, see https://postgrey.schweikert.ch/help/example.test.html"
RELAY_DENIED = "554 5.7.1 <x@external.test>: Relay access denied"


# ------------------------------------------------------------------------------ certificates


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def certificates(tmp_path, names, days=90, start_days=-1):
    """A CA (its PEM file path) and a leaf for names, valid from start_days to days from now.
    Returns (ca_file, cert_file, key_file)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("status test CA")).issuer_name(_name("status test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=2)).not_valid_after(now + datetime.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(_name(names[0])).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now + datetime.timedelta(days=start_days)).not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(ca_file), str(cert_file), str(key_file)


def server_context(cert_file, key_file):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


class TlsHandler(socketserver.BaseRequestHandler):
    def handle(self):
        try:
            tls = self.server.tls_context.wrap_socket(self.request, server_side=True)
            tls.recv(1)
        except (OSError, ssl.SSLError):
            pass


# ------------------------------------------------------------------------------ the gateway

_STATUS = {
    "database": "/var/lib/imip-gateway/gateway.db",
    "hook": {"loaded": True, "marker": "/var/spool/imip-gateway/hook/loaded", "pid": 6859,
             "time": "2026-11-30T00:33:18+00:00"},
    "inbound": {"decisions_last_24h": {}, "enabled": True,
                "folders": {"Forwarded": 0, "INBOX": 0, "Processed": 0, "Rejected": 0, "Unknown": 0},
                "imap": "calendar-invites@example.test@cal.example.test:993", "last_error": None,
                "last_error_time": None, "last_login_ok": True, "last_login_time": "2026-11-30T00:33:16+00:00",
                "last_pass": "2026-11-30T00:36:48+00:00", "not_filed": 0, "oldest_unprocessed": None},
    "instance_id": "cal.example.test",
    "outbound": {"changes_not_planned": 0, "failed_total": 0, "oldest_pending": None, "queue_depth": 0,
                 "reconcile_last_run": "2026-11-30T00:33:21+00:00", "reconcile_seconds": 300,
                 "schedule_status_pending": 0, "sent_last_24h": 0, "sent_total": 0,
                 "smtp": {"last_error": None, "last_error_time": None, "last_login_ok": None, "last_login_time": None,
                          "last_ok": None, "last_result": None, "last_time": None}},
    "spool_backlog": 0,
    # Every line of `imip-gateway status` as {id, group, status, text, fix}; "problems" is every ✖.
    "checks": [
        {"id": "hook.loaded", "group": "Radicale hook", "status": "ok", "text": "loaded (pid 6859, 2026-11-30T00:33:18+00:00)", "fix": ""},
        {"id": "hook.spool", "group": "Radicale hook", "status": "ok", "text": "spool backlog: 0 record(s)", "fix": ""},
        {"id": "service.heartbeat", "group": "Service", "status": "ok", "text": "running (pid 6861), heartbeat 2 s ago", "fix": ""},
        {"id": "outbound.queue", "group": "Outbound", "status": "ok",
         "text": "queue depth: 0 pending, 0 sent in 24 h, 0 failed and 0 dropped in all", "fix": ""},
        {"id": "outbound.paused", "group": "Outbound", "status": "ok", "text": "sending is not paused", "fix": ""},
        {"id": "smtp.result", "group": "Outbound", "status": "unknown", "text": "last SMTP result: nothing sent yet", "fix": ""},
        {"id": "smtp.login", "group": "Outbound", "status": "unknown", "text": "last SMTP login: none yet", "fix": ""},
        {"id": "outbound.planning", "group": "Outbound", "status": "ok", "text": "no planning error in the last 24 h", "fix": ""},
        {"id": "outbound.reconcile", "group": "Outbound", "status": "ok", "text": "last reconciliation 3 min ago (every 300 s)", "fix": ""},
        {"id": "outbound.schedule_status", "group": "Outbound", "status": "ok", "text": "no SCHEDULE-STATUS write-back pending", "fix": ""},
        {"id": "inbound.login", "group": "Inbound", "status": "ok",
         "text": "last IMAP login as calendar-invites@example.test@cal.example.test:993: succeeded (2026-11-30T00:33:16+00:00)", "fix": ""},
        {"id": "inbound.pass", "group": "Inbound", "status": "ok", "text": "last pass over INBOX 12 s ago (polling every 30 s)", "fix": ""},
        {"id": "inbound.waiting", "group": "Inbound", "status": "ok", "text": "no reply waiting in INBOX, 0 being filed", "fix": ""},
    ],
    "problems": [],
}
# The unit's properties as `systemctl show --timestamp=unix` prints them (started 00:33:15 UTC).
UNIT = {"LoadState": "loaded", "ActiveState": "active", "SubState": "running", "NRestarts": "0",
        "ActiveEnterTimestamp": "@1795998795"}
STARTED = 1795998795.0


def gateway_status():
    """A fresh copy of a healthy gateway's status (as printed in the lab)."""
    return copy.deepcopy(_STATUS)


# ------------------------------------------------------------------------------ DNS


class DnsServer(object):
    """A real UDP DNS server on 127.0.0.1 answering from {(name., TYPE): [zone-file values]}
    (NXDOMAIN for a name it does not know at all). with DnsServer(zone) as server: server.port"""

    def __init__(self, zone):
        import dns.message  # pylint: disable=import-outside-toplevel
        import dns.rcode  # pylint: disable=import-outside-toplevel
        import dns.rdata  # pylint: disable=import-outside-toplevel
        import dns.rdatatype  # pylint: disable=import-outside-toplevel
        import dns.rrset  # pylint: disable=import-outside-toplevel
        self.dns = dns
        self.zone = dict(((name.lower(), rtype), [dns.rdata.from_text("IN", rtype, v) for v in values])
                         for (name, rtype), values in zone.items())
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        dns = self.dns
        while not self.stop.is_set():
            try:
                wire, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            query = dns.message.from_wire(wire)
            response = dns.message.make_response(query)
            q = query.question[0]
            name, rtype = q.name.to_text().lower(), dns.rdatatype.to_text(q.rdtype)
            records = self.zone.get((name, rtype))
            if records:
                response.answer.append(dns.rrset.from_rdata_list(q.name, 300, records))
            elif not any(key[0] == name for key in self.zone):
                response.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(response.to_wire(), peer)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.sock.close()

    @property
    def port(self):
        return self.sock.getsockname()[1]
