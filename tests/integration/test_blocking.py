"""XEP-0191 Blocking Command against a real parleyd: the commands (§3.2-§3.5),
pushes to the resources that fetched the list, enforcement of §3.3 in both
directions, JID matching (§6), persistence across logins and restarts,
limits, and removal with the account."""

import os
import sqlite3
import time

import pytest

from conftest import PASSWORD, make_account
from harness.server import ParleyServer
from harness.xmpp import (NS_CLIENT, NS_DISCO_INFO, NS_PING, RawClient, q,
                          stanza_error, tostr)

NS_BLOCKING = "urn:xmpp:blocking"
NS_BLOCKING_ERRORS = "urn:xmpp:blocking:errors"
MODULES = ("disco", "ping", "blocking")


@pytest.fixture(scope="module")
def server(request, cert):
    s = ParleyServer("test_blocking", cert, modules=MODULES)
    s.start()
    yield s
    s.check_stop()


def login(server, clients, user, resource=None, presence=True):
    c = clients(server.c2s_port)
    c.login(user, PASSWORD, resource=resource, presence=presence)
    return c


def blocklist(c):
    el = c.iq("get", "<blocklist xmlns='%s'/>" % NS_BLOCKING)
    assert el.get("type") == "result", tostr(el)
    bl = el.find(q(NS_BLOCKING, "blocklist"))
    assert bl is not None, tostr(el)
    return [i.get("jid") for i in bl.findall(q(NS_BLOCKING, "item"))]


def block(c, *jids, verb="block"):
    items = "".join("<item jid='%s'/>" % j for j in jids)
    return c.iq("set", "<%s xmlns='%s'>%s</%s>" % (verb, NS_BLOCKING, items, verb))


def unblock(c, *jids):
    return block(c, *jids, verb="unblock")


def is_push(verb):
    def pred(e):
        return (e.tag == q(NS_CLIENT, "iq") and e.get("type") == "set"
                and e.find(q(NS_BLOCKING, verb)) is not None)
    return pred


def bare(c):
    return c.jid.split("/")[0]


def kv_rows(server, user, area):
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(server.dir, "parley.db"), uri=True)
    try:
        return db.execute("SELECT key, value FROM kv WHERE user=? AND area=?",
                          (user, area)).fetchall()
    finally:
        db.close()


def test_xep0191_s3_1_disco_feature(server, clients):
    user, _ = make_account(server)
    c = login(server, clients, user)
    for to in ("localhost", bare(c)):
        el = c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to=to)
        feats = {f.get("var") for f in el.iter(q(NS_DISCO_INFO, "feature"))}
        assert NS_BLOCKING in feats, tostr(el)


def test_xep0191_s3_2_empty_then_items_and_pushes(server, clients):
    a_user, _ = make_account(server, prefix="a")
    a1 = login(server, clients, a_user, resource="one")
    a2 = login(server, clients, a_user, resource="two")
    a3 = login(server, clients, a_user, resource="three")   # never fetches the list
    assert blocklist(a1) == []
    assert blocklist(a2) == []
    el = block(a1, "romeo@montague.net", "iago@shakespeare.lit")
    assert el.get("type") == "result", tostr(el)
    # §3.3: a push to every resource that requested the list.
    for c in (a1, a2):
        p = c.expect(is_push("block"))
        assert p.get("from") in (None, a_user + "@localhost"), tostr(p)
        got = {i.get("jid") for i in p.find(q(NS_BLOCKING, "block"))}
        assert got == {"romeo@montague.net", "iago@shakespeare.lit"}, tostr(p)
    a3.expect_nothing(is_push("block"), timeout=0.5)
    assert blocklist(a2) == ["romeo@montague.net", "iago@shakespeare.lit"]
    # §3.4: unblock one; §3.5: unblock all, each pushed.
    assert unblock(a2, "romeo@montague.net").get("type") == "result"
    for c in (a1, a2):
        p = c.expect(is_push("unblock"))
        assert [i.get("jid") for i in p.find(q(NS_BLOCKING, "unblock"))] == ["romeo@montague.net"]
    assert blocklist(a1) == ["iago@shakespeare.lit"]
    assert unblock(a1).get("type") == "result"
    for c in (a1, a2):
        p = c.expect(is_push("unblock"))
        assert len(p.find(q(NS_BLOCKING, "unblock"))) == 0, tostr(p)
    assert blocklist(a1) == []


