"""XEP-0012 Last Activity against a real parleyd: server uptime (§5), an
account's last logout and status (§3) for itself and for contacts with a
'from' subscription only (§3, §8; RFC 6121 §2.1.2.5), 0 while online, and
removal with the account."""

import os
import sqlite3
import time

import pytest

from conftest import PASSWORD, make_account
from harness.server import ParleyServer
from harness.xmpp import NS_CLIENT, NS_DISCO_INFO, q, stanza_error, tostr

NS_LAST = "jabber:iq:last"
MODULES = ("disco", "roster", "last")


@pytest.fixture(scope="module")
def server(request, cert):
    s = ParleyServer("test_last", cert, modules=MODULES)
    s.start()
    yield s
    s.check_stop()


def login(server, clients, user=None, presence=True, resource=None):
    if user is None:
        user, _ = make_account(server)
    c = clients(server.c2s_port)
    c.login(user, PASSWORD, presence=presence, resource=resource)
    return c


def last(c, to):
    return c.iq("get", "<query xmlns='%s'/>" % NS_LAST, to=to)


def seconds(el):
    assert el.get("type") == "result", tostr(el)
    qy = el.find(q(NS_LAST, "query"))
    return int(qy.get("seconds")), qy.text


def kv_rows(server, user, area):
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(server.dir, "parley.db"), uri=True)
    try:
        return db.execute("SELECT value FROM kv WHERE user=? AND area=?", (user, area)).fetchall()
    finally:
        db.close()


def subscribe(watcher, owner):
    """watcher gets a 'to' subscription to owner (owner: 'from')."""
    owner_bare = owner.jid.split("/")[0]
    watcher_bare = watcher.jid.split("/")[0]
    watcher.send_presence(to=owner_bare, type_="subscribe")
    owner.expect(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("type") == "subscribe")
    owner.send_presence(to=watcher_bare, type_="subscribed")
    watcher.expect(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("type") == "subscribed")


def test_xep0012_s6_disco(server, clients):
    c = login(server, clients)
    for to in ("localhost", c.jid.split("/")[0]):
        el = c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to=to)
        assert NS_LAST in {f.get("var") for f in el.iter(q(NS_DISCO_INFO, "feature"))}, tostr(el)


def test_xep0012_s5_server_uptime(server, clients):
    c = login(server, clients)
    secs, text = seconds(last(c, "localhost"))
    assert 0 <= secs < 600 and not text
    time.sleep(1.1)
    assert seconds(last(c, "localhost"))[0] >= secs + 1


def test_xep0012_s3_permissions_and_last_logout(server, clients):
    a_user, _ = make_account(server, prefix="a")
    a = login(server, clients, a_user, resource="r")
    w = login(server, clients)          # will be a contact
    stranger = login(server, clients)
    a_bare = a_user + "@localhost"
    # The user itself, online: 0 (§3).
    assert seconds(last(a, a_bare)) == (0, None)
    # No subscription: forbidden, online or not (§3, §8: no presence leak).
    el = last(stranger, a_bare)
    assert stanza_error(el)[:2] == ("auth", "forbidden"), tostr(el)
    assert stanza_error(el)[2], tostr(el)
    subscribe(w, a)
    assert seconds(last(w, a_bare)) == (0, None)
    # A logs out with a status; the contact learns when and what.
    a.send("<presence type='unavailable'><status>Heading Home</status></presence>")
    time.sleep(0.2)
    a.close()
    deadline = time.monotonic() + 5
    while not kv_rows(server, a_user, "last") and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.1)
    secs, text = seconds(last(w, a_bare))
    assert 1 <= secs < 60 and text == "Heading Home", (secs, text)
    el = last(stranger, a_bare)
    assert stanza_error(el)[:2] == ("auth", "forbidden"), tostr(el)
    # A logs in and out again without a status: the status is gone.
    a = login(server, clients, a_user)
    a.close()
    time.sleep(0.3)
    secs, text = seconds(last(w, a_bare))
    assert secs < 5 and not text, (secs, text)


def test_xep0012_without_roster_only_self(server_factory, clients):
    s = server_factory(modules=("disco", "last"))
    a_user, _ = make_account(s)
    a = login(s, clients, a_user)
    other = login(s, clients)
    assert seconds(last(a, a_user + "@localhost"))[0] == 0
    el = last(other, a_user + "@localhost")
    assert stanza_error(el)[:2] == ("auth", "forbidden"), tostr(el)
    a.close()
    deadline = time.monotonic() + 5
    while not kv_rows(s, a_user, "last") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(kv_rows(s, a_user, "last")) == 1
    assert s.ctl("unregister", a_user, "localhost").returncode == 0
    deadline = time.monotonic() + 5
    while kv_rows(s, a_user, "last") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert kv_rows(s, a_user, "last") == []
