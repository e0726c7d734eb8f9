# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The probes' own protocol code against small SMTP and IMAP servers on 127.0.0.1 (common.py).

They prove how a probe encodes credentials (UTF-8 AUTH PLAIN, AUTH LOGIN, quoted LOGIN), how it
classifies accept / reject / other replies, and that a server's reply that echoes the password
reaches no message. TLS and real Postfix/Dovecot behaviour are proved by the Molecule scenario
`parity`.
"""

from __future__ import annotations

import pytest

from ansible_collections.imip.server.plugins.module_utils.parity import engine as p
from ansible_collections.imip.server.plugins.module_utils.parity import probes

from ...common import OTHER, PASSWORD, USER, ImapHandler, LocalServer, SmtpHandler, by_name, run, spec


def _probe(kind, port, **kw):
    options = dict(name="live", type=kind, host="127.0.0.1", port=port, username=USER, security="none", timeout=5)
    options.update(kw)
    return p.build_stores([spec(**options)])[0]


@pytest.mark.parametrize("mechanisms", ["PLAIN LOGIN", "LOGIN"])
def test_smtp_accepts_and_rejects(mechanisms):
    with LocalServer(SmtpHandler, mechanisms=mechanisms, auth_code=235) as server:
        probe = _probe("probe_smtp", server.port)
        assert probe.holds(PASSWORD) is True   # non-ASCII, UTF-8 on the wire
        assert probe.holds(OTHER) is False
        assert server.seen == [(USER.encode("utf-8"), PASSWORD.encode("utf-8")), (USER.encode("utf-8"), OTHER.encode("utf-8"))]


def test_smtp_temporary_failure_and_no_auth_are_errors_not_drift():
    with LocalServer(SmtpHandler, mechanisms="PLAIN", auth_code=454) as server, \
            LocalServer(SmtpHandler, mechanisms="", auth_code=235) as nothing:
        with pytest.raises(p.StoreError, match=r"^SMTP 127.0.0.1:\d+: AUTH answered 454: 4.7.0 Temporary authentication failure$"):
            _probe("probe_smtp", server.port).holds(PASSWORD)
        with pytest.raises(p.StoreError, match=r"offers no AUTH PLAIN or LOGIN over this connection \(security: none\)"):
            _probe("probe_smtp", nothing.port).holds(PASSWORD)


def test_smtp_starttls_not_offered_is_an_error():
    with LocalServer(SmtpHandler, mechanisms="PLAIN", auth_code=235) as server:
        probe = _probe("probe_smtp", server.port, security="starttls")
        with pytest.raises(p.StoreError, match=r"SMTP 127.0.0.1:\d+: STARTTLS failed: STARTTLS extension not supported by server"):
            probe.holds(PASSWORD)


def test_imap_login_ascii_and_authenticate_plain_for_utf8():
    with LocalServer(ImapHandler, extra_caps="") as server:
        probe = _probe("probe_imap", server.port)
        assert probe.holds(PASSWORD) is True      # non-ASCII: AUTHENTICATE PLAIN
        assert probe.holds(OTHER) is False        # ASCII: LOGIN
        assert probe.holds('we"ird\\pass') is False
        assert [s[0] for s in server.seen] == ["AUTHENTICATE", "LOGIN", "LOGIN"]
        assert server.seen[2][2] == b'we"ird\\pass', "LOGIN quoting round-trips"


def test_imap_logindisabled_is_an_error():
    with LocalServer(ImapHandler, extra_caps=" LOGINDISABLED") as server:
        with pytest.raises(p.StoreError, match=r"IMAP 127.0.0.1:\d+: the server disables LOGIN over this connection"):
            _probe("probe_imap", server.port).holds(OTHER)


# --- a server that echoes the password back ----------------------------------------------------

@pytest.mark.parametrize("secret", [PASSWORD, "spaced  out   pass", "ascii-only-Secret-9"])
def test_smtp_reply_echoing_the_password_is_masked(secret):
    with LocalServer(SmtpHandler, mechanisms="PLAIN", auth_code=454, echo=True) as server:
        result = run([dict(name="live", type="probe_smtp", host="127.0.0.1", port=server.port, username=USER,
                           security="none", timeout=5)], secret=secret)[0]
        assert server.seen[0][1] == secret.encode("utf-8"), "the server did get the password (and echoed it)"
    msg = by_name(result)["live"]["msg"]
    assert by_name(result)["live"]["status"] == "error"
    assert msg == "SMTP 127.0.0.1:%d: AUTH answered 454: 4.7.0 Temporary authentication failure for %s/%s" % (
        server.port, USER, probes.MASK)
    assert secret not in msg and " ".join(secret.split()) not in msg


@pytest.mark.parametrize("secret", [PASSWORD, "ascii-only-Secret-9"])
def test_imap_bye_echoing_the_password_is_masked(secret):
    with LocalServer(ImapHandler, extra_caps="", echo=True) as server:
        result = run([dict(name="live", type="probe_imap", host="127.0.0.1", port=server.port, username=USER,
                           security="none", timeout=5)], secret=secret)[0]
        assert server.seen[0][2] == secret.encode("utf-8")
    msg = by_name(result)["live"]["msg"]
    assert by_name(result)["live"]["status"] == "error"
    assert msg.startswith("IMAP 127.0.0.1:%d: connection lost during LOGIN: " % server.port)
    assert msg.endswith("Internal error while checking %s" % probes.MASK), msg
    assert secret not in msg


def test_scrub_masks_the_secret_as_a_client_library_may_have_decoded_it():
    assert probes.scrub("no  such user a  b here", "a  b") == "no such user ******** here"
    assert probes.scrub("said a b", "a  b") == "said ********"
    raw = "pässwörd".encode("utf-8")
    for decoded in (raw.decode("ascii", "replace"), raw.decode("latin-1"), raw.decode("ascii", "backslashreplace")):
        assert probes.scrub("bad: %s." % decoded, "pässwörd") == "bad: ********."
    assert probes.scrub("nothing", None) == "nothing"


def test_audit_probe_joins_the_group_whose_value_logs_in(tmp_path):
    with LocalServer(SmtpHandler, mechanisms="PLAIN", auth_code=235) as server:
        def audit(values):
            specs = []
            for name, value in values:
                (tmp_path / name).write_text(value)
                specs.append(dict(name=name, type="file", path=str(tmp_path / name)))
            specs.append(dict(name="live", type="probe_smtp", host="127.0.0.1", port=server.port,
                              username=USER, security="none", timeout=5))
            return run(specs)[0]

        result = audit([("a", PASSWORD), ("b", PASSWORD), ("c", OTHER)])
        assert result["groups"] == [["a", "b", "live"], ["c"]] and result["drifted"] == ["c"]
        assert len(server.seen) == 1, "the most common value is tried first"
        # the live service accepts the minority's value: 2 against 2, no group is presumed right
        result = audit([("a", OTHER), ("b", OTHER), ("c", PASSWORD)])
        assert result["groups"] == [["a", "b"], ["c", "live"]]
        assert result["drifted"] == ["a", "b", "c", "live"] and result["in_parity"] is False


def test_probe_results_say_accepts_or_rejects():
    with LocalServer(SmtpHandler, mechanisms="PLAIN", auth_code=235) as server:
        live = dict(name="live", type="probe_smtp", host="127.0.0.1", port=server.port, username=USER, security="none", timeout=5)
        accepted = by_name(run([live], secret=PASSWORD)[0])["live"]
        rejected = by_name(run([live], secret=OTHER)[0])["live"]
    where = "SMTP 127.0.0.1:%d as %s" % (server.port, USER)
    assert (accepted["status"], accepted["msg"]) == ("match", where + " accepts the password")
    assert (rejected["status"], rejected["msg"]) == ("drift", where + " rejects the password")
