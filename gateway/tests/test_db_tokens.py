"""State database (WAL, migrations per owner) and the token store API of the contract."""

import re
import sqlite3

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


def test_token_expiry(tmp_path):
    conn = db.connect(tmp_path / "g.db")
    store = TokenStore(conn)
    old = store.token_for("mailto:a@example.test", "mailto:x@ext.test", "u1", now=0)
    fresh = store.token_for("mailto:a@example.test", "mailto:y@ext.test", "u1", now=80 * 86400)
    assert store.expire(now=91 * 86400, ttl_days=90) == 1
    assert store.lookup(old) is None and store.lookup(fresh) is not None


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
