"""Message Carbons (XEP-0280) against a real parleyd.

One user A with three resources (r1 priority 5 and r2 with carbons
enabled, r3 without) and a second user B.  Covers discovery (§3), enable
and disable (§4, §5, §10.1), received copies (§7) including a message to
the bare JID delivered to the highest-priority resource, sent copies
(§8), <private/> (§9), forgetting the state when a session ends, and the
refusal of a forged carbon from another user (§11).
"""

import pytest

from conftest import make_account, PASSWORD
from harness.xmpp import (NS_CLIENT, NS_DISCO_INFO, q, stanza_error, tostr, unique)

NS_CARBONS = "urn:xmpp:carbons:2"
NS_FORWARD = "urn:xmpp:forward:0"
MODULES = ("disco", "ping", "carbons")


@pytest.fixture(scope="module")
def server(request, cert):
    from harness import server as srv
    s = srv.ParleyServer("test_carbons", cert, modules=MODULES)
    s.start()
    yield s
    s.check_stop()


def login(server, clients, user, resource, priority=0):
    c = clients(server.c2s_port)
    c.login(user, PASSWORD, resource=resource, presence=priority)
    return c


def enable(c, what="enable"):
    el = c.iq("set", "<%s xmlns='%s'/>" % (what, NS_CARBONS))
    assert el.get("type") == "result", tostr(el)
    assert len(el) == 0, tostr(el)
    return el


def drain_presence(*cs):
    for c in cs:
        c.expect_nothing(lambda e: e.tag != q(NS_CLIENT, "presence"), timeout=0.3)
        c.pending.clear()


@pytest.fixture
def world(server, clients):
    """A/r1 (priority 5, carbons on), A/r2 (carbons on), A/r3 (off), B."""
    a, _ = make_account(server, prefix="a")
    b, _ = make_account(server, prefix="b")
    r1 = login(server, clients, a, "r1", 5)
    r2 = login(server, clients, a, "r2", 0)
    r3 = login(server, clients, a, "r3", 0)
    bc = login(server, clients, b, "phone", 0)
    enable(r1)
    enable(r2)
    drain_presence(r1, r2, r3, bc)
    return dict(a=a + "@localhost", b=b + "@localhost", r1=r1, r2=r2, r3=r3, bc=bc)


def is_carbon(kind):
    def pred(e):
        return e.tag == q(NS_CLIENT, "message") and e.find(q(NS_CARBONS, kind)) is not None
    return pred


def check_carbon(el, kind, bare, to_full, orig_from, orig_to, body, type_="chat"):
    """The exact wrapper of §7/§8: from the bare JID, to the copy's full
    JID, the original type, <kind><forwarded><message/></forwarded></kind>
    and nothing else."""
    assert el.get("from") == bare, tostr(el)
    assert el.get("to") == to_full, tostr(el)
    assert el.get("type") == type_, tostr(el)
    assert len(el) == 1, tostr(el)
    wrap = el[0]
    assert wrap.tag == q(NS_CARBONS, kind), tostr(el)
    assert len(wrap) == 1 and wrap[0].tag == q(NS_FORWARD, "forwarded"), tostr(el)
    fwd = wrap[0]
    assert len(fwd) == 1 and fwd[0].tag == q(NS_CLIENT, "message"), tostr(el)
    m = fwd[0]
    assert m.get("from") == orig_from, tostr(el)
    assert m.get("to") == orig_to, tostr(el)
    assert m.get("type") == type_, tostr(el)
    assert m.find(q(NS_CLIENT, "body")).text == body, tostr(el)
    return m


def test_disco_feature(server, clients):
    a, _ = make_account(server)
    c = login(server, clients, a, "x")
    el = c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to="localhost")
    feats = [f.get("var") for f in el.iter(q(NS_DISCO_INFO, "feature"))]
    assert NS_CARBONS in feats


def test_enable_disable_idempotent(server, clients):
    a, _ = make_account(server)
    c = login(server, clients, a, "x")
    # §10.1: repeated enable/disable are not errors.
    for what in ("enable", "enable", "disable", "disable", "enable"):
        el = enable(c, what)
        assert el.get("to") == c.jid
    # Addressed to the own bare JID explicitly: same thing.
    el = c.iq("set", "<disable xmlns='%s'/>" % NS_CARBONS, to=a + "@localhost")
    assert el.get("type") == "result", tostr(el)


