"""The `imip-gateway` command: run | status [--json] | jobs | retry ID | drop ID | check-config | check-hook.

jobs, retry and drop let an operator look at and act on one queued message without editing
gateway.db by hand. They work while the service runs: each write is one BEGIN IMMEDIATE
transaction that checks the job's state and changes it, and the running service (the pid in
<state_dir>/gateway.lock) is then woken with SIGHUP so it acts at once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import signal
import sys
import time

from imip_gateway import __version__, config, db
from imip_gateway.addresses import strip_mailto
from imip_gateway.credentials import CredentialError, read_secret

log = logging.getLogger("imip_gateway")


def setup_logging(level: str) -> None:
    # One line per event to stderr; journald adds the time and the unit.
    logging.basicConfig(stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s",
                        level=logging.DEBUG if level == "debug" else logging.INFO, force=True)


def _load(args) -> config.Config:
    cfg = config.load(args.config)
    for warning in cfg.warnings:
        log.warning("%s", warning)
    return cfg


def cmd_run(args) -> int:
    cfg = _load(args)
    setup_logging("debug" if args.debug else cfg.gateway.log_level)
    from imip_gateway import service
    return service.run(cfg)


def cmd_status(args) -> int:
    from imip_gateway import status
    cfg = _load(args)
    report = status.collect(cfg)
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        sys.stdout.write(status.format_human(report))
    return 1 if status.problems(report) else 0


class OperatorError(Exception):
    """A job command that cannot be done as asked (unknown id, wrong state): said in one line."""


JOB_STATES = ("pending", "failed", "sent", "dropped")
ACTIONABLE = ("pending", "failed")
# RFC 6638 §7.3 / RFC 5545 §3.8.8.3 status codes: class digit, then one or two numbers.
STATUS_CODE = re.compile(r"[1-5]\.[0-9]{1,2}(\.[0-9]{1,2})?")
SHORT_ID = 12


def _open_jobs_db(cfg: config.Config, *, write: bool):
    path = cfg.gateway.db_path
    if not path.exists():
        raise OperatorError(f"{path} does not exist yet (the service has not run)")
    if not write:
        return db.open_readonly(path)
    if os.geteuid() == 0 and path.stat().st_uid != 0:
        # SQLite may create -wal/-shm files: owned by root, they would lock the service out.
        raise OperatorError(f"run this as the service's user, not as root ({path} is not root's): "
                            "the imip-gateway command on the host's PATH does that")
    return db.connect(path, apply_migrations=False)


def _find_job(conn, given: str):
    """The one job whose id starts with `given` (a unique prefix is enough)."""
    prefix = given.strip().lower()
    if not prefix:
        raise OperatorError("give a job id, or enough of its beginning to name one job")
    rows = conn.execute("SELECT * FROM jobs WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT 6",
                        (len(prefix), prefix)).fetchall()
    if not rows:
        raise OperatorError(f"no job {given!r}: `imip-gateway jobs --state all` lists them")
    if len(rows) > 1:
        ids = ", ".join(row["id"] for row in rows[:5])
        raise OperatorError(f"{given!r} is the beginning of several jobs ({ids}{', ...' if len(rows) > 5 else ''}): "
                            "give more of the id")
    return rows[0]


def _when(epoch) -> str:
    if epoch is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


def _job_view(row) -> dict:
    return {"id": row["id"], "state": row["state"], "method": row["method"], "reason": row["reason"],
            "uid": row["uid"], "attendee": strip_mailto(row["attendee"]), "attempts": row["attempts"],
            "created": _when(row["created"]),
            "next_attempt": _when(row["next_attempt"]) if row["state"] == "pending" else None,
            "last_error": row["last_error"]}


def list_jobs(conn, state: str, limit: int) -> list[dict]:
    """Jobs in `state` ("all" for every state): the head of the queue first, then the newest."""
    states = JOB_STATES if state == "all" else (state,)
    marks = ", ".join("?" * len(states))
    rows = conn.execute(
        f"SELECT * FROM jobs WHERE state IN ({marks}) ORDER BY state != 'pending',"
        " CASE WHEN state = 'pending' THEN created ELSE -coalesce(sent, last_attempt, created) END, position, id"
        " LIMIT ?", (*states, limit)).fetchall()
    return [_job_view(row) for row in rows]


def cmd_jobs(args) -> int:
    cfg = _load(args)
    with contextlib.closing(_open_jobs_db(cfg, write=False)) as conn:
        jobs = list_jobs(conn, args.state, args.limit)
    if args.json:
        print(json.dumps(jobs, indent=2, sort_keys=True))
        return 0
    if not jobs:
        print(f"no {'' if args.state == 'all' else args.state + ' '}job")
        return 0
    for job in jobs:
        print(f"{job['id'][:SHORT_ID]}  {job['state']:<7}  {job['method']:<7}  {job['reason']}  to {job['attendee']}"
              f"  uid={job['uid']}")
        print(f"    {job['attempts']} attempt(s), created {job['created']}"
              + (f", next attempt {job['next_attempt']}" if job["next_attempt"] else "")
              + f", last error: {job['last_error'] or 'none'}")
    return 0


def _newer_sent(conn, job):
    """A later message for the same event and attendee that already went out (None if none)."""
    return conn.execute(
        "SELECT id, method, sent FROM jobs WHERE uid = ? AND attendee = ? AND state = 'sent' AND id != ?"
        " AND (created > ? OR (created = ? AND position > ?)) ORDER BY sent DESC LIMIT 1",
        (job["uid"], job["attendee"], job["id"], job["created"], job["created"], job["position"])).fetchone()


def retry_job(conn, given: str, now: float) -> tuple:
    """Make a pending or failed job pending and due now; returns (job before, notes)."""
    notes = []
    with db.transaction(conn):
        job = _find_job(conn, given)
        if job["state"] not in ACTIONABLE:
            raise OperatorError(f"job {job['id']} is {job['state']}: only a pending or failed job can be retried")
        newer = _newer_sent(conn, job)
        if newer is not None:
            raise OperatorError(f"job {newer['id']} ({newer['method']}) for the same event and attendee was sent "
                                f"after this one, at {_when(newer['sent'])}: sending this one now would undo it")
        conn.execute("UPDATE jobs SET state = 'pending', next_attempt = ? WHERE id = ?", (now, job["id"]))
        if job["state"] == "failed":
            # The failure is no longer the last word: its SCHEDULE-STATUS is not written if not done yet.
            conn.execute("DELETE FROM schedule_status WHERE job_id = ? AND done IS NULL", (job["id"],))
            shown = conn.execute("SELECT status FROM schedule_status WHERE job_id = ?", (job["id"],)).fetchone()
            if shown is not None:
                notes.append(f"the organizer's event keeps SCHEDULE-STATUS {shown['status']} for "
                             f"{strip_mailto(job['attendee'])} (written when it failed)")
    return job, notes


def drop_job(conn, given: str, reason: str, status: str, now: float):
    """Give up a pending or failed job; its attendee gets SCHEDULE-STATUS `status` on the organizer's event."""
    with db.transaction(conn):
        job = _find_job(conn, given)
        if job["state"] not in ACTIONABLE:
            raise OperatorError(f"job {job['id']} is {job['state']}: only a pending or failed job can be dropped")
        conn.execute("UPDATE jobs SET state = 'dropped', last_error = ? WHERE id = ?", (reason, job["id"]))
        conn.execute(
            "INSERT INTO schedule_status (job_id, point, uid, organizer, attendee, status, next_attempt)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET status = excluded.status,"
            " attempts = 0, next_attempt = excluded.next_attempt, last_error = NULL, done = NULL",
            (job["id"], job["point"], job["uid"], job["organizer"], job["attendee"], status, now))
    return job


