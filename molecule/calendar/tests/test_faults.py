"""Faults an administrator meets, against the real services on aio: Postfix down, the gateway
killed, a wrong SMTP password, the hook module missing. Nothing is lost, the failure is visible
in `imip-gateway status` and the journal, and the service recovers on its own."""

from datetime import timedelta

from imip_lab_client import event_ics, gateway_status, itip_for, new_uid, tomorrow, wait_for

ALICE = "alice@example.test"
ATTENDEE = "attendee@external.test"
SMTP_CRED = "/etc/credstore.encrypted/imip-gateway.smtp.cred"


def create_events(calendar, count, hour):
    uids = [new_uid() for _index in range(count)]
    for i, uid in enumerate(uids):
        calendar.save_event(event_ics(uid, ALICE, [ATTENDEE], tomorrow(hour) + timedelta(minutes=5 * i)))
    return uids


def pending(aio, count):
    status = gateway_status(aio)["outbound"]
    return status if status["queue_depth"] >= count else None


def run(host, command):
    result = host.run(command)
    assert result.rc == 0, f"{command}: {result.stderr}"
    return result.stdout


def test_postfix_stopped_while_invitations_are_created_loses_nothing(calendar_of, aio, ext):
    run(aio, "systemctl stop postfix")
    try:
        uids = create_events(calendar_of(ALICE), 3, 6)
        status = wait_for("3 jobs pending with the SMTP error", lambda: pending(aio, 3),
                          until=lambda s: s and s["smtp"]["last_error"])
        assert status["oldest_pending"]
    finally:
        run(aio, "systemctl start postfix")
    for uid in uids:
        wait_for(f"the invitation {uid} after Postfix is back", lambda: itip_for(ext, ATTENDEE, uid), timeout=120)
    wait_for("an empty queue", lambda: gateway_status(aio)["outbound"]["queue_depth"] == 0)


def test_gateway_killed_mid_queue_resumes_and_resends_at_most_once(calendar_of, aio, ext):
    restarts = int(run(aio, "systemctl show -P NRestarts imip-gateway"))
    run(aio, "systemctl stop postfix")
    try:
        uids = create_events(calendar_of(ALICE), 6, 12)
        # 120 s as the waits below: under load (a fresh-clone make test with a third and fourth
        # scenario beside it) the six jobs were not all queued within 60 s.
        wait_for("6 jobs pending", lambda: pending(aio, 6), timeout=120)
        run(aio, "systemctl kill --signal=KILL imip-gateway")  # queued, mid-retry
    finally:
        run(aio, "systemctl start postfix")
    # And once more while it drains the queue, as soon as the first invitation is through.
    wait_for("the first invitation", lambda: any(itip_for(ext, ATTENDEE, uid) for uid in uids), timeout=120, interval=0.2)
    run(aio, "systemctl kill --signal=KILL imip-gateway")
    for uid in uids:
        copies = wait_for(f"the invitation {uid}", lambda: itip_for(ext, ATTENDEE, uid), timeout=120)
        assert len(copies) <= 2, f"{uid} was sent {len(copies)} times"
        assert len({message["Message-ID"] for message, _cal in copies}) == 1, "a resend must carry the same Message-ID"
    assert int(run(aio, "systemctl show -P NRestarts imip-gateway")) >= restarts + 2
    wait_for("an empty queue", lambda: gateway_status(aio)["outbound"]["queue_depth"] == 0)


def test_wrong_smtp_password_keeps_the_jobs_and_says_so(calendar_of, aio, ext):
    run(aio, f"cp -a {SMTP_CRED} /root/smtp.cred.saved")
    since = run(aio, "date '+%Y-%m-%d %H:%M:%S'").strip()
    try:
        # Not the account's password; the real credential is saved (encrypted) and put back below.
        run(aio, f"printf %s 'wrong-smtp-password-for-the-test' | systemd-creds encrypt --name=imip-gateway.smtp - {SMTP_CRED}")
        run(aio, "systemctl restart imip-gateway")
        uid = create_events(calendar_of(ALICE), 1, 19)[0]
        status = wait_for("the failed SMTP login in status",
                          lambda: gateway_status(aio)["outbound"],
                          until=lambda s: s["smtp"]["last_login_ok"] is False and s["queue_depth"] >= 1, timeout=90)
        assert status["smtp"]["last_error"]
        journal = run(aio, f"journalctl -u imip-gateway --since '{since}' --no-pager -o cat")
        assert "authentication" in journal.lower()
        assert "Traceback" not in journal
        assert itip_for(ext, ATTENDEE, uid) == []
    finally:
        run(aio, f"cp -a /root/smtp.cred.saved {SMTP_CRED} && rm -f /root/smtp.cred.saved")
        run(aio, "systemctl restart imip-gateway")
    wait_for("the kept invitation, sent with the right password", lambda: itip_for(ext, ATTENDEE, uid), timeout=120)
    assert gateway_status(aio)["outbound"]["smtp"]["last_login_ok"] is True


def test_radicale_refuses_to_run_without_the_hook(aio):
    module = run(aio, "ls /opt/imip/radicale/lib/python3*/site-packages/imip_gateway/radicale_hook.py").strip()
    since = run(aio, "date '+%Y-%m-%d %H:%M:%S'").strip()
    run(aio, f"mv {module} {module}.away")
    try:
        restart = aio.run("systemctl restart radicale")
        assert restart.rc != 0, "Radicale started without its hook"
        journal = run(aio, f"journalctl -u radicale --since '{since}' --no-pager -o cat")
        assert "FAILED: Radicale runs WITHOUT the iMIP hook" in journal
        assert aio.run("systemctl is-active radicale").stdout.strip() != "active"
    finally:
        run(aio, f"mv {module}.away {module}")
        run(aio, "systemctl restart radicale")
    assert aio.run("systemctl is-active radicale").stdout.strip() == "active"