def test_enable_errors(server, clients):
    a, _ = make_account(server)
    b, _ = make_account(server)
    c = login(server, clients, a, "x")
    login(server, clients, b, "y")
    el = c.iq("get", "<enable xmlns='%s'/>" % NS_CARBONS)
    assert stanza_error(el)[:2] == ("modify", "bad-request"), tostr(el)
    el = c.iq("set", "<bogus xmlns='%s'/>" % NS_CARBONS)
    assert stanza_error(el)[:2] == ("cancel", "feature-not-implemented"), tostr(el)
    # §5: enabling or disabling another account's carbons is not allowed.
    el = c.iq("set", "<enable xmlns='%s'/>" % NS_CARBONS, to=b + "@localhost")
    assert stanza_error(el)[:2] == ("cancel", "not-allowed"), tostr(el)
    assert stanza_error(el)[2], "no <text/>"


def test_received_copies(world):
    w = world
    r1, r2, r3, bc = w["r1"], w["r2"], w["r3"], w["bc"]
    bc.send_message(r1.jid, body="to r1")
    orig = r1.expect_message("to r1")
    assert orig.find(q(NS_CARBONS, "received")) is None
    el = r2.expect(is_carbon("received"), what="received carbon")
    check_carbon(el, "received", w["a"], r2.jid, bc.jid, r1.jid, "to r1")
    r3.expect_nothing(timeout=0.5)
    r1.expect_nothing(timeout=0.2)


def test_sent_copies(world):
    w = world
    r1, r2, r3, bc = w["r1"], w["r2"], w["r3"], w["bc"]
    r3.send_message(bc.jid, body="from r3")
    bc.expect_message("from r3")
    # §8: irrespective of whether the sender has carbons enabled.
    el = r1.expect(is_carbon("sent"), what="sent carbon on r1")
    check_carbon(el, "sent", w["a"], r1.jid, r3.jid, bc.jid, "from r3")
    el = r2.expect(is_carbon("sent"), what="sent carbon on r2")
    check_carbon(el, "sent", w["a"], r2.jid, r3.jid, bc.jid, "from r3")
    r3.expect_nothing(timeout=0.5)

    # An enabled sender gets no copy of its own message.
    r1.send_message(w["b"], body="from r1", type_="normal")
    bc.expect_message("from r1")
    el = r2.expect(is_carbon("sent"), what="sent carbon on r2")
    check_carbon(el, "sent", w["a"], r2.jid, r1.jid, w["b"], "from r1", type_="normal")
    r1.expect_nothing(timeout=0.5)
    r3.expect_nothing(timeout=0.2)


def test_private_not_copied(world):
    w = world
    r1, r2, r3, bc = w["r1"], w["r2"], w["r3"], w["bc"]
    priv = "<private xmlns='%s'/><no-copy xmlns='urn:xmpp:hints'/>" % NS_CARBONS
    bc.send_message(r1.jid, body="secret in", extra=priv)
    el = r1.expect_message("secret in")
    # §9: the element is not stripped.
    assert el.find(q(NS_CARBONS, "private")) is not None, tostr(el)
    r1.send_message(bc.jid, body="secret out", extra="<private xmlns='%s'/>" % NS_CARBONS)
    bc.expect_message("secret out")
    for c in (r2, r3):
        c.expect_nothing(timeout=0.5)
    # Headlines and groupchat are not copied either.
    bc.send_message(r1.jid, body="news", type_="headline")
    r1.expect_message("news")
    r2.expect_nothing(timeout=0.5)


def test_bare_jid_to_highest_priority(world):
    w = world
    r1, r2, r3, bc = w["r1"], w["r2"], w["r3"], w["bc"]
    bc.send_message(w["a"], body="to bare")
    orig = r1.expect_message("to bare")       # priority 5 wins
    assert orig.find(q(NS_CARBONS, "received")) is None
    el = r2.expect(is_carbon("received"), what="received carbon")
    check_carbon(el, "received", w["a"], r2.jid, bc.jid, w["a"], "to bare")
    r3.expect_nothing(timeout=0.5)


def test_bare_jid_to_several_resources(world):
    """Two resources share the highest priority: both get the original
    (RFC 6121 §8.5.2.1.1), neither gets a carbon of it."""
    w = world
    r1, r2, r3, bc = w["r1"], w["r2"], w["r3"], w["bc"]
    r1.send_presence(priority=0)
    for c in (r1, r2, r3):
        c.expect_presence(frm=r1.jid)
    bc.send_message(w["a"], body="to all")
    for c in (r1, r2, r3):
        el = c.expect_message("to all")
        assert el.find(q(NS_CARBONS, "received")) is None, tostr(el)
    for c in (r1, r2, r3):
        c.expect_nothing(timeout=0.4)


