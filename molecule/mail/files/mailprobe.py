"""Test client for the mail scenario: SMTP (smtplib) and IMAP (imaplib), as a real user would.

Passwords come from /root/.imip-test-creds.json (0600, written by prepare.yml), never from the
command line. Prints one JSON object: what was tried and what the server answered.

    mailprobe smtp --host 198.18.4.132 --port 587 --user alice@example.test --from alice@example.test --to bob@example.test --subject S
    mailprobe imap --host 198.18.4.132 --user calendar-invites@example.test --subject S
"""

import argparse
import imaplib
import json
import smtplib
import socket
import ssl
import sys
import time

CREDS = "/root/.imip-test-creds.json"


def password(args):
    with open(CREDS, encoding="utf-8") as handle:
        secret = json.load(handle)[args.user]
    return secret + "-wrong" if args.wrong_password else secret


def tls_context(args):
    return ssl.create_default_context()  # the system store, with the site CA (tls role)


class IMAP4_SSL_Named(imaplib.IMAP4_SSL):
    """IMAPS to an address, verifying the certificate for a name (there is no lab DNS yet)."""

    servername = None

    def _create_socket(self, timeout=None):
        sock = imaplib.IMAP4._create_socket(self, timeout)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.servername or self.host)


def smtp(args):
    out = {"stage": "connect"}
    try:
        with smtplib.SMTP(args.host, args.port, local_hostname=args.helo, timeout=30) as client:
            client.ehlo(args.helo)
            if args.starttls:
                out["stage"] = "starttls"
                client._host = args.servername or args.host  # the name starttls() verifies
                client.starttls(context=tls_context(args))
                client.ehlo(args.helo)
            if args.user:
                out["stage"] = "auth"
                code, message = client.login(args.user, password(args))
                out.update(auth_code=code)
            out["stage"] = "mail"
            code, message = client.mail(args.sender)
            if code >= 400:
                return dict(out, code=code, message=message.decode())
            out["stage"] = "rcpt"
            code, message = client.rcpt(args.to)
            if code >= 400:
                return dict(out, code=code, message=message.decode())
            out["stage"] = "data"
            body = "From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n\r\nmailprobe\r\n" % (args.sender, args.to, args.subject)
            code, message = client.data(body.encode())
            return dict(out, stage="done" if code == 250 else "data", code=code, message=message.decode())
    except smtplib.SMTPResponseException as exc:
        return dict(out, code=exc.smtp_code, message=exc.smtp_error.decode(errors="replace"))
    except (OSError, smtplib.SMTPException) as exc:
        return dict(out, code=None, message="%s: %s" % (type(exc).__name__, exc))


def imap(args):
    out = {"login": False, "found": 0}
    IMAP4_SSL_Named.servername = args.servername
    try:
        client = IMAP4_SSL_Named(args.host, args.port or 993, ssl_context=tls_context(args), timeout=30)
    except (OSError, ssl.SSLError) as exc:
        return dict(out, error="%s: %s" % (type(exc).__name__, exc))
    try:
        try:
            client.login(args.user, password(args))
        except imaplib.IMAP4.error as exc:
            return dict(out, error=str(exc))
        out["login"] = True
        if args.subject:
            deadline = time.time() + args.wait
            while True:
                client.select("INBOX", readonly=True)
                typ, data = client.search(None, "SUBJECT", '"%s"' % args.subject)
                out["found"] = len(data[0].split()) if typ == "OK" else 0
                if out["found"] or time.time() >= deadline:
                    break
                time.sleep(0.5)
        client.logout()
    except (OSError, imaplib.IMAP4.error) as exc:
        out["error"] = str(exc)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("protocol", choices=["smtp", "imap"])
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int)
    parser.add_argument("--servername", help="TLS server name (hosts are addressed by IP)")
    parser.add_argument("--helo", default=socket.getfqdn())
    parser.add_argument("--user")
    parser.add_argument("--wrong-password", action="store_true")
    parser.add_argument("--no-starttls", dest="starttls", action="store_false")
    parser.add_argument("--from", dest="sender", default="")
    parser.add_argument("--to")
    parser.add_argument("--subject", default="")
    parser.add_argument("--wait", type=float, default=15)
    args = parser.parse_args()
    if args.protocol == "smtp":
        args.port = args.port or 587
        result = smtp(args)
    else:
        result = imap(args)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
