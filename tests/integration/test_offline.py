"""Offline message storage (XEP-0160, RFC 6121 §8.5.2.2.1) against a real
parleyd: store while the recipient is offline, deliver with XEP-0203
<delay/> at the first non-negative available presence, in order, exactly
once; quota, negative priority and unknown users."""

import pytest

from conftest import PASSWORD, make_account
from harness.xmpp import NS_CLIENT, NS_DISCO_INFO, q, stanza_error

NS_DELAY = "urn:xmpp:delay"
MODULES = ("disco", "ping", "offline")


def offline_server(server_factory, quota=None):
    mods = {m: {} for m in MODULES}
    if quota is not None:
        mods["offline"] = {"max_messages": quota}
    return server_factory(modules=mods)


def login(clients, s, user, presence=None, resource=None):
    c = clients(s.c2s_port)
    c.login(user, PASSWORD, presence=presence, resource=resource)
    return c


def bodies(msgs):
    return [m.find(q(NS_CLIENT, "body")).text for m in msgs]


def collect(c, n, timeout=5):
    return [c.expect_message(timeout=timeout) for _ in range(n)]


def settle(c):
    """A round trip on c's stream: everything sent before has been routed
    (and, for offline messages, the hold released only after the store)."""
    el = c.ping()
    assert el.get("type") == "result"


def test_disco_msgoffline(server_factory, clients):
    s = offline_server(server_factory)
    user, _ = make_account(s)
    c = login(clients, s, user)
    res = c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to="localhost")
    feats = [f.get("var") for f in res.iter(q(NS_DISCO_INFO, "feature"))]
    assert "msgoffline" in feats


def test_store_and_deliver_in_order_once(server_factory, clients):
    s = offline_server(server_factory)
    alice, _ = make_account(s, prefix="a")
    bob, _ = make_account(s, prefix="b")
    a = login(clients, s, alice, presence=True)
    sent = ["one", "two", "three & <four>", "five"]
    for i, b in enumerate(sent):
        a.send_message("%s@localhost" % bob, body=b, type_="chat" if i % 2 else None)
    settle(a)
    a.expect_nothing(lambda e: e.tag == q(NS_CLIENT, "message"), timeout=0.5)

    b1 = login(clients, s, bob)
    # Nothing before available presence (XEP-0160 §2 step 5).
    b1.expect_nothing(lambda e: e.tag == q(NS_CLIENT, "message"), timeout=0.5)
    b1.send_presence()
    got = collect(b1, len(sent))
    assert bodies(got) == sent
    for m in got:
        assert m.get("from") == a.jid
        d = m.find(q(NS_DELAY, "delay"))
        assert d is not None, "no <delay/> on an offline message"
        assert d.get("from") == "localhost"
        assert d.get("stamp", "").endswith("Z") and "T" in d.get("stamp")
    b1.expect_nothing(lambda e: e.tag == q(NS_CLIENT, "message"), timeout=0.5)
    b1.close()

    # Exactly once: a second login gets nothing.
    b2 = login(clients, s, bob, presence=True)
    b2.expect_nothing(lambda e: e.tag == q(NS_CLIENT, "message"), timeout=1.0)


def test_negative_priority_does_not_flush(server_factory, clients):
    s = offline_server(server_factory)
    alice, _ = make_account(s, prefix="a")
    bob, _ = make_account(s, prefix="b")
    a = login(clients, s, alice, presence=True)
    a.send_message("%s@localhost" % bob, body="stored")
    settle(a)
    b = login(clients, s, bob, presence=-1)
    b.expect_nothing(lambda e: e.tag == q(NS_CLIENT, "message"), timeout=1.0)
    # While only negative resources exist, messages still go offline.
    a.send_message("%s@localhost" % bob, body="stored too")
    settle(a)
    b.expect_nothing(lambda e: e.tag == q(NS_CLIENT, "message"), timeout=0.5)
    # Raising the priority delivers them (XEP-0160 §2: non-negative presence).
    b.send_presence(priority=0)
    assert bodies(collect(b, 2)) == ["stored", "stored too"]


