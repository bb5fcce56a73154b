"""Bind2 (XEP-0386) inline in SASL2 against a real parleyd, raw XML:
resource "[tag]/[hex]" in <authorization-identifier/> with <bound/> (stable
per client user-agent id: binding again ends the earlier session);
inline XEP-0198 enable (<enabled/> inside <bound/>) and resume (<resumed/>
inside <success/>, then the unacknowledged stanzas again); inline carbons;
and the Bind2 rule of issue 4: offline messages are never purged at bind,
with MAM disabled or enabled the Bind2 client receives them at its
initial presence."""

import socket
import time

import pytest

from conftest import PASSWORD, make_account
from harness import server as srv
from harness.xmpp import NS_BIND, NS_CLIENT, q, tostr
from test_sasl2 import (NS_BIND2, NS_CARBONS, NS_SASL2, NS_SM, UA, identity, login2,
                        scram2)

MODULES = tuple(srv.ALL_MODULES)
OTHER_UA = "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"


@pytest.fixture(scope="module")
def server(request, cert):
    s = srv.ParleyServer("test_bind2", cert, modules=MODULES)
    s.start()
    yield s
    s.check_stop()


def bind_inline(tag="AwesomeXMPP", extra=""):
    return "<bind xmlns='%s'><tag>%s</tag>%s</bind>" % (NS_BIND2, tag, extra)


def test_bind_with_tag(server, clients):
    user, _ = make_account(server)
    c, el, feats = login2(clients, server, user, inline=bind_inline())
    jid = identity(el)
    assert jid.startswith("%s@localhost/AwesomeXMPP/" % user), jid
    assert len(jid.split("/", 1)[1]) > len("AwesomeXMPP/")
    assert el.find(q(NS_BIND2, "bound")) is not None, tostr(el)
    # Bound already: no <bind/> offered, and stanzas flow at once.
    assert feats.find(q(NS_BIND, "bind")) is None, tostr(feats)
    assert c.ping().get("type") == "result"
    # Another client (another user-agent id) with the same tag gets a
    # resource of its own.
    _, el2, _ = login2(clients, server, user, inline=bind_inline(), ua=OTHER_UA)
    assert identity(el2) != jid
    # A message to the full JID reaches this stream.
    other, _ = make_account(server)
    o = clients(server.c2s_port)
    o.login(other, PASSWORD)
    o.send_message(jid, body="to the bound resource")
    c.expect_message(body="to the bound resource")


def test_same_client_replaces_its_earlier_session(server, clients):
    """XEP-0386 §3.2: "the server SHOULD terminate any earlier sessions
    from the same client (identified by the <user-agent> 'id')".  The same
    client gets the same resource (§3.2.1 stability), without its id in
    it, and the earlier stream ends with <conflict/> (RFC 6120 §7.7.2.2);
    a client without a user-agent id gets a fresh resource each time."""
    user, _ = make_account(server)
    first, el, _ = login2(clients, server, user, inline=bind_inline())
    jid = identity(el)
    assert UA not in jid and UA.replace("-", "") not in jid
    second, el2, _ = login2(clients, server, user, inline=bind_inline())
    assert identity(el2) == jid
    cond, _ = first.expect_stream_error(timeout=5)
    assert cond == "conflict", cond
    assert second.ping().get("type") == "result"
    # Another account's same client id is another resource.
    other, _ = make_account(server)
    _, el3, _ = login2(clients, server, other, inline=bind_inline())
    assert identity(el3).split("/", 1)[1] != jid.split("/", 1)[1]
    # Without a user-agent id: random, both sessions stay.
    a, ea, _ = login2(clients, server, user, inline=bind_inline(), ua=None)
    b, eb, _ = login2(clients, server, user, inline=bind_inline(), ua=None)
    assert identity(ea) != identity(eb)
    assert a.ping().get("type") == "result"
    assert b.ping().get("type") == "result"


def test_bind_bad_tag_still_binds(server, clients):
    user, _ = make_account(server)
    _, el, _ = login2(clients, server, user, inline=bind_inline(tag="&lt;/&gt;"))
    assert identity(el).startswith("%s@localhost/parley/" % user)


