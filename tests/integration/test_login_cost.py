"""What a plain login costs the storage (issue 7): a login with roster get
and initial presence, then logout, by a user nobody is subscribed to,
commits nothing; a user with a "from" subscriber still gets the last
unavailable presence stored for probes (RFC 6121 §4.3.2 rule 3)."""

import os
import sqlite3
import time

import pytest

from conftest import make_account
from harness import server as srv

from test_roster import MODULES
from test_subscriptions import bare, is_pres, login, mutual


@pytest.fixture(scope="module")
def server(request, cert):
    s = srv.ParleyServer("test_login_cost", cert, modules=MODULES)
    s.start()
    yield s
    s.check_stop()


def open_db(server):
    return sqlite3.connect("file:%s?mode=ro" % os.path.join(server.dir, "parley.db"),
                           uri=True, timeout=10)


def last_row(db, user):
    return db.execute("SELECT value FROM kv WHERE user=? AND area='roster_meta' AND key='last'",
                      (user,)).fetchone()


def data_version(db):
    return db.execute("PRAGMA data_version").fetchone()[0]


def test_plain_login_and_logout_commit_nothing(server, clients):
    user, _ = make_account(server, prefix="plain")
    warm = login(server, clients, user, resource="warm")
    warm.close()
    time.sleep(0.5)
    db = open_db(server)
    try:
        before = data_version(db)
        for i in range(3):
            c = login(server, clients, user, resource="r%d" % i, status="busy")
            c.close()
        time.sleep(1.0)
        # PRAGMA data_version changes when another connection commits.
        assert data_version(db) == before, "a plain login wrote to the database"
        assert last_row(db, user) is None
    finally:
        db.close()


def test_logout_with_subscriber_stores_last_presence(server, clients):
    ua, _ = make_account(server, prefix="sa")
    ub, _ = make_account(server, prefix="sb")
    a = login(server, clients, ua)
    b = login(server, clients, ub)
    mutual(a, b)
    b.send_presence(type_="unavailable", extra="<status>gone fishing</status>")
    a.expect(is_pres(b.jid, "unavailable"))
    b.close()
    a.close()
    deadline = time.time() + 5
    db = open_db(server)
    try:
        row = None
        while time.time() < deadline and row is None:
            row = last_row(db, bare(b).split("@")[0])
            time.sleep(0.1)
        assert row is not None, "last unavailable presence of a user with subscribers not stored"
        assert b"gone fishing" in bytes(row[0])
    finally:
        db.close()