def test_quota_full_bounces(server_factory, clients):
    s = offline_server(server_factory, quota=2)
    alice, _ = make_account(s, prefix="a")
    bob, _ = make_account(s, prefix="b")
    a = login(clients, s, alice, presence=True)
    ids = [a.send_message("%s@localhost" % bob, body="m%d" % i) for i in range(3)]
    err = a.expect(lambda e: e.tag == q(NS_CLIENT, "message") and e.get("type") == "error")
    assert err.get("id") == ids[2]
    etype, cond, text = stanza_error(err)
    assert (etype, cond) == ("cancel", "service-unavailable")
    assert text
    a.expect_nothing(lambda e: e.get("type") == "error", timeout=0.5)
    b = login(clients, s, bob, presence=True)
    assert bodies(collect(b, 2)) == ["m0", "m1"]
    b.expect_nothing(lambda e: e.tag == q(NS_CLIENT, "message"), timeout=0.5)


def test_unknown_user_bounced(server_factory, clients):
    s = offline_server(server_factory)
    alice, _ = make_account(s, prefix="a")
    a = login(clients, s, alice, presence=True)
    mid = a.send_message("nobody-here@localhost", body="hello?")
    err = a.expect(lambda e: e.tag == q(NS_CLIENT, "message") and e.get("id") == mid)
    assert err.get("type") == "error"
    assert stanza_error(err)[1] == "service-unavailable"


@pytest.mark.parametrize("mtype,expect_error", [("headline", False), ("groupchat", True)])
def test_types_not_stored(server_factory, clients, mtype, expect_error):
    """XEP-0160 §3: headline and groupchat are not stored; RFC 6121
    §8.5.2.2.1: groupchat is bounced, headline ignored."""
    s = offline_server(server_factory)
    alice, _ = make_account(s, prefix="a")
    bob, _ = make_account(s, prefix="b")
    a = login(clients, s, alice, presence=True)
    mid = a.send_message("%s@localhost" % bob, body="x", type_=mtype)
    if expect_error:
        err = a.expect(lambda e: e.get("id") == mid and e.get("type") == "error")
        assert stanza_error(err)[1] == "service-unavailable"
    else:
        a.expect_nothing(lambda e: e.get("id") == mid, timeout=0.5)
    b = login(clients, s, bob, presence=True)
    b.expect_nothing(lambda e: e.tag == q(NS_CLIENT, "message"), timeout=1.0)


def test_chat_state_only_not_stored(server_factory, clients):
    s = offline_server(server_factory)
    alice, _ = make_account(s, prefix="a")
    bob, _ = make_account(s, prefix="b")
    a = login(clients, s, alice, presence=True)
    a.send("<message to='%s@localhost' type='chat' id='cs1'>"
           "<composing xmlns='http://jabber.org/protocol/chatstates'/></message>" % bob)
    # Not stored, and the sender is told (RFC 6121 §8.5.2.2.1 option b).
    err = a.expect(lambda e: e.get("id") == "cs1")
    assert stanza_error(err)[1] == "service-unavailable"
    b = login(clients, s, bob, presence=True)
    b.expect_nothing(lambda e: e.tag == q(NS_CLIENT, "message"), timeout=1.0)


def test_message_stored_while_recipient_comes_online(server_factory, clients):
    """A message the router hands to offline storage just before the
    recipient's initial presence may be committed after that presence's
    flush has read the store (the ban check before the append is a storage
    round trip of its own).  It must still reach the recipient while it is
    online, not wait for its next login (XEP-0160 §2 step 5; nothing a
    sender was acked for may sit unseen)."""
    s = offline_server(server_factory)
    alice, _ = make_account(s, prefix="a")
    bob, _ = make_account(s, prefix="b")
    a = login(clients, s, alice, presence=True)
    for i in range(25):
        b = login(clients, s, bob)          # bound, no presence yet
        body = "race %d" % i
        a.send_message(bob + "@localhost", body=body)
        b.send_presence()
        got = b.expect_message(body=body, timeout=5)
        assert got is not None
        b.close()
        settle(a)