def test_inline_sm_enable_and_resume(server, clients):
    user, _ = make_account(server)
    c, el, _ = login2(clients, server, user,
                      inline=bind_inline(extra="<enable xmlns='%s' resume='true'/>" % NS_SM))
    jid = identity(el)
    enabled = el.find("%s/%s" % (q(NS_BIND2, "bound"), q(NS_SM, "enabled")))
    assert enabled is not None and enabled.get("resume") == "true", tostr(el)
    previd = enabled.get("id")
    # Counting started with <enabled/>: an <r/> now reports 0.
    c.send("<r xmlns='%s'/>" % NS_SM)
    a = c.expect_tag(q(NS_SM, "a"))
    assert a.get("h") == "0"
    # A message arrives; the client breaks without acknowledging it.
    other, _ = make_account(server)
    o = clients(server.c2s_port)
    o.login(other, PASSWORD)
    o.send_message(jid, body="keep me")
    c.expect_message(body="keep me")
    c.sock.shutdown(socket.SHUT_RDWR)
    c.sock.close()
    time.sleep(0.3)
    # SASL2 with inline <resume/>: <resumed/> in <success/>, the bind is
    # skipped (XEP-0386 §3.2), the message comes again.
    c2 = clients(server.c2s_port)
    c2.negotiate_tls()
    el = scram2(c2, user, PASSWORD, inline="<resume xmlns='%s' previd='%s' h='0'/>%s"
                % (NS_SM, previd, bind_inline()))
    assert identity(el) == jid, tostr(el)
    resumed = el.find(q(NS_SM, "resumed"))
    assert resumed is not None and resumed.get("previd") == previd, tostr(el)
    assert el.find(q(NS_BIND2, "bound")) is None
    c2.read_features()
    c2.expect_message(body="keep me")
    assert c2.ping().get("type") == "result"


def test_inline_resume_failure_then_bind(server, clients):
    user, _ = make_account(server)
    c = clients(server.c2s_port)
    c.negotiate_tls()
    el = scram2(c, user, PASSWORD, inline="<resume xmlns='%s' previd='nope' h='0'/>%s"
                % (NS_SM, bind_inline()))
    failed = el.find(q(NS_SM, "failed"))
    assert failed is not None and failed.find(
        "{urn:ietf:params:xml:ns:xmpp-stanzas}item-not-found") is not None, tostr(el)
    assert el.find(q(NS_BIND2, "bound")) is not None
    assert identity(el).startswith("%s@localhost/AwesomeXMPP/" % user)


def test_inline_carbons(server, clients):
    user, _ = make_account(server)
    a, el, _ = login2(clients, server, user,
                      inline=bind_inline(extra="<enable xmlns='%s'/>" % NS_CARBONS))
    a.send_presence()
    b = clients(server.c2s_port)
    b.login(user, PASSWORD, resource="other", presence=True)
    other, _ = make_account(server)
    o = clients(server.c2s_port)
    o.login(other, PASSWORD)
    o.send_message("%s@localhost/other" % user, body="for b")
    b.expect_message(body="for b")
    cc = a.expect(lambda e: e.tag == q(NS_CLIENT, "message")
                  and e.find(q(NS_CARBONS, "received")) is not None, what="a carbon")
    assert "for b" in tostr(cc)


@pytest.mark.parametrize("mam", [False, True])
def test_offline_messages_survive_bind2(server_factory, clients, mam):
    """Issue 4's Bind2 rule: never purge offline messages at bind."""
    mods = [m for m in MODULES if mam or m != "mam"]
    s = server_factory(modules=tuple(mods))
    user, _ = make_account(s)
    sender, _ = make_account(s)
    o = clients(s.c2s_port)
    o.login(sender, PASSWORD)
    o.send_message("%s@localhost" % user, body="while you were away")
    o.ping()                    # the offline store write is done
    c, el, _ = login2(clients, s, user,
                      inline=bind_inline(extra="<enable xmlns='%s' resume='true'/>" % NS_SM))
    assert el.find(q(NS_BIND2, "bound")) is not None
    c.send_presence()
    m = c.expect_message(body="while you were away")
    assert m.find("{urn:xmpp:delay}delay") is not None, tostr(m)