def wake_service(cfg: config.Config) -> str:
    """SIGHUP to the running service (best effort); says what happened."""
    from imip_gateway.status import running_pid
    pid, why = running_pid(cfg)
    if pid is None:
        return f"the service is not running ({why}); it acts on this when it starts"
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError as exc:
        return (f"could not wake the running service (pid {pid}): {exc.strerror or exc}; "
                "`systemctl reload imip-gateway` does it")
    return f"woke the running service (pid {pid}): it acts on this now"


def _reason(text: str) -> str:
    # One line, no control characters: it is shown in status, jobs and the log.
    cleaned = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    if not cleaned:
        raise OperatorError("--reason must say why the job is dropped")
    return cleaned[:300]


def cmd_retry(args) -> int:
    cfg = _load(args)
    with contextlib.closing(_open_jobs_db(cfg, write=True)) as conn:
        job, notes = retry_job(conn, args.id, time.time())
    print(f"job {job['id']} ({job['method']} uid={job['uid']} to {strip_mailto(job['attendee'])}) "
          f"is pending and due now (it was {job['state']})")
    if job["state"] == "failed" and time.time() - job["created"] > cfg.gateway.retry_days * 86400:
        notes.append(f"it is older than [gateway] retry_days ({cfg.gateway.retry_days}): "
                     "a temporary failure fails it again at once")
    for note in notes + [wake_service(cfg)]:
        print(f"note: {note}")
    return 0


def cmd_drop(args) -> int:
    if not STATUS_CODE.fullmatch(args.status):
        raise OperatorError(f"--status {args.status!r}: expected a status code such as 5.1 or 3.7")
    reason = _reason(args.reason)
    cfg = _load(args)
    with contextlib.closing(_open_jobs_db(cfg, write=True)) as conn:
        job = drop_job(conn, args.id, reason, args.status, time.time())
    print(f"job {job['id']} ({job['method']} uid={job['uid']} to {strip_mailto(job['attendee'])}) "
          f"dropped: {reason}; SCHEDULE-STATUS {args.status} queued for the organizer's event")
    print(f"note: {wake_service(cfg)}")
    return 0