def test_xep0191_s3_3_errors(server, clients):
    user, _ = make_account(server)
    c = login(server, clients, user)
    el = block(c)
    assert stanza_error(el)[:2] == ("modify", "bad-request"), tostr(el)
    assert stanza_error(el)[2], "no <text/>: %s" % tostr(el)
    el = c.iq("set", "<block xmlns='%s'><item jid='a@b@c'/></block>" % NS_BLOCKING)
    assert stanza_error(el)[:2] == ("modify", "jid-malformed"), tostr(el)
    el = c.iq("set", "<block xmlns='%s'><item/></block>" % NS_BLOCKING)
    assert stanza_error(el)[:2] == ("modify", "jid-malformed"), tostr(el)
    el = c.iq("get", "<block xmlns='%s'><item jid='x@y'/></block>" % NS_BLOCKING)
    assert stanza_error(el)[1] == "bad-request", tostr(el)
    # Nobody else's list: the commands are for the account's owner.
    other, _ = make_account(server)
    el = c.iq("get", "<blocklist xmlns='%s'/>" % NS_BLOCKING, to=other + "@localhost")
    assert stanza_error(el)[:2] == ("auth", "forbidden"), tostr(el)
    assert blocklist(c) == []


def test_xep0191_s3_3_enforcement_and_unblock(server, clients):
    a_user, _ = make_account(server, prefix="a")
    b_user, _ = make_account(server, prefix="b")
    a = login(server, clients, a_user, resource="r")
    b = login(server, clients, b_user, resource="r")
    a_full, b_full = a.jid, b.jid
    # Before: a message goes through.
    b.send_message(a_full, body="before")
    a.expect_message("before")
    # A had sent directed presence to B: blocking sends B unavailable (§3.3).
    a.send_presence(to=b_full)
    b.expect_presence(frm=a_full, type_=None)
    assert block(a, b_user + "@localhost").get("type") == "result"
    b.expect_presence(frm=a_full, type_="unavailable")

    # Inbound message: bounced <service-unavailable/>, not delivered.
    mid = b.send_message(a_full, body="blocked-msg")
    err = b.expect(lambda e: e.tag == q(NS_CLIENT, "message") and e.get("id") == mid)
    assert err.get("type") == "error", tostr(err)
    assert stanza_error(err)[:2] == ("cancel", "service-unavailable"), tostr(err)
    # Inbound IQ get to the full JID and to the bare JID: bounced.
    el = b.iq("get", "<ping xmlns='%s'/>" % NS_PING, to=a_full)
    assert stanza_error(el)[1] == "service-unavailable", tostr(el)
    el = b.iq("get", "<ping xmlns='%s'/>" % NS_PING, to=a_user + "@localhost")
    assert stanza_error(el)[1] == "service-unavailable", tostr(el)
    # Inbound presence: dropped, no error either way.
    b.send_presence(to=a_full)
    b.send_presence(to=a_user + "@localhost", type_="subscribe")
    a.expect_nothing(lambda e: e.get("from", "").startswith(b_user), timeout=1.0)
    b.expect_nothing(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("type") == "error",
                     timeout=0.3)

    # Outbound from A: <not-acceptable/> + <blocked/>, nothing reaches B.
    for send, tag in ((lambda: a.send_message(b_full, body="out"), "message"),
                      (lambda: a.send_presence(to=b_full), "presence")):
        send()
        err = a.expect(lambda e: e.tag == q(NS_CLIENT, tag) and e.get("type") == "error")
        assert stanza_error(err)[:2] == ("cancel", "not-acceptable"), tostr(err)
        assert stanza_error(err)[2], "no <text/>: %s" % tostr(err)
        assert err.find("%s/%s" % (q(NS_CLIENT, "error"), q(NS_BLOCKING_ERRORS, "blocked"))) \
            is not None, tostr(err)
        assert err.get("from") == b_full, tostr(err)
    el = a.iq("get", "<ping xmlns='%s'/>" % NS_PING, to=b_full)
    assert stanza_error(el)[1] == "not-acceptable", tostr(el)
    b.expect_nothing(lambda e: e.get("from", "").startswith(a_user), timeout=0.5)
    # The user's own server and own account are never blocked.
    assert a.ping("localhost").get("type") == "result"

    # Unblock restores delivery both ways.
    assert unblock(a, b_user + "@localhost").get("type") == "result"
    b.send_message(a_full, body="after")
    a.expect_message("after")
    a.send_message(b_full, body="back")
    b.expect_message("back")


