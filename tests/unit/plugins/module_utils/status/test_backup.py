"""The backup lines of the status report, from what systemd and the backup program leave on a host."""

import datetime

from ansible_collections.imip.server.plugins.module_utils.status import backup as b

NOW = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.timezone.utc).timestamp()
DAY = 86400

SHOW = """Id=imip-backup.timer
LoadState=loaded
ActiveState=active
UnitFileState=enabled
ActiveEnterTimestamp=@1796500000
TimersCalendar={ OnCalendar=*-*-* 03:15:00 ; next_elapse=@1796613300 }

Id=imip-backup.service
LoadState=loaded
ActiveState=inactive
Result=exit-code
ExecMainStartTimestamp=@1796606494
ExecMainExitTimestamp=@1796606500
ExecMainStatus=1

Id=imip-backup-restore-test.timer
LoadState=not-found
ActiveState=inactive
"""

ANALYZE = """  Original form: *-*-01 04:15:00
Normalized form: *-*-01 04:15:00
    Next elapse: Fri 2027-01-01 04:15:00 UTC
       From now: 3 weeks 4 days left
       Iter. #2: Mon 2027-02-01 04:15:00 UTC
       From now: 1 month 25 days left
"""

TIMER = {"Id": b.BACKUP_TIMER, "LoadState": "loaded", "ActiveState": "active", "UnitFileState": "enabled",
         "ActiveEnterTimestamp": "@%d" % (NOW - 30 * DAY),
         "TimersCalendar": "{ OnCalendar=*-*-* 03:15:00 ; next_elapse=@%d }" % (NOW + 15 * 3600)}
IDLE = {"Id": b.BACKUP_SERVICE, "LoadState": "loaded", "ActiveState": "inactive", "Result": "success"}