def cmd_check_config(args) -> int:
    """Validate the file, the credentials (present, never printed) and the paths."""
    cfg = _load(args)
    failures = []
    credentials = (("smtp", cfg.smtp.password_credential), ("caldav", cfg.caldav.password_credential)) + (
        (("imap", cfg.imap.password_credential),) if cfg.imap.enabled else ())
    if args.skip_credentials:
        credentials = ()
        print("note: credentials not checked (--skip-credentials)")
    for section, name in credentials:
        try:
            read_secret(name)
            print(f"ok: [{section}] credential {name} readable")
        except CredentialError as exc:
            failures.append(f"[{section}] {exc}")
    for label, path in (("[smtp] ca_file", cfg.smtp.ca_file), ("[caldav] ca_file", cfg.caldav.ca_file),
                        ("[imap] ca_file", cfg.imap.ca_file), ("[gateway] templates_dir", cfg.gateway.templates_dir)):
        if path is not None and not path.exists():
            failures.append(f"{cfg.path}: {label}: {path} does not exist")
    for label, path in (("state_dir", cfg.gateway.state_dir), ("spool_dir", cfg.gateway.spool_dir)):
        if path.exists() and not path.is_dir():
            failures.append(f"{cfg.path}: [gateway] {label}: {path} is not a directory")
        elif not path.exists():
            print(f"note: [gateway] {label} {path} does not exist yet (created at the service's start)")
    for failure in failures:
        print(f"error: {failure}", file=sys.stderr)
    if not failures:
        print(f"ok: {cfg.path} is valid")
    return 1 if failures else 0


def cmd_check_hook(args) -> int:
    """Exit 0 only when Radicale's hook wrote its marker (newer than --newer-than, if given)."""
    from imip_gateway.service import check_hook_loaded, hook_marker, read_hook_marker
    cfg = _load(args)
    problem = check_hook_loaded(cfg)
    if problem is None and args.newer_than is not None:
        marker = read_hook_marker(cfg) or {}
        if float(marker.get("time", 0)) < args.newer_than:
            problem = (f"the Radicale hook marker {hook_marker(cfg)} is older than {args.newer_than:.0f}: "
                       f"the running Radicale did not load imip_gateway.radicale_hook")
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    print(f"ok: Radicale hook loaded ({hook_marker(cfg)})")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="imip-gateway", description="iMIP gateway for Radicale")
    p.add_argument("--version", action="version", version=f"imip-gateway {__version__}")
    p.add_argument("--config", default=str(config.DEFAULT_PATH),
                   help=f"configuration file (default {config.DEFAULT_PATH})")
    # --config also after the subcommand: `imip-gateway run --config PATH`.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help="configuration file")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", parents=[common], help="run the service (systemd runs this)")
    run.add_argument("--debug", action="store_true", help="log at debug level (full iTIP bodies)")
    run.set_defaults(func=cmd_run)
    status = sub.add_parser("status", parents=[common],
                            help="health of both halves as ✓/✖/? lines (exit 1 on any ✖)")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)
    _job_parsers(sub, common)
    check = sub.add_parser("check-config", parents=[common],
                           help="validate the configuration and that the credentials exist")
    check.add_argument("--skip-credentials", action="store_true",
                       help="validate the file only (outside the unit, where $CREDENTIALS_DIRECTORY is not set)")
    check.set_defaults(func=cmd_check_config)
    hook = sub.add_parser("check-hook", parents=[common], help="exit non-zero unless Radicale's hook has loaded")
    hook.add_argument("--newer-than", type=float, default=None, metavar="EPOCH",
                      help="the marker must be newer than this Unix time (e.g. Radicale's start)")
    hook.set_defaults(func=cmd_check_hook)
    return p


def _job_parsers(sub, common) -> None:
    jobs = sub.add_parser("jobs", parents=[common], help="list queued messages (pending ones by default)")
    jobs.add_argument("--state", choices=JOB_STATES + ("all",), default="pending", help="which jobs (default pending)")
    jobs.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    jobs.add_argument("--json", action="store_true", help="machine-readable output")
    jobs.set_defaults(func=cmd_jobs)
    retry = sub.add_parser("retry", parents=[common], help="make a pending or failed job due now")
    retry.add_argument("id", help="the job's id, or a unique beginning of it (imip-gateway jobs lists them)")
    retry.set_defaults(func=cmd_retry)
    drop = sub.add_parser("drop", parents=[common],
                          help="give up a pending or failed job; the organizer's event shows it (SCHEDULE-STATUS)")
    drop.add_argument("id", help="the job's id, or a unique beginning of it")
    drop.add_argument("--reason", required=True, help="why (kept as the job's last error)")
    drop.add_argument("--status", default="5.1",
                      help="SCHEDULE-STATUS written for the attendee on the organizer's event (default 5.1)")
    drop.set_defaults(func=cmd_drop)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    setup_logging("info")
    try:
        return args.func(args)
    except config.ConfigError as exc:
        print(f"imip-gateway: configuration error:\n{exc}", file=sys.stderr)
        return 2
    except CredentialError as exc:
        print(f"imip-gateway: {exc}", file=sys.stderr)
        return 2
    except OperatorError as exc:
        print(f"imip-gateway: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