def test_xep0191_s6_matching_domain_and_full(server, clients):
    a_user, _ = make_account(server, prefix="a")
    t_user, _ = make_account(server, prefix="t")
    x_user = make_account(server, prefix="x")[0]
    server.register(x_user, PASSWORD, "example.test")
    a = login(server, clients, a_user)
    t1 = login(server, clients, t_user, resource="one")
    t2 = login(server, clients, t_user, resource="two")
    x = clients(server.c2s_port)
    x.login(x_user, PASSWORD, host="example.test", presence=True)
    # A full JID item blocks that resource only.
    assert block(a, t1.jid).get("type") == "result"
    mid = t1.send_message(a.jid, body="r1")
    err = t1.expect(lambda e: e.get("id") == mid)
    assert stanza_error(err)[1] == "service-unavailable", tostr(err)
    t2.send_message(a.jid, body="r2")
    a.expect_message("r2")
    # A domain item blocks every JID at that domain.
    assert block(a, "example.test").get("type") == "result"
    mid = x.send_message(a.jid, body="dom")
    err = x.expect(lambda e: e.get("id") == mid)
    assert stanza_error(err)[1] == "service-unavailable", tostr(err)
    a.expect_nothing(lambda e: e.tag == q(NS_CLIENT, "message"), timeout=0.5)


def test_xep0191_list_survives_relogin_and_restart(server_factory, clients):
    s = server_factory(modules=MODULES)
    a_user, _ = make_account(s, prefix="a")
    b_user, _ = make_account(s, prefix="b")
    a = login(s, clients, a_user)
    assert block(a, b_user + "@localhost").get("type") == "result"
    a.close()
    a = login(s, clients, a_user)
    assert blocklist(a) == [b_user + "@localhost"]
    a.close()
    # A restart empties every cache: the list is read from storage for an
    # account without a session, while the stanza waits.
    s.check_stop()
    s.start()
    b = login(s, clients, b_user)
    el = b.iq("get", "<ping xmlns='%s'/>" % NS_PING, to=a_user + "@localhost")
    assert stanza_error(el)[1] == "service-unavailable", tostr(el)
    c_user, _ = make_account(s, prefix="c")
    c = login(s, clients, c_user)
    el = c.iq("get", "<ping xmlns='%s'/>" % NS_PING, to=a_user + "@localhost")
    assert el.get("type") == "result", tostr(el)
    # A logs in right away and finds its list (read at bind).
    a = login(s, clients, a_user)
    mid = b.send_message(a.jid, body="x")
    err = b.expect(lambda e: e.get("id") == mid)
    assert stanza_error(err)[1] == "service-unavailable", tostr(err)


def test_xep0191_limit_and_unregister(server_factory, clients):
    s = server_factory(modules=MODULES, start=False)
    s.write_config(s.config_text().replace("blocking: {}", "blocking: {max_items: 3}"))
    s.start()
    user, _ = make_account(s)
    c = login(s, clients, user)
    assert block(c, "a@x", "b@x").get("type") == "result"
    el = block(c, "c@x", "d@x")
    assert stanza_error(el)[:2] == ("cancel", "not-acceptable"), tostr(el)
    assert "3" in (stanza_error(el)[2] or ""), tostr(el)
    assert blocklist(c) == ["a@x", "b@x"]
    assert block(c, "a@x", "c@x").get("type") == "result"      # one new: fits
    assert len(kv_rows(s, user, "blocklist")) == 1
    c.close()
    cp = s.ctl("unregister", user, "localhost")
    assert cp.returncode == 0, cp.stderr
    deadline = time.monotonic() + 5
    while kv_rows(s, user, "blocklist") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert kv_rows(s, user, "blocklist") == []


def test_xep0191_s3_3_presence_to_contacts(server_factory, clients):
    """With rosters: blocking sends the contact unavailable presence
    (§3.3), the user's later broadcasts are suppressed for it, unblocking
    sends the current presence again (§3.4)."""
    s = server_factory(modules=("disco", "ping", "roster", "blocking"))
    a_user, _ = make_account(s, prefix="a")
    b_user, _ = make_account(s, prefix="b")
    a = login(s, clients, a_user, resource="r")
    b = login(s, clients, b_user, resource="r")
    a_bare, b_bare = a_user + "@localhost", b_user + "@localhost"
    # B subscribes to A's presence; A approves (A's item for B: 'from').
    b.send_presence(to=a_bare, type_="subscribe")
    a.expect(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("type") == "subscribe")
    a.send_presence(to=b_bare, type_="subscribed")
    b.expect_presence(frm=a.jid, type_=None)
    a.send("<presence><status>one</status></presence>")
    b.expect_presence(frm=a.jid, type_=None)
    assert block(a, b_bare).get("type") == "result"
    b.expect_presence(frm=a.jid, type_="unavailable")
    a.send("<presence><status>two</status></presence>")
    b.expect_nothing(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("from") == a.jid,
                     timeout=1.0)
    assert unblock(a, b_bare).get("type") == "result"
    p = b.expect_presence(frm=a.jid, type_=None)
    assert p.find(q(NS_CLIENT, "status")).text == "two", tostr(p)
