"""State database (WAL, migrations per owner) and the token store API of the contract."""

import re
import sqlite3
import threading

import pytest

from imip_gateway import db
from imip_gateway.tokens import Token, TokenStore

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_wal_and_migrations_applied_once(tmp_path):
    path = tmp_path / "state" / "gateway.db"
    conn = db.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    owners = {row["owner"] for row in conn.execute("SELECT owner FROM schema_migrations")}
    assert {"core", "tokens", "outbound"} <= owners
    conn.close()
    # A second open applies nothing new.
    conn = db.connect(path)
    assert db.migrate(conn) == []


def test_a_new_database_opened_while_another_connection_writes_waits_for_it(tmp_path):
    """The service and a CLI command (or a test) opening a new database together: SQLite refuses
    the switch to WAL at once while the other holds a write lock; connect waits instead (a
    gateway test failed on "database is locked" when the machine was busy)."""
    path = tmp_path / "gateway.db"
    other = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE t (x)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES (1)")
    threading.Timer(0.5, lambda: other.execute("COMMIT")).start()
    conn = db.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    other.close()


def test_other_modules_register_their_own_tables(tmp_path):
    db.register("test-owner", 1, "CREATE TABLE test_owner_things (id INTEGER PRIMARY KEY);")
    db.register("test-owner", 2, lambda c: c.execute("ALTER TABLE test_owner_things ADD COLUMN name TEXT"))
    conn = db.connect(tmp_path / "g.db")
    conn.execute("INSERT INTO test_owner_things (name) VALUES ('x')")
    assert conn.execute("SELECT name FROM test_owner_things").fetchone()[0] == "x"
    with pytest.raises(ValueError, match="registered twice"):
        db.register("test-owner", 1, "CREATE TABLE other (id);")


def test_transaction_rolls_back(tmp_path):
    conn = db.connect(tmp_path / "g.db")
    with pytest.raises(RuntimeError):
        with db.transaction(conn):
            db.set_meta(conn, "k", "v")
            raise RuntimeError("boom")
    assert db.get_meta(conn, "k") is None


def test_token_reused_per_triple_and_refreshed(tmp_path):
    conn = db.connect(tmp_path / "g.db")
    store = TokenStore(conn)
    t1 = store.token_for("mailto:alice@example.test", "MAILTO:Bob@External.Test", "uid-1", now=1000)
    assert UUID4.match(t1)
    t2 = store.token_for("mailto:alice@example.test", "mailto:bob@external.test", "uid-1", now=2000)
    assert t1 == t2
    assert store.token_for("mailto:alice@example.test", "mailto:bob@external.test", "uid-2", now=2000) != t1
    assert store.token_for("mailto:alice@example.test", "mailto:carol@external.test", "uid-1", now=2000) != t1
    token = store.lookup(t1)
    assert token == Token(t1, "mailto:alice@example.test", "mailto:bob@external.test", "uid-1", 1000, 2000)
    assert store.lookup("no-such-token") is None


DAY = 86400


def test_expired_token_is_kept_as_a_tombstone_then_purged(tmp_path):
    conn = db.connect(tmp_path / "g.db")
    store = TokenStore(conn)
    old = store.token_for("mailto:a@example.test", "mailto:x@ext.test", "u1", now=0)
    fresh = store.token_for("mailto:a@example.test", "mailto:y@ext.test", "u1", now=80 * DAY)
    assert store.expire(now=91 * DAY, ttl_days=90) == 1
    # A late reply still finds its organizer: the token is there, marked expired.
    assert store.lookup(old).expired is True and store.lookup(fresh).expired is False
    assert store.expire(now=175 * DAY, ttl_days=90) == 1         # fresh: 95 days after its use
    assert store.lookup(old) is not None                          # expired 84 days ago: still kept
    store.expire(now=182 * DAY, ttl_days=90)
    assert store.lookup(old) is None and store.lookup(fresh).expired is True


