"""XEP-0352 client state indication against a real parleyd: the feature
(§4.1), presence buffered while inactive (only the latest per sender full
JID, §3.2) and flushed on <active/> before anything read after it (§5.1),
messages never delayed (buffered presence is written first, so the client
sees updates in the order they happened), IQs at once."""

import pytest

from conftest import make_account
from harness import server as srv
from harness.xmpp import NS_CLIENT, q, tostr
from test_sm import NS_CSI, NS_SM, SMClient, sm_login

MODULES = ("disco", "ping", "stream_management", "csi")


@pytest.fixture(scope="module")
def server(cert):
    s = srv.ParleyServer("test_csi", cert, modules=MODULES)
    s.start()
    yield s
    s.check_stop()


def status_of(el):
    s = el.find(q(NS_CLIENT, "status"))
    return s.text if s is not None else None


def is_presence_from(jid):
    return lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("from") == jid


def setup_pair(server, clients):
    """One account, two resources: 'watcher' (the CSI client) and 'peer'
    whose presence broadcasts reach it (RFC 6121 §4.2.2, own resources)."""
    user, pw = make_account(server)
    watcher = clients(server.c2s_port)
    watcher.login(user, pw, resource="watcher", presence=True)
    peer = clients(server.c2s_port)
    peer.login(user, pw, resource="peer", presence=True)
    watcher.expect(is_presence_from(watcher.jid))      # its own echo
    watcher.expect(is_presence_from(peer.jid))
    return watcher, peer


def test_xep0352_4_1_feature(server, clients):
    user, pw = make_account(server)
    c = clients(server.c2s_port)
    c.negotiate_tls()
    feats = c.authenticate(user, pw)
    assert feats.find(q(NS_CSI, "csi")) is not None, tostr(feats)


def test_xep0352_presence_buffered_latest_only_then_flushed(server, clients):
    watcher, peer = setup_pair(server, clients)
    watcher.send("<inactive xmlns='%s'/>" % NS_CSI)
    assert watcher.ping().get("type") == "result"        # processed
    for s in ("one", "two", "three"):
        peer.send("<presence><status>%s</status></presence>" % s)
    assert peer.ping().get("type") == "result"
    # IQs are answered at once, presence waits.
    assert watcher.ping().get("type") == "result"
    watcher.expect_nothing(is_presence_from(peer.jid), timeout=1.0)
    watcher.send("<active xmlns='%s'/>" % NS_CSI)
    p = watcher.expect(is_presence_from(peer.jid))
    assert status_of(p) == "three", tostr(p)
    watcher.expect_nothing(is_presence_from(peer.jid), timeout=1.0)
    # Active again: presence flows at once.
    peer.send("<presence><status>four</status></presence>")
    assert status_of(watcher.expect(is_presence_from(peer.jid))) == "four"


def test_xep0352_message_not_delayed_and_presence_first(server, clients):
    watcher, peer = setup_pair(server, clients)
    other_user, other_pw = make_account(server)
    other = clients(server.c2s_port)
    other.login(other_user, other_pw, resource="o")
    watcher.send("<inactive xmlns='%s'/>" % NS_CSI)
    assert watcher.ping().get("type") == "result"        # processed
    peer.send("<presence><status>away-now</status></presence>")
    other.send("<presence to='%s'/>" % watcher.jid)          # directed presence
    assert peer.ping().get("type") == "result"
    assert other.ping().get("type") == "result"
    watcher.expect_nothing(lambda e: e.tag == q(NS_CLIENT, "presence"), timeout=1.0)
    other.send_message(watcher.jid, body="urgent")
    # The message comes at once, after the presence buffered before it.
    seen = []
    while True:
        el = watcher.next(timeout=3)
        seen.append(el)
        if el.tag == q(NS_CLIENT, "message"):
            break
    kinds = [(el.tag.split("}")[1], el.get("from")) for el in seen]
    assert kinds == [("presence", peer.jid), ("presence", other.jid),
                     ("message", other.jid)], kinds
    # Still inactive: the next presence waits again.
    peer.send("<presence><status>later</status></presence>")
    watcher.expect_nothing(is_presence_from(peer.jid), timeout=1.0)


def test_xep0352_with_stream_management_counts_only_what_is_sent(server, clients):
    """Buffered presence is not written, so it is not counted until flushed."""
    user, pw = make_account(server)
    w = sm_login(server, user, pw, resource="watcher", presence=True)
    w.expect(is_presence_from(w.jid))
    w.ack()
    peer = clients(server.c2s_port)
    peer.login(user, pw, resource="peer", presence=True)
    w.send("<inactive xmlns='%s'/>" % NS_CSI)
    assert w.ping().get("type") == "result"
    peer.send("<presence><status>s</status></presence>")
    assert peer.ping().get("type") == "result"
    base = w.h_in
    w.ack(base)                          # nothing more was sent: not too high
    assert w.ping().get("type") == "result"
    w.send("<active xmlns='%s'/>" % NS_CSI)
    p = w.expect(lambda e: e.tag == q(NS_CLIENT, "presence") and status_of(e) == "s")
    assert p is not None
    w.ack()
    assert w.request_ack() >= 1
    w.close()


def test_xep0352_before_bind_is_refused(server, clients):
    user, pw = make_account(server)
    c = clients(server.c2s_port)
    c.negotiate_tls()
    c.authenticate(user, pw)
    c.send("<inactive xmlns='%s'/>" % NS_CSI)
    cond, _ = c.expect_stream_error()
    assert cond == "not-authorized"
