"""Groupchat fan-out with one shared serialization (issue 6 performance
requirement; XEP-0045 §7.4) as clients see it: every occupant gets exactly
one copy addressed to its own full JID (escaped on the wire: RFC 7622
resources may hold XML specials), XEP-0198 resends such messages exactly
on resumption (§5) and survives a hibernated session ending with them
unacknowledged (§4), and XEP-0352 flushes held presence before them."""

import time

import pytest

from conftest import make_account
from harness import server as srv
from harness.xmpp import NS_CLIENT, q, tostr, unique
from test_muc import MUC, SERVICE, codes, instant, join
from test_sm import NS_CSI, NS_SM, SMClient, set_module_options

MODULES = srv.ALL_MODULES + ("muc",)
RESUME_TIMEOUT = 3


@pytest.fixture(scope="module")
def server(cert):
    s = srv.ParleyServer("test_muc_fanout", cert, modules=MODULES)
    set_module_options(s, "stream_management",
                       {"resume_timeout": RESUME_TIMEOUT, "max_hibernated": 2})
    s.start()
    yield s
    s.check_stop()


def body_of(el):
    b = el.find(q(NS_CLIENT, "body"))
    return b.text if b is not None else None


def is_gc(body=None):
    return lambda e: (e.tag == q(NS_CLIENT, "message") and e.get("type") == "groupchat"
                      and body_of(e) is not None and (body is None or body_of(e) == body))


def user(server, clients, resource="r"):
    u, p = make_account(server)
    c = clients(server.c2s_port)
    c.login(u, p, resource=resource, presence=True)
    return c


def say(c, room, body):
    c.send("<message to='%s@%s' type='groupchat'><body>%s</body></message>"
           % (room, SERVICE, body))


def test_each_occupant_one_copy_to_itself_escaped(server, clients):
    room = unique("fan")
    owner = user(server, clients)
    instant(owner, room, "owner")
    # Resources with every XML special: the inserted 'to' must be escaped.
    others = [user(server, clients, resource="r'&<\">%d" % i) for i in range(12)]
    for i, c in enumerate(others):
        join(c, room, "n%d" % i)
    say(owner, room, "to-all")
    for c in [owner] + others:
        m = c.expect(is_gc("to-all"))
        assert m.get("to") == c.jid, tostr(m)
        assert m.get("from") == "%s@%s/owner" % (room, SERVICE)
        assert m.find(q("urn:xmpp:sid:0", "stanza-id")) is not None
        c.expect_nothing(is_gc("to-all"), timeout=0.2)


def sm_user(server, resource="phone"):
    u, p = make_account(server)
    c = SMClient(server.c2s_port)
    c.login(u, p, resource=resource, presence=True)
    assert c.enable(resume=True).tag == q(NS_SM, "enabled")
    return c, u, p


def test_resume_resends_groupchat_exactly(server, clients):
    room = unique("fan")
    bob = user(server, clients)
    instant(bob, room, "bob")
    a, ua, pa = sm_user(server)
    join(a, room, "alice")
    h0 = a.h_in                   # everything up to here is acknowledged
    a.ack(h0)
    say(bob, room, "g1")
    say(bob, room, "g2")
    a.expect(is_gc("g1"))
    a.expect(is_gc("g2"))
    previd = a.sm_id
    a.drop()
    time.sleep(0.3)
    say(bob, room, "g3")          # queued for the hibernated session
    bob.expect(is_gc("g3"))
    a2 = SMClient(server.c2s_port)
    a2.h_in = h0 + 1              # it saw g1, g2 got lost
    el = a2.resume(ua, pa, previd, h0 + 1)
    assert el.tag == q(NS_SM, "resumed"), tostr(el)
    got = []
    for _ in range(2):
        m = a2.expect(is_gc())
        assert m.get("to") == a.jid, tostr(m)
        assert m.get("from") == "%s@%s/bob" % (room, SERVICE)
        got.append(body_of(m))
    assert got == ["g2", "g3"]
    a2.expect_nothing(is_gc(), timeout=0.5)
    # The resumed queue counts them: acking them empties it.
    assert a2.request_ack() >= 1
    a2.ack()
    say(bob, room, "g4")
    m = a2.expect(is_gc("g4"))
    assert m.get("to") == a.jid
    a2.close()


def test_hibernated_session_ends_with_groupchat_unacked(server, clients):
    """The frames queued for a session that is never resumed are rebuilt
    into stanzas and re-routed (a groupchat to an unavailable resource is
    bounced, RFC 6121 §8.5.3.2.1, and the room ignores errors); the room
    loses the occupant, and nothing leaks (the harness checks ASan)."""
    room = unique("fan")
    bob = user(server, clients)
    instant(bob, room, "bob")
    a, ua, pa = sm_user(server)
    join(a, room, "alice")
    a.drop()
    time.sleep(0.3)
    for i in range(3):
        say(bob, room, "lost%d" % i)
        bob.expect(is_gc("lost%d" % i))
    gone = bob.expect(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("type") == "unavailable"
                      and e.get("from") == "%s@%s/alice" % (room, SERVICE),
                      timeout=RESUME_TIMEOUT + 4)
    assert gone is not None
    say(bob, room, "after")
    bob.expect(is_gc("after"))


def test_csi_flushes_presence_before_groupchat(server, clients):
    room = unique("fan")
    bob = user(server, clients)
    instant(bob, room, "bob")
    watcher = user(server, clients)
    join(watcher, room, "watcher")
    watcher.send("<inactive xmlns='%s'/>" % NS_CSI)
    carol = user(server, clients)
    join(carol, room, "carol")
    carol_room = "%s@%s/carol" % (room, SERVICE)
    # XEP-0352: carol's join presence is held while the watcher is inactive.
    watcher.expect_nothing(lambda e: e.tag == q(NS_CLIENT, "presence")
                           and e.get("from") == carol_room, timeout=0.5)
    say(bob, room, "hello")
    # The message is not held, and what was held comes first.
    first = watcher.expect(lambda e: (e.tag == q(NS_CLIENT, "presence") and e.get("from") == carol_room)
                           or is_gc("hello")(e))
    assert first.tag == q(NS_CLIENT, "presence") and first.get("from") == carol_room, tostr(first)
    m = watcher.expect(is_gc("hello"))
    assert m.get("to") == watcher.jid
