"""After the backup, the loss of aio's data, a converge and playbooks/restore.yml (side_effect.yml):
what a user checks. Alice's event is back, her mailbox holds what it held, the external attendee's
ACCEPTED reply to the invitation mailed BEFORE the loss is applied (the gateway's restored state
knows its token and sequence), and the organizer's next update reaches the attendee with a
SEQUENCE above the one they hold. First of the scenario's tests (file order), so nothing else has
touched the restored site yet."""

import json
import os
from pathlib import Path

import pytest
from imip_lab_client import (event_ics, itip_for, maildir, messages, partstat, reply_message, send_from_ext, sequence_of,
                             token_address, tomorrow, wait_for)

ALICE = "alice@example.test"
ATTENDEE = "attendee@external.test"
EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "."))


@pytest.fixture(scope="module")
def before():
    """What side_effect recorded before the loss: the event's UID, alice's Message-IDs, the stamp."""
    return json.loads((EPHEMERAL / "backup-state.json").read_text())


def test_the_backup_left_a_stamp_with_its_snapshot(before):
    assert len(before["stamp"]["snapshot"]) == 64
    assert before["stamp"]["time"]


def test_the_restore_test_proved_the_snapshot_whole_before_the_loss(before):
    test = before["restore_test"]
    assert test["kind"] == "test" and test["ok"] is True, test["problems"]
    assert test["snapshot"] == before["stamp"]["snapshot"]
    assert test["gateway_db"] is True
    assert test["entries"] > 20 and test["bytes"] > 10000


def test_the_status_report_shows_the_backup_the_repository_and_the_restore():
    checks = {c["id"]: c for c in json.loads((EPHEMERAL / "backup-status.json").read_text())}
    assert sorted(checks) == ["backup.last", "backup.repository", "backup.restore_test"]
    assert all(c["status"] == "ok" for c in checks.values()), checks
    assert "ago" in checks["backup.last"]["message"] and "next at" in checks["backup.last"]["message"]
    assert "restore (playbooks/restore.yml)" in checks["backup.restore_test"]["message"]


def test_the_organizers_event_is_back(calendar_of, before):
    event = calendar_of(ALICE).event_by_uid(before["uid"]).icalendar_component
    assert str(event["UID"]) == before["uid"]
    assert partstat(calendar_of(ALICE), before["uid"], ATTENDEE) == "NEEDS-ACTION"


def test_the_mailbox_holds_what_it_held(aio, before):
    assert f"<before-backup-{before['uid']}>" in before["alice_messages"]
    assert sorted(str(m["Message-ID"]) for m in messages(aio, ALICE)) == before["alice_messages"]
    owner = aio.check_output(f"stat -c %U:%G {maildir(ALICE)}/cur")
    assert owner == "vmail:vmail"


def test_the_gateway_db_came_back_from_its_online_copy(aio):
    assert aio.check_output("stat -c %U /var/lib/imip-gateway/gateway.db") == "imip-gateway"
    assert aio.run("test -e /var/lib/imip-backup/restore").rc != 0, "the restore's staging tree was left behind"


def test_a_reply_to_an_invitation_sent_before_the_loss_is_applied(calendar_of, ext, before):
    uid = before["uid"]
    request = itip_for(ext, ATTENDEE, uid)[-1][1]
    send_from_ext(ext, reply_message(uid, token_address(request), ATTENDEE, "ACCEPTED", sequence_of(request)), ATTENDEE)
    wait_for("PARTSTAT=ACCEPTED on alice's event", lambda: partstat(calendar_of(ALICE), uid, ATTENDEE) == "ACCEPTED", timeout=120)


def test_the_next_update_carries_a_sequence_above_the_attendees(calendar_of, ext, before):
    uid = before["uid"]
    held = sequence_of(itip_for(ext, ATTENDEE, uid)[-1][1])
    count = len(itip_for(ext, ATTENDEE, uid))
    event = calendar_of(ALICE).event_by_uid(uid)
    # Alice moves it with a client that does not bump SEQUENCE (as Thunderbird): only the gateway's
    # restored record of what it mailed puts the update above what the attendee holds.
    event.data = event_ics(uid, ALICE, [ATTENDEE], tomorrow(16), sequence=held)
    event.save(increase_seqno=False)
    update = wait_for("the update in the attendee's mailbox", lambda: itip_for(ext, ATTENDEE, uid)[count:], timeout=120)[-1][1]
    assert sequence_of(update) > held