def test_token_lives_as_long_as_the_event(tmp_path):
    conn = db.connect(tmp_path / "g.db")
    store = TokenStore(conn)
    organizer = "mailto:a@example.test"
    one_off = store.token_for(organizer, "mailto:x@ext.test", "in-a-year", now=0, event_end=365 * DAY)
    weekly = store.token_for(organizer, "mailto:x@ext.test", "weekly", now=0, open_ended=True)
    assert store.expire(now=450 * DAY, ttl_days=90) == 0       # 85 days after the event ended
    assert store.expire(now=456 * DAY, ttl_days=90) == 1
    assert store.lookup(one_off).expired and not store.lookup(weekly).expired
    assert store.expire(now=5000 * DAY, ttl_days=90) == 0      # a series without end, still there
    assert not store.lookup(weekly).expired
    # The series is cancelled: the token's lifetime counts from the CANCEL.
    store.token_for(organizer, "mailto:x@ext.test", "weekly", now=5000 * DAY, event_end=5000 * DAY)
    assert store.expire(now=5089 * DAY, ttl_days=90) == 0 and store.expire(now=5091 * DAY, ttl_days=90) == 1
    # Mailed again (the event is back): live again, same token.
    assert store.token_for(organizer, "mailto:x@ext.test", "weekly", now=5092 * DAY, open_ended=True) == weekly
    assert not store.lookup(weekly).expired


def test_lookup_knows_the_lifetime_before_the_daily_expiry_run(tmp_path):
    conn = db.connect(tmp_path / "g.db")
    token = TokenStore(conn).token_for("mailto:a@example.test", "mailto:x@ext.test", "u1", now=0, event_end=DAY)
    assert TokenStore(conn, ttl_days=90, clock=lambda: 90 * DAY).lookup(token).expired is False
    assert TokenStore(conn, ttl_days=90, clock=lambda: 92 * DAY).lookup(token).expired is True
    assert TokenStore(conn).lookup(token).expired is False     # without the ttl: only what expire() marked


def test_tokens_from_before_lifetimes_count_from_their_last_use(tmp_path):
    path = tmp_path / "g.db"
    legacy = sqlite3.connect(path)
    legacy.executescript("""
        CREATE TABLE schema_migrations (owner TEXT NOT NULL, version INTEGER NOT NULL, applied REAL NOT NULL,
                                        PRIMARY KEY (owner, version));
        INSERT INTO schema_migrations VALUES ('tokens', 1, 0);
        CREATE TABLE tokens (token TEXT NOT NULL UNIQUE, organizer TEXT NOT NULL, attendee TEXT NOT NULL,
                             uid TEXT NOT NULL, created REAL NOT NULL, accessed REAL NOT NULL,
                             PRIMARY KEY (organizer, attendee, uid));
        INSERT INTO tokens VALUES ('t-old', 'mailto:a@example.test', 'mailto:x@ext.test', 'u1', 0, 864000);
    """)
    legacy.close()
    store = TokenStore(db.connect(path))
    assert store.lookup("t-old").expired is False
    assert store.expire(now=99 * DAY, ttl_days=90) == 0 and store.expire(now=101 * DAY, ttl_days=90) == 1


def test_token_for_inside_callers_transaction_rolls_back_with_it(tmp_path):
    conn = db.connect(tmp_path / "g.db")
    store = TokenStore(conn)
    with pytest.raises(sqlite3.IntegrityError):
        with db.transaction(conn):
            token = store.token_for("mailto:a@example.test", "mailto:x@ext.test", "u1")
            conn.execute("INSERT INTO meta (key, value) VALUES ('k', NULL)")
    assert store.lookup(token) is None


def test_finished_rows_are_pruned_pending_ones_never(tmp_path):
    from imip_gateway.outbound import schema
    conn = db.connect(tmp_path / "g.db")
    day = 86400
    now = 1000 * day
    for change_id, state, processed in (("old-done", "done", now - 20 * day), ("new-done", "done", now - day),
                                        ("old-new", "new", None)):
        conn.execute("INSERT INTO changes (id, source, received, state, processed) VALUES (?, 'hook', 0, ?, ?)",
                     (change_id, state, processed))
    for job_id, state, sent, created in (("old-sent", "sent", now - 100 * day, now - 100 * day),
                                         ("recent-sent", "sent", now - day, now - day),
                                         ("old-pending", "pending", None, now - 100 * day)):
        conn.execute("INSERT INTO jobs (id, change_id, created, method, reason, uid, organizer, attendee, token,"
                     " calendar, message_id, state, next_attempt, sent) VALUES (?, 'c', ?, 'REQUEST', 'r', 'u',"
                     " 'o', 'a', 't', 'x', ?, ?, 0, ?)", (job_id, created, f"<{job_id}>", state, sent))
    assert schema.prune(conn, now) == (1, 1)
    assert {r[0] for r in conn.execute("SELECT id FROM changes")} == {"new-done", "old-new"}
    assert {r[0] for r in conn.execute("SELECT id FROM jobs")} == {"recent-sent", "old-pending"}
