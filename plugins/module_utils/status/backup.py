# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The backup's status checks (private to imip.server; the site_status_info module).

What the imip.server.backup role leaves on a host, judged as an operator would:

- backup.last: the last successful backup (the program's stamp, last-success.json) and its age
  against the timer's schedule, a failed last run, a timer that is off;
- backup.repository: `imip-backup check-repository` (0 there, 10 not initialised, else unreachable);
- backup.restore_test: the last restore test or restore (last-restore.json) and its result.

The functions take what the module read (systemctl show properties, stamps, the schedule's
period) and return checks (status.checks); they never raise for what they find.
"""

from __future__ import annotations

import datetime
import re
import time

from ansible_collections.imip.server.plugins.module_utils.status import checks as sc

BACKUP_TIMER = "imip-backup.timer"
BACKUP_SERVICE = "imip-backup.service"
RESTORE_TEST_TIMER = "imip-backup-restore-test.timer"
RESTORE_TEST_SERVICE = "imip-backup-restore-test.service"
UNITS = (BACKUP_TIMER, BACKUP_SERVICE, RESTORE_TEST_TIMER, RESTORE_TEST_SERVICE)
SHOW_PROPERTIES = ("Id", "LoadState", "ActiveState", "SubState", "UnitFileState", "ActiveEnterTimestamp",
                   "TimersCalendar", "Result", "ExecMainStartTimestamp", "ExecMainExitTimestamp", "ExecMainStatus")
CHECK_IDS = ("backup.last", "backup.repository", "backup.restore_test")

# A run starts up to RandomizedDelaySec (5 min) after its time and may take long on a big site:
# a backup counts as overdue one period plus this after the last success.
GRACE_SECONDS = 3 * 3600

_CALENDAR = re.compile(r"OnCalendar=(?P<expr>.*?) ; next_elapse=(?:@(?P<next>\d+)|[^}]*)")
_ELAPSE = re.compile(r"^\s*(?:Next elapse|Iter\. #\d+):\s*(?P<when>.+?)\s*$", re.MULTILINE)


def parse_show(text):
    """{Id: properties} of `systemctl show UNIT... -p ...` (one blank-line separated block per unit)."""
    units = {}
    for block in text.split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if props.get("Id"):
            units[props["Id"]] = props
    return units


def timer_schedule(props):
    """(OnCalendar expression, next elapse epoch or None) of a timer's TimersCalendar property."""
    found = _CALENDAR.search(props.get("TimersCalendar", ""))
    if not found:
        return None, None
    return found.group("expr"), int(found.group("next")) if found.group("next") else None


def calendar_period(text):
    """Seconds between the first two elapses that `TZ=UTC systemd-analyze calendar --iterations=2`
    printed, or None."""
    stamps = []
    for found in _ELAPSE.finditer(text):
        try:
            stamps.append(datetime.datetime.strptime(found.group("when"), "%a %Y-%m-%d %H:%M:%S UTC")
                          .replace(tzinfo=datetime.timezone.utc).timestamp())
        except ValueError:
            continue
    return int(stamps[1] - stamps[0]) if len(stamps) >= 2 else None


def _unix(props, name):
    try:
        return float(props.get(name, "").lstrip("@"))
    except ValueError:
        return None


def _iso_epoch(value):
    try:
        return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _when(epoch):
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


def _span(seconds):
    """3 min, 5 h, 2 days: how an operator says an age or a period."""
    seconds = max(0, int(seconds))
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size * (2 if unit == "day" else 1):
            count = seconds // size
            return "%d %s%s" % (count, unit, "s" if unit == "day" and count != 1 else "")
    return "%d s" % seconds


def _schedule_text(expr, period, next_elapse):
    parts = []
    if expr:
        parts.append("OnCalendar=%s" % expr + (", every %s" % _span(period) if period else ""))
    if next_elapse:
        parts.append("next at %s" % _when(next_elapse))
    return "; ".join(parts)


def _unit_not_running(cid, timer_name, timer, what):
    """A failing check when a timer is missing or stopped, else None."""
    if timer.get("LoadState") != "loaded":
        return sc.fail(cid, sc.BACKUP, "%s is not installed: %s never run" % (timer_name, what),
                       "%s loaded and active" % timer_name,
                       "run site.yml (playbooks/backup.yml: the backup role writes and starts it)")
    if timer.get("ActiveState") != "active":
        return sc.fail(cid, sc.BACKUP, "%s is %s: %s do not run on schedule" % (timer_name, timer.get("ActiveState"), what),
                       "%s active (waiting)" % timer_name,
                       "systemctl enable --now %s (site.yml does it too)" % timer_name)
    return None


def _last_success(stamp, last, now):
    """How long ago the last success was, with its snapshot and duration ("" when none)."""
    if last is None:
        return ""
    return "%s ago (%s, snapshot %s, %s s)" % (
        _span(now - last), _when(last), str(stamp.get("snapshot", "?"))[:8], stamp.get("seconds", "?"))


def _no_backup_yet(cid, timer, allowed, schedule, now, fix_run):
    """No success recorded: fine while the timer is younger than a period, a failure after."""
    armed = _unix(timer, "ActiveEnterTimestamp")
    if allowed is None or (armed is not None and now - armed <= allowed):
        return sc.ok(cid, sc.BACKUP, "no backup yet: the first runs on schedule (%s)" % schedule)
    return sc.fail(cid, sc.BACKUP, "no successful backup since the timer started%s" % (
        " at %s" % _when(armed) if armed else ""), "a successful backup within %s (%s)" % (_span(allowed), schedule),
        fix_run)


_FIX_RUN = ["read why: journalctl -u imip-backup -n 50",
            "then run one now: systemctl start imip-backup (the Backups lines say whether the repository answers)"]


def _current_run(cid, service, last, ago, schedule):
    """A backup running now (✓), or the last run failed after the last success (✖); else None."""
    if service.get("ActiveState") in ("activating", "active"):
        began = _unix(service, "ExecMainStartTimestamp")
        return sc.ok(cid, sc.BACKUP, "a backup is running%s; the last success %s" % (
            " since %s" % _when(began) if began else "", ago or "none yet"))
    ended = _unix(service, "ExecMainExitTimestamp")
    if service.get("Result", "success") != "success" and ended and (last is None or ended > last):
        return sc.fail(cid, sc.BACKUP, "the last backup, at %s, failed (%s, exit status %s); the last success %s" % (
            _when(ended), service.get("Result"), service.get("ExecMainStatus", "?"), ago or "none yet"),
            "each scheduled backup succeeds (%s)" % schedule, _FIX_RUN)
    return None


def last_backup_check(timer, service, stamp, period, now=None):
    """backup.last from the timer's and the service's properties, last-success.json (dict or None)
    and the schedule's period in seconds (None when unknown)."""
    now = time.time() if now is None else now
    cid = "backup.last"
    stopped = _unit_not_running(cid, BACKUP_TIMER, timer, "backups are")
    if stopped:
        return stopped
    expr, next_elapse = timer_schedule(timer)
    schedule = _schedule_text(expr, period, next_elapse)
    last = _iso_epoch(stamp.get("time")) if stamp else None
    ago = _last_success(stamp, last, now)
    current = _current_run(cid, service, last, ago, schedule)
    if current:
        return current
    allowed = period + GRACE_SECONDS if period else None
    if last is None:
        return _no_backup_yet(cid, timer, allowed, schedule, now, _FIX_RUN)
    if allowed is not None and now - last > allowed:
        return sc.fail(cid, sc.BACKUP, "the last successful backup is %s" % ago,
                       "a successful backup within %s (%s)" % (_span(allowed), schedule), _FIX_RUN)
    partial = ("; restic could not read some files (they vanished while it ran, or are unreadable: "
               "journalctl -u imip-backup)") if stamp.get("incomplete") else ""
    return sc.ok(cid, sc.BACKUP, "last backup %s%s; %s" % (ago, partial, schedule))


def repository_check(rc, stderr, repository, program="imip-backup"):
    """backup.repository from the exit code and stderr of `imip-backup check-repository` (124:
    the time limit of `timeout` ran out)."""
    cid = "backup.repository"
    if rc == 0:
        return sc.ok(cid, sc.BACKUP, "the repository %s answers and opens with the password" % repository)
    last = (stderr or "").strip().splitlines()
    detail = last[-1] if last else "no message"
    if rc == 10:
        return sc.fail(cid, sc.BACKUP, "the repository %s does not exist (not initialised)" % repository,
                       "an initialised repository", "run site.yml (playbooks/backup.yml initialises it)")
    if rc == 124:
        detail = "no answer within the time limit"
    return sc.fail(cid, sc.BACKUP, "the repository %s cannot be opened: %s" % (repository, detail),
                   "the repository answers and opens with imip_backup_password",
                   ["sftp: the host's key authorized on the repository host (imip_backup_ssh_public_key) and its host "
                    "key in imip_backup_ssh_known_hosts; s3: the URL and the access keys; a wrong password says "
                    "'wrong password or no key found'",
                    "on the host: %s check-repository prints restic's message" % program])


def restore_test_check(timer, stamp, period, now=None):
    """backup.restore_test from the restore test timer's properties, last-restore.json (dict or
    None) and the test schedule's period (None when unknown or off)."""
    now = time.time() if now is None else now
    cid = "backup.restore_test"
    scheduled = timer.get("LoadState") == "loaded" and timer.get("UnitFileState") == "enabled"
    expr, next_elapse = timer_schedule(timer)
    schedule = _schedule_text(expr, period, next_elapse) if scheduled else "no schedule"
    fix_test = ["on the host: systemctl start imip-backup-restore-test (prints what is missing; the live data is not "
                "touched)", "schedule it: imip_backup_restore_test_on_calendar, then run site.yml"]
    if not stamp:
        if scheduled:
            return sc.ok(cid, sc.BACKUP, "no restore test yet: the first runs on schedule (%s)" % schedule)
        return sc.unknown(cid, sc.BACKUP, "no restore has been tried on this host (restore tests are off)", fix=fix_test)
    when = _iso_epoch(stamp.get("time"))
    kind, of = _restored(stamp)
    ago = "%s ago" % _span(now - when) if when else "at an unknown time"
    if not stamp.get("ok"):
        return sc.fail(cid, sc.BACKUP, "the last %s, %s, of %s failed: %s" % (
            kind, ago, of, "; ".join(stamp.get("problems") or ["no reason recorded"])),
            "the latest snapshot restores whole: every file, gateway.db intact, every owner known",
            ["a missing owner: converge the host (site.yml creates the services' users) before restoring",
             "otherwise run a backup (systemctl start imip-backup), then the test again"] + fix_test[:1])
    allowed = period * 2 + GRACE_SECONDS if scheduled and period else None
    if allowed is not None and when and now - when > allowed:
        return sc.fail(cid, sc.BACKUP, "the last %s, of %s, passed %s: no restore test since" % (kind, of, ago),
                       "a restore test within %s (%s)" % (_span(allowed), schedule),
                       ["read why: journalctl -u imip-backup-restore-test -n 50"] + fix_test[:1])
    return sc.ok(cid, sc.BACKUP, "the last %s, %s, restored %s whole%s, in %s s; %s" % (
        kind, ago, of, _restored_size(stamp), stamp.get("seconds", "?"), schedule))


def _restored(stamp):
    """(what restored: a restore test or playbooks/restore.yml, the snapshot and when it was taken)."""
    kind = "restore (playbooks/restore.yml)" if stamp.get("kind") == "restore" else "restore test"
    of = "snapshot %s" % str(stamp.get("snapshot") or "?")[:8]
    if stamp.get("snapshot_time"):
        taken = _iso_epoch(stamp["snapshot_time"])
        of += " (taken %s)" % (_when(taken) if taken else stamp["snapshot_time"])
    return kind, of


def _restored_size(stamp):
    if stamp.get("entries") is None:
        return ""
    return ": %s entries, %s bytes%s" % (stamp["entries"], stamp.get("bytes", "?"),
                                         ", gateway.db intact" if stamp.get("gateway_db") else "")
