"""The backup role's program (roles/backup/files/imip-backup) run for real: restic with a local
repository in a scratch directory, SQLite, a tree owned by a real system user.

The settings file is the role's own template rendered with a scratch tree's paths; the gateway
"service" is a unit that does not exist (systemctl says inactive), so nothing on this machine
is stopped or started. Needs root (the program sets owners by name) and restic
(tools/install-system-deps installs it)."""

import json
import os
import pwd
import shutil
import sqlite3
import subprocess
from pathlib import Path

import jinja2
import pytest
import yaml

ROLE = Path(__file__).resolve().parents[2] / "roles" / "backup"
PROGRAM = ROLE / "files" / "imip-backup"
PASSWORD = "restic-test-password-7Hq2"
# A system user every Debian host has, with its own group: owners are restored by this name.
OWNER = "www-data"


def _quote(value):
    from ansible.plugins.filter.core import quote  # pylint: disable=import-outside-toplevel
    return quote(value)


def _render_conf(tmp, repository, paths):
    template = (ROLE / "templates" / "etc" / "imip" / "backup" / "backup.conf.j2").read_text()
    role_vars = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters["quote"] = _quote
    env.filters["comment"] = lambda text: "# " + text
    values = {
        "ansible_managed": "Ansible managed",
        "imip_backup_repository": repository,
        "__imip_backup_password_file": str(tmp / "password"),
        "__imip_backup_env_file": str(tmp / "restic.env"),
        "__imip_backup_cache_dir": str(tmp / "cache"),
        "__imip_backup_sftp_command": "",
        "__imip_backup_host": "cal.example.test",
        "__imip_backup_tag": role_vars["__imip_backup_tag"],
        "imip_backup_paths": paths,
        "imip_backup_keep_daily": 7,
        "imip_backup_keep_weekly": 4,
        "imip_backup_keep_monthly": 6,
        "__imip_backup_gateway_db": str(tmp / "state" / "gateway" / "gateway.db"),
        "__imip_backup_gateway_service": "imip-backup-test-no-such-unit",
        "__imip_backup_state_dir": str(tmp / "backup-state"),
    }
    return env.from_string(template).render(**values)


@pytest.fixture(name="site")
def _site(tmp_path):
    if os.geteuid() != 0:
        pytest.fail("the backup program's tests run as root (it sets owners by user and group name)")
    if not shutil.which("restic"):
        pytest.fail("restic is missing: tools/install-system-deps installs it (Debian package restic)")
    calendars = tmp_path / "state" / "collections" / "collection-root" / "alice" / "work"
    calendars.mkdir(parents=True)
    (calendars / "event-1.ics").write_text("BEGIN:VCALENDAR\r\nUID:event-1\r\nEND:VCALENDAR\r\n")
    (calendars / ".Radicale.props").write_text('{"tag": "VCALENDAR"}')
    mail = tmp_path / "state" / "vmail" / "example.test" / "alice" / "Maildir" / "cur"
    mail.mkdir(parents=True)
    (mail / "1.eml").write_bytes(b"Subject: hello\r\n\r\nbody\r\n" * 50)
    owner = pwd.getpwnam(OWNER)
    for path in [tmp_path / "state" / "vmail"] + list((tmp_path / "state" / "vmail").rglob("*")):
        os.chown(path, owner.pw_uid, owner.pw_gid)
    (tmp_path / "state" / "gateway").mkdir()
    (tmp_path / "password").write_text(PASSWORD + "\n")
    os.chmod(tmp_path / "password", 0o600)
    repository = tmp_path / "repository"
    paths = [str(tmp_path / "state" / "collections"), str(tmp_path / "state" / "vmail"),
             str(tmp_path / "state" / "gateway"), str(tmp_path / "state" / "not-on-this-host")]
    conf = tmp_path / "backup.conf"
    conf.write_text(_render_conf(tmp_path, str(repository), paths))
    return tmp_path


def _run(site, *args, check=True):
    env = dict(os.environ, IMIP_BACKUP_CONF=str(site / "backup.conf"), IMIP_BACKUP_ENV_FILE=str(site / "restic.env"),
               IMIP_BACKUP_LOCK=str(site / "lock"))
    done = subprocess.run(["/bin/sh", str(PROGRAM)] + list(args), env=env, capture_output=True, text=True, check=False)
    assert PASSWORD not in done.stdout + done.stderr
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def _restic(site, *args):
    env = dict(os.environ, RESTIC_REPOSITORY=str(site / "repository"), RESTIC_PASSWORD_FILE=str(site / "password"),
               RESTIC_CACHE_DIR=str(site / "cache"))
    return subprocess.run(["restic"] + list(args), env=env, capture_output=True, text=True, check=True).stdout


def _live_database(site):
    """gateway.db in WAL mode with a committed row still in its -wal file (the connection stays open)."""
    db = sqlite3.connect(site / "state" / "gateway" / "gateway.db")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.execute("CREATE TABLE sent_sequences (uid TEXT PRIMARY KEY, sequence INTEGER)")
    with db:
        db.execute("INSERT INTO sent_sequences VALUES ('event-1', 4)")
    assert (site / "state" / "gateway" / "gateway.db-wal").stat().st_size > 0
    return db