def _iso(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat(timespec="seconds")


def _stamp(age, **more):
    return dict({"time": _iso(NOW - age), "seconds": 42, "snapshot": "1a2b3c4d5e6f", "snapshot_time": _iso(NOW - age - 42)},
                **more)


def test_show_output_is_split_per_unit_and_the_schedule_read_from_it():
    units = b.parse_show(SHOW)
    assert sorted(units) == ["imip-backup-restore-test.timer", "imip-backup.service", "imip-backup.timer"]
    assert units["imip-backup.service"]["Result"] == "exit-code"
    assert b.timer_schedule(units["imip-backup.timer"]) == ("*-*-* 03:15:00", 1796613300)
    assert b.timer_schedule(units["imip-backup-restore-test.timer"]) == (None, None)


def test_the_period_is_the_distance_between_two_elapses():
    assert b.calendar_period(ANALYZE) == 31 * DAY
    assert b.calendar_period("Failed to parse calendar specification") is None


def test_a_recent_backup_is_ok_with_its_age_snapshot_and_next_run():
    check = b.last_backup_check(TIMER, IDLE, _stamp(9 * 3600), DAY, now=NOW)
    assert check["status"] == "ok"
    assert "9 h ago" in check["message"] and "snapshot 1a2b3c4d" in check["message"]
    assert "OnCalendar=*-*-* 03:15:00, every 24 h" in check["message"]
    assert "next at 2026-12-08 03:00 UTC" in check["message"]


def test_a_backup_without_some_files_says_so():
    check = b.last_backup_check(TIMER, IDLE, _stamp(3600, incomplete=True), DAY, now=NOW)
    assert check["status"] == "ok" and "restic could not read some files" in check["message"]
    assert "could not read" not in b.last_backup_check(TIMER, IDLE, _stamp(3600, incomplete=False), DAY, now=NOW)["message"]


def test_a_backup_older_than_its_schedule_allows_fails_with_the_fix():
    check = b.last_backup_check(TIMER, IDLE, _stamp(2 * DAY), DAY, now=NOW)
    assert check["status"] == "fail"
    assert "2 days ago" in check["message"]
    assert any("systemctl start imip-backup" in line for line in check["fix"])
    # One period plus the grace is still on time (a slow run, the timer's random delay).
    assert b.last_backup_check(TIMER, IDLE, _stamp(DAY + 2 * 3600), DAY, now=NOW)["status"] == "ok"


def test_a_failed_last_run_fails_even_when_the_last_success_is_recent():
    failed = dict(IDLE, Result="exit-code", ExecMainStatus="1", ExecMainExitTimestamp="@%d" % (NOW - 3600))
    check = b.last_backup_check(TIMER, failed, _stamp(25 * 3600), DAY, now=NOW)
    assert check["status"] == "fail"
    assert "failed (exit-code, exit status 1)" in check["message"]
    assert any("journalctl -u imip-backup" in line for line in check["fix"])
    # A failure before the last success is history.
    older = dict(failed, ExecMainExitTimestamp="@%d" % (NOW - 30 * 3600))
    assert b.last_backup_check(TIMER, older, _stamp(25 * 3600), DAY, now=NOW)["status"] == "ok"


def test_a_running_backup_is_ok():
    running = dict(IDLE, ActiveState="activating", ExecMainStartTimestamp="@%d" % (NOW - 60))
    check = b.last_backup_check(TIMER, running, _stamp(3 * DAY), DAY, now=NOW)
    assert check["status"] == "ok" and "a backup is running since" in check["message"]


def test_no_backup_yet_is_ok_only_within_the_first_period():
    fresh = dict(TIMER, ActiveEnterTimestamp="@%d" % (NOW - 3600))
    assert b.last_backup_check(fresh, IDLE, None, DAY, now=NOW)["status"] == "ok"
    check = b.last_backup_check(TIMER, IDLE, None, DAY, now=NOW)
    assert check["status"] == "fail" and "no successful backup since the timer started" in check["message"]


def test_a_stopped_or_missing_timer_fails():
    check = b.last_backup_check(dict(TIMER, ActiveState="inactive"), IDLE, _stamp(3600), DAY, now=NOW)
    assert check["status"] == "fail" and "systemctl enable --now imip-backup.timer" in check["fix"][0]
    check = b.last_backup_check({"LoadState": "not-found"}, IDLE, None, DAY, now=NOW)
    assert check["status"] == "fail" and "not installed" in check["message"]


def test_the_repository_line_follows_check_repository():
    assert b.repository_check(0, "", "sftp:r@ext:/srv")["status"] == "ok"
    missing = b.repository_check(10, "", "sftp:r@ext:/srv")
    assert missing["status"] == "fail" and "not initialised" in missing["message"]
    refused = b.repository_check(1, "ssh: connect\nFatal: unable to open repository at sftp:r@ext:/srv: EOF\n", "sftp:r@ext:/srv")
    assert refused["status"] == "fail" and refused["message"].endswith("Fatal: unable to open repository at sftp:r@ext:/srv: EOF")
    assert "no answer within the time limit" in b.repository_check(124, "", "s3:https://s3.example/b")["message"]


RESTORE_TIMER = {"Id": b.RESTORE_TEST_TIMER, "LoadState": "loaded", "ActiveState": "active", "UnitFileState": "enabled",
                 "TimersCalendar": "{ OnCalendar=*-*-01 04:15:00 ; next_elapse=@%d }" % (NOW + 20 * DAY)}


def test_a_passed_restore_test_is_ok_with_what_it_restored():
    stamp = _stamp(3 * DAY, kind="test", ok=True, problems=[], entries=812, bytes=1048576, gateway_db=True)
    check = b.restore_test_check(RESTORE_TIMER, stamp, 31 * DAY, now=NOW)
    assert check["status"] == "ok"
    assert "restore test, 3 days ago, restored snapshot 1a2b3c4d" in check["message"]
    assert "812 entries, 1048576 bytes, gateway.db intact" in check["message"]


def test_a_failed_restore_test_fails_with_its_problems():
    stamp = _stamp(DAY, kind="test", ok=False, problems=["owners not on this host: user vmail"])
    check = b.restore_test_check(RESTORE_TIMER, stamp, 31 * DAY, now=NOW)
    assert check["status"] == "fail" and "owners not on this host: user vmail" in check["message"]


def test_a_restore_test_older_than_two_periods_is_overdue():
    stamp = _stamp(70 * DAY, kind="test", ok=True, problems=[])
    assert b.restore_test_check(RESTORE_TIMER, stamp, 31 * DAY, now=NOW)["status"] == "fail"


def test_a_real_restore_counts_and_is_named_so():
    stamp = _stamp(3600, kind="restore", ok=True, problems=[])
    check = b.restore_test_check({"LoadState": "not-found"}, stamp, None, now=NOW)
    assert check["status"] == "ok" and "restore (playbooks/restore.yml)" in check["message"]


def test_no_restore_test_is_unknown_when_off_and_ok_when_scheduled():
    assert b.restore_test_check({"LoadState": "not-found"}, None, None, now=NOW)["status"] == "unknown"
    check = b.restore_test_check(RESTORE_TIMER, None, 31 * DAY, now=NOW)
    assert check["status"] == "ok" and "the first runs on schedule" in check["message"]


def test_every_check_id_has_the_backup_heading():
    from ansible_collections.imip.server.plugins.module_utils.status import checks as sc  # pylint: disable=import-outside-toplevel
    assert [sc.heading_of(cid) for cid in b.CHECK_IDS] == [sc.BACKUP] * 3