def test_disable_stops_copies(world):
    w = world
    r1, r2, bc = w["r1"], w["r2"], w["bc"]
    enable(r2, "disable")
    bc.send_message(r1.jid, body="after disable")
    r1.expect_message("after disable")
    r2.expect_nothing(timeout=0.5)
    r1.send_message(bc.jid, body="out after disable")
    bc.expect_message("out after disable")
    r2.expect_nothing(timeout=0.5)


def test_unavailable_resource_gets_no_copy(world):
    w = world
    r1, r2, bc = w["r1"], w["r2"], w["bc"]
    r2.send_presence(type_="unavailable")
    r1.expect_presence(frm=r2.jid, type_="unavailable")
    r2.expect_presence(frm=r2.jid, type_="unavailable")
    bc.send_message(r1.jid, body="while away")
    r1.expect_message("while away")
    r2.expect_nothing(timeout=0.5)


def test_state_forgotten_at_session_end(server, clients, world):
    w = world
    r1, r2, bc = w["r1"], w["r2"], w["bc"]
    user = w["a"].split("@")[0]
    r2.close()
    again = login(server, clients, user, "r2", 0)
    drain_presence(r1, again)
    bc.send_message(r1.jid, body="new session")
    r1.expect_message("new session")
    again.expect_nothing(timeout=0.5)
    enable(again)
    bc.send_message(r1.jid, body="enabled again")
    r1.expect_message("enabled again")
    el = again.expect(is_carbon("received"), what="received carbon")
    check_carbon(el, "received", w["a"], again.jid, bc.jid, r1.jid, "enabled again")


def test_forged_carbon_refused(world):
    """§11 ("Tybalt attempts Carbons impersonation attack on Romeo"): the
    forger gets <forbidden/>, no resource of A sees the forgery."""
    w = world
    r1, r2, r3, bc = w["r1"], w["r2"], w["r3"], w["bc"]
    for kind, to in (("received", w["a"]), ("sent", r1.jid)):
        forged = ("<%s xmlns='%s'><forwarded xmlns='%s'><message xmlns='jabber:client' "
                  "from='%s' to='%s' type='chat'><body>forged</body></message>"
                  "</forwarded></%s>") % (kind, NS_CARBONS, NS_FORWARD, "x@localhost/y",
                                          r1.jid, kind)
        mid = unique("f")
        bc.send("<message to='%s' id='%s' type='chat'>%s</message>" % (to, mid, forged))
        err = bc.expect(lambda e: e.get("id") == mid and e.get("type") == "error",
                        what="error for the forged carbon")
        t, cond, text = stanza_error(err)
        assert (t, cond) == ("auth", "forbidden"), tostr(err)
        assert text
        assert err.get("from") == to
        for c in (r1, r2, r3):
            c.expect_nothing(timeout=0.4)


def test_carbon_of_own_resource_message(world):
    """r1 -> r2 (same account): r2 gets the original, the others a <sent/>
    copy only (no <received/> copy of the same message as well)."""
    w = world
    r1, r2, r3 = w["r1"], w["r2"], w["r3"]
    enable(r3)
    r1.send_message(r2.jid, body="self")
    r2.expect_message("self")
    el = r3.expect(is_carbon("sent"), what="sent carbon")
    check_carbon(el, "sent", w["a"], r3.jid, r1.jid, r2.jid, "self")
    el = r2.expect(is_carbon("sent"), what="sent carbon on r2")
    for c in (r1, r2, r3):
        c.expect_nothing(timeout=0.4)


def test_enabled_state_survives_reload(server, world):
    """Whether a session enabled carbons is kept with the session, not
    with the module instance that a configuration reload replaces: after
    a reload the enabled resource still gets its copies and the disabled
    one still gets none."""
    w = world
    r1, r2, r3, bc = w["r1"], w["r2"], w["r3"], w["bc"]
    cp = server.ctl("reload")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert bc.ping().get("type") == "result"
    bc.send_message(r1.jid, body="after reload")
    r1.expect_message("after reload")
    el = r2.expect(is_carbon("received"), what="received carbon after reload")
    check_carbon(el, "received", w["a"], r2.jid, bc.jid, r1.jid, "after reload")
    r3.expect_nothing(timeout=0.5)