def _initialised(site):
    assert _run(site, "check-repository", check=False).returncode == 10
    _run(site, "init")
    assert _run(site, "check-repository").returncode == 0


def test_a_missing_repository_says_10_until_init(site):
    _initialised(site)


def test_an_unreachable_repository_is_not_taken_for_a_missing_one(site):
    """restic 0.14 asks "Is there a repository at the following location?" also when it cannot
    reach one: an S3 endpoint that refuses the connection must not be initialised (exit 10)."""
    conf = site / "backup.conf"
    conf.write_text(conf.read_text().replace("RESTIC_REPOSITORY=" + str(site / "repository"),
                                             "RESTIC_REPOSITORY=s3:http://127.0.0.1:9/imip-test"))
    (site / "restic.env").write_text("AWS_ACCESS_KEY_ID=imip-test\nAWS_SECRET_ACCESS_KEY=imip-test-secret\n")
    done = _run(site, "check-repository", check=False)
    assert done.returncode not in (0, 10), done.stderr
    assert "connection refused" in done.stderr


def test_run_takes_the_live_database_by_its_online_copy_and_stamps_the_success(site):
    _initialised(site)
    db = _live_database(site)
    try:
        _run(site, "run")
    finally:
        db.close()
    stamp = json.loads((site / "backup-state" / "last-success.json").read_text())
    listed = _restic(site, "ls", "latest")
    assert stamp["snapshot"].startswith(listed.split()[1]) or stamp["snapshot"][:8] in listed
    gateway_dir = str(site / "state" / "gateway")
    assert gateway_dir + "/gateway.db\n" not in listed  # never the live file
    assert gateway_dir + "/gateway.db-wal\n" not in listed
    assert str(site / "backup-state" / "staging" / "gateway.db") in listed
    assert str(site / "state" / "vmail" / "example.test" / "alice" / "Maildir" / "cur" / "1.eml") in listed
    assert not (site / "backup-state" / "staging").exists()


def test_the_restore_test_proves_a_snapshot_whole_without_touching_the_live_data(site):
    _initialised(site)
    db = _live_database(site)
    _run(site, "run")
    db.close()
    before = sorted(str(p) for p in (site / "state").rglob("*"))
    done = _run(site, "test-restore")
    stamp = json.loads((site / "backup-state" / "last-restore.json").read_text())
    assert stamp["kind"] == "test" and stamp["ok"] is True, done.stderr
    assert stamp["problems"] == [] and stamp["gateway_db"] is True
    assert stamp["entries"] > 10 and stamp["bytes"] > 1000
    assert stamp["snapshot"] == json.loads((site / "backup-state" / "last-success.json").read_text())["snapshot"]
    assert sorted(str(p) for p in (site / "state").rglob("*")) == before
    assert not (site / "backup-state" / "restore-test").exists()


def test_the_restore_test_fails_when_an_owner_is_not_on_this_host(site):
    _initialised(site)
    orphan = site / "state" / "collections" / "orphan.ics"
    orphan.write_text("x")
    os.chown(orphan, 54321, 54321)  # no user or group has this number here
    _run(site, "run")
    done = _run(site, "test-restore", check=False)
    assert done.returncode == 1
    stamp = json.loads((site / "backup-state" / "last-restore.json").read_text())
    assert stamp["ok"] is False
    assert "owners not on this host: group 54321, user 54321" in stamp["problems"]


def test_restore_replaces_each_tree_and_sets_owners_by_name(site):
    _initialised(site)
    db = _live_database(site)
    _run(site, "run")
    db.close()
    event = site / "state" / "collections" / "collection-root" / "alice" / "work" / "event-1.ics"
    original = event.read_text()
    shutil.rmtree(site / "state")  # the disk is lost; a fresh host has empty trees
    (site / "state" / "collections").mkdir(parents=True)
    (site / "state" / "collections" / "fresh-host-only").write_text("x")
    (site / "state" / "gateway").mkdir()
    sqlite3.connect(site / "state" / "gateway" / "gateway.db").close()
    _run(site, "restore")
    assert event.read_text() == original
    assert not (site / "state" / "collections" / "fresh-host-only").exists()
    message = site / "state" / "vmail" / "example.test" / "alice" / "Maildir" / "cur" / "1.eml"
    assert pwd.getpwuid(message.stat().st_uid).pw_name == OWNER
    restored = sqlite3.connect(site / "state" / "gateway" / "gateway.db")
    assert restored.execute("SELECT sequence FROM sent_sequences WHERE uid = 'event-1'").fetchone() == (4,)
    restored.close()
    stamp = json.loads((site / "backup-state" / "last-restore.json").read_text())
    assert stamp["kind"] == "restore" and stamp["ok"] is True


def test_a_wrong_password_fails_before_anything_is_written(site):
    _initialised(site)
    _run(site, "run")
    (site / "password").write_text("not-the-password\n")
    assert _run(site, "run", check=False).returncode != 0
    assert _run(site, "test-restore", check=False).returncode != 0
    done = _run(site, "restore", check=False)
    assert done.returncode != 0
    assert (site / "state" / "collections" / "collection-root" / "alice" / "work" / "event-1.ics").exists()
