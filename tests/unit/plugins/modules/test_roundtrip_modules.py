# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The round trip's modules end to end on this machine: a real Maildir, a local SMTP server that
refuses the reply, a local HTTP server that refuses the organizer's login and echoes what it got.
The working round trip is check.yml's, against the lab (docs/status.md)."""

from __future__ import annotations

import base64
import mailbox
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ansible_collections.imip.server.plugins.modules import roundtrip_attendee, roundtrip_organizer

from ..common import LocalServer, SmtpHandler
from ..module_utils.roundtrip.common import PASSWORD, TOKEN_ADDRESS, itip


class RefusingDav(BaseHTTPRequestHandler):
    """401 to everything, echoing the credentials it was sent (a badly written server)."""

    def do_any(self):
        body = ("no: %s" % base64.b64decode(self.headers.get("Authorization", "Basic ")[6:]).decode()).encode()
        self.send_response(401, "Unauthorized")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_MKCALENDAR = do_PUT = do_GET = do_DELETE = do_any  # noqa: N815  # pylint: disable=invalid-name

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass


def test_the_organizer_module_reports_a_refused_login_without_the_password(run_module):
    server = ThreadingHTTPServer(("127.0.0.1", 0), RefusingDav)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        args = dict(url="http://127.0.0.1:%d/" % server.server_address[1], user="alice@example.test",
                    password=PASSWORD, attendee="attendee@external.test")
        invited = run_module(roundtrip_organizer, dict(args, step="invite"))
        finished = run_module(roundtrip_organizer, dict(args, step="finish", invitation=invited.result["invitation"]))
    finally:
        server.shutdown()
        server.server_close()
    (check,) = invited.result["checks"]
    assert (check["id"], check["status"]) == ("roundtrip.invitation", "fail")
    assert "answered 401 Unauthorized" in check["message"]
    assert invited.result["invitation"]["href"] == "" and invited.result["changed"] is False
    assert finished.result["removal"] == {"deleted": False, "error": ""} and finished.result["checks"] == []
    for raw in run_module.outputs:
        assert PASSWORD not in raw


def test_the_attendee_module_answers_from_a_real_maildir_and_names_a_refusing_mta(run_module, tmp_path):
    maildir = tmp_path / "Maildir"
    mailbox.Maildir(str(maildir), create=True).add(itip("u1"))
    with LocalServer(SmtpHandler, mechanisms="") as mta:
        run = run_module(roundtrip_attendee, dict(step="answer", uid="u1", attendee="attendee@external.test",
                                                  maildir=str(maildir), smtp_port=mta.port, timeout=1))
    statuses = [(c["id"], c["status"]) for c in run.result["checks"]]
    assert statuses == [("roundtrip.invitation", "ok"), ("roundtrip.authentication", "ok"), ("roundtrip.reply", "fail")]
    assert run.result["invitation_arrived"] is True and run.result["replied"] is False
    assert "502" in run.result["checks"][2]["message"]
    assert TOKEN_ADDRESS not in run.raw

    cleaned = run_module(roundtrip_attendee, dict(step="cleanup", uid="u1", attendee="attendee@external.test",
                                                  maildir=str(maildir), removal={"deleted": False, "error": ""}))
    assert [(c["id"], c["status"]) for c in cleaned.result["checks"]] == [("roundtrip.cleanup", "ok")]
    assert not list(mailbox.Maildir(str(maildir)).keys())


def test_the_attendee_module_names_a_mailbox_it_cannot_reach_without_its_password(run_module):
    """A provider's mailbox (IMAP) that does not answer: ✖ naming the mailbox and the setting to
    check, the reply not tried, and the password nowhere in the output."""
    with LocalServer(SmtpHandler, mechanisms="") as closed:
        port = closed.port  # a port that was just free again: nothing listens there now
    run = run_module(roundtrip_attendee, dict(
        step="answer", uid="u1", attendee="attendee@external.test", timeout=1,
        mailbox=dict(imap_host="127.0.0.1", imap_port=port, password=PASSWORD)))
    statuses = [(c["id"], c["status"]) for c in run.result["checks"]]
    assert statuses == [("roundtrip.invitation", "fail"), ("roundtrip.reply", "unknown")]
    message = run.result["checks"][0]["message"]
    assert message.startswith("could not read the attendee's mailbox: the INBOX of attendee@external.test at 127.0.0.1:%d (IMAP)" % port)
    assert "imip_check_roundtrip_mailbox" in run.result["checks"][0]["fix"][0]
    assert run.result["replied"] is False
    for raw in run_module.outputs:
        assert PASSWORD not in raw


def test_the_attendee_module_takes_one_mailbox(run_module, tmp_path):
    both = run_module(roundtrip_attendee, dict(step="answer", uid="u1", attendee="attendee@external.test",
                                               maildir=str(tmp_path), mailbox=dict(imap_host="h", password=PASSWORD)))
    assert both.failed and "mutually exclusive" in both.result["msg"]
    none = run_module(roundtrip_attendee, dict(step="answer", uid="u1", attendee="attendee@external.test"))
    assert none.failed and "one of the following is required: maildir, mailbox" in none.result["msg"]
