"""Presence subscriptions between two real clients (RFC 6121 §3 and
Appendix A), pre-approval (§3.4), removal cancelling both ways (§2.5.2),
presence to subscribers (§4.2, §4.4, §4.5), probes (§4.3) and the
presence-sharing check for IQs to full JIDs (§8.5.3.1)."""

import asyncio

import pytest

from conftest import PASSWORD, make_account
from harness import server as srv
from harness.xmpp import NS_CLIENT, NS_PING, q, stanza_error, tostr

from test_roster import MODULES, expect_push, is_push, items_of, roster_get, roster_set

QUIET = 1.0
NS_DELAY = "urn:xmpp:delay"


@pytest.fixture(scope="module")
def server(request, cert):
    s = srv.ParleyServer("test_subscriptions", cert, modules=MODULES)
    s.start()
    yield s
    s.check_stop()


def bare(c):
    return c.jid.split("/")[0]


def login(server, clients, user, resource="r", presence=True, roster=True, status=None):
    c = clients(server.c2s_port)
    c.login(user, PASSWORD, resource=resource)
    if roster:
        roster_get(c)
    if presence:
        c.send_presence(extra="<status>%s</status>" % status if status else "")
        c.expect(is_pres(c.jid, None))      # our own broadcast comes back
    return c


def is_pres(frm, type_):
    return lambda e: (e.tag == q(NS_CLIENT, "presence") and e.get("from") == frm
                      and e.get("type") == type_)


def send_sub(c, to, type_, id_=None, extra=""):
    c.send("<presence to='%s' type='%s'%s>%s</presence>" % (
        to, type_, " id='%s'" % id_ if id_ else "", extra))


def sub_of(c, jid):
    return items_of(roster_get(c)).get(jid)


def pair(server, clients):
    ua, _ = make_account(server, prefix="a")
    ub, _ = make_account(server, prefix="b")
    return login(server, clients, ua), login(server, clients, ub)


def subscribe_approved(a, b):
    """a subscribes to b, b approves: a has 'to', b has 'from'."""
    send_sub(a, bare(b), "subscribe")
    expect_push(a, bare(b))
    b.expect(is_pres(bare(a), "subscribe"))
    send_sub(b, bare(a), "subscribed")
    it, _ = expect_push(b, bare(a))
    assert it.get("subscription") in ("from", "both")
    a.expect(is_pres(bare(b), "subscribed"))
    it, _ = expect_push(a, bare(b))
    assert it.get("subscription") in ("to", "both")
    a.expect(is_pres(b.jid, None))          # §3.1.5: b's presence follows


def mutual(a, b):
    subscribe_approved(a, b)
    subscribe_approved(b, a)


def test_rfc6121_3_1_subscribe_and_approve_online(server, clients):
    a, b = pair(server, clients)
    send_sub(a, bare(b), "subscribe", id_="sub1", extra="<status>hi, it is me</status>")
    it, _ = expect_push(a, bare(b))                     # §3.1.2
    assert (it.get("subscription"), it.get("ask")) == ("none", "subscribe")
    p = b.expect(is_pres(bare(a), "subscribe"))         # §3.1.3 rule 3
    assert p.get("to") == bare(b) and p.get("id") == "sub1"
    assert p.findtext(q(NS_CLIENT, "status")) == "hi, it is me"
    # §3.1.3 security warning: no item for a request not yet approved.
    b.expect_nothing(is_push(), timeout=0.5)
    assert sub_of(b, bare(a)) is None
    send_sub(b, bare(a), "subscribed", id_="ok1")
    it, _ = expect_push(b, bare(a))                     # §3.1.5
    assert it.get("subscription") == "from" and it.get("ask") is None
    p = a.expect(is_pres(bare(b), "subscribed"))        # §3.1.6 step 1
    assert p.get("id") == "ok1"
    it, _ = expect_push(a, bare(b))                     # step 2
    assert it.get("subscription") == "to" and it.get("ask") is None
    a.expect(is_pres(b.jid, None))                      # step 3 / §3.1.5
    assert sub_of(a, bare(b)).get("subscription") == "to"
    assert sub_of(b, bare(a)).get("subscription") == "from"


def test_rfc6121_3_mutual_subscription_and_broadcast(server, clients):
    a, b = pair(server, clients)
    mutual(a, b)
    assert sub_of(a, bare(b)).get("subscription") == "both"
    assert sub_of(b, bare(a)).get("subscription") == "both"
    # §4.4.2: subsequent presence goes to subscribers.
    a.send_presence(extra="<show>away</show><status>lunch</status>")
    p = b.expect(is_pres(a.jid, None))
    assert p.findtext(q(NS_CLIENT, "status")) == "lunch"
    # §4.5.2: unavailable at logout (the stream just closes).
    a.close()
    b.expect(is_pres(a.jid, "unavailable"))


def test_rfc6121_4_presence_only_to_subscribers(server, clients):
    a, b = pair(server, clients)
    subscribe_approved(a, b)            # a: to, b: from
    a.send_presence(extra="<status>a-private</status>")
    a.expect(is_pres(a.jid, None))
    b.expect_nothing(is_pres(a.jid, None), timeout=QUIET)
    b.send_presence(extra="<status>b-shared</status>")
    p = a.expect(is_pres(b.jid, None))
    assert p.findtext(q(NS_CLIENT, "status")) == "b-shared"


def test_rfc6121_3_1_3_request_stored_while_offline(server, clients):
    ua, _ = make_account(server, prefix="a")
    ub, _ = make_account(server, prefix="b")
    a = login(server, clients, ua)
    bj = "%s@localhost" % ub
    send_sub(a, bj, "subscribe", extra="<status>please</status>")
    it, _ = expect_push(a, bj)
    assert it.get("ask") == "subscribe"
    send_sub(a, bj, "subscribe", extra="<status>second</status>")   # not stored twice
    # b logs in: the request comes with its first available presence.
    b = login(server, clients, ub, presence=False)
    assert items_of(roster_get(b)) == {}
    b.expect_nothing(is_pres(bare(a), "subscribe"), timeout=0.5)
    b.send_presence()
    p = b.expect(is_pres(bare(a), "subscribe"))
    assert p.findtext(q(NS_CLIENT, "status")) == "please"
    b.expect_nothing(is_pres(bare(a), "subscribe"), timeout=0.5)
    b.close()
    # Not answered: delivered again at the next available resource.
    b = login(server, clients, ub, resource="again", presence=False)
    b.send_presence()
    b.expect(is_pres(bare(a), "subscribe"))
    send_sub(b, bare(a), "subscribed")
    a.expect(is_pres(bj, "subscribed"))
    it, _ = expect_push(a, bj)
    assert it.get("subscription") == "to"
    b.close()
    b = login(server, clients, ub, resource="third", presence=False)
    b.send_presence()
    b.expect_nothing(is_pres(bare(a), "subscribe"), timeout=QUIET)


def test_rfc6121_a_3_1_duplicate_request_not_delivered(server, clients):
    a, b = pair(server, clients)
    send_sub(a, bare(b), "subscribe")
    b.expect(is_pres(bare(a), "subscribe"))
    send_sub(a, bare(b), "subscribe")
    b.expect_nothing(is_pres(bare(a), "subscribe"), timeout=QUIET)


def test_rfc6121_3_2_deny_request(server, clients):
    a, b = pair(server, clients)
    send_sub(a, bare(b), "subscribe")
    expect_push(a, bare(b))
    b.expect(is_pres(bare(a), "subscribe"))
    send_sub(b, bare(a), "unsubscribed")
    a.expect(is_pres(bare(b), "unsubscribed"))          # §3.2.3 / A.3.4
    it, _ = expect_push(a, bare(b))
    assert it.get("subscription") == "none" and it.get("ask") is None
    assert sub_of(b, bare(a)) is None                   # never added


def test_rfc6121_3_3_unsubscribe_from_both(server, clients):
    a, b = pair(server, clients)
    mutual(a, b)
    send_sub(a, bare(b), "unsubscribe")
    it, _ = expect_push(a, bare(b))                     # §3.3.2
    assert it.get("subscription") == "from"
    b.expect(is_pres(bare(a), "unsubscribe"))           # §3.3.3 step 1
    it, _ = expect_push(b, bare(a))                     # step 2
    assert it.get("subscription") == "to"
    a.expect(is_pres(b.jid, "unavailable"))             # step 3
    # b's automatic "unsubscribed" meets "From" at a: not delivered (A.3.4).
    a.expect_nothing(is_pres(bare(b), "unsubscribed"), timeout=QUIET)
    assert sub_of(a, bare(b)).get("subscription") == "from"


def test_rfc6121_3_2_cancel_from_both(server, clients):
    a, b = pair(server, clients)
    mutual(a, b)
    send_sub(b, bare(a), "unsubscribed")
    it, _ = expect_push(b, bare(a))                     # §3.2.2
    assert it.get("subscription") == "to"
    a.expect(is_pres(b.jid, "unavailable"))             # before the cancellation
    a.expect(is_pres(bare(b), "unsubscribed"))          # §3.2.3 step 1
    it, _ = expect_push(a, bare(b))
    assert it.get("subscription") == "from"
    # b's presence no longer reaches a.
    b.send_presence(extra="<status>gone dark</status>")
    a.expect_nothing(is_pres(b.jid, None), timeout=QUIET)


def test_rfc6121_a_unsubscribe_states(server, clients):
    """Outbound unsubscribe / unsubscribed where they change nothing: still
    no push (A.2.2 "None", A.2.4 "None" S.N. route)."""
    a, b = pair(server, clients)
    send_sub(a, bare(b), "unsubscribe")
    b.expect_nothing(is_pres(bare(a), "unsubscribe"), timeout=0.5)   # A.3.2 None: S.N.
    send_sub(a, bare(b), "unsubscribed")
    b.expect_nothing(is_pres(bare(a), "unsubscribed"), timeout=0.5)  # A.2.4 None: S.N.
    a.expect_nothing(is_push(), timeout=0.3)
    # A.2.2 "None + Pending Out" -> "None": the request is withdrawn.
    send_sub(a, bare(b), "subscribe")
    expect_push(a, bare(b))
    b.expect(is_pres(bare(a), "subscribe"))
    send_sub(a, bare(b), "unsubscribe")
    it, _ = expect_push(a, bare(b))
    assert it.get("ask") is None and it.get("subscription") == "none"
    b.expect(is_pres(bare(a), "unsubscribe"))           # A.3.2 None + Pending In: MUST
    # The request is gone: b approving now is a pre-approval, not routed.
    send_sub(b, bare(a), "subscribed")
    it, _ = expect_push(b, bare(a))
    assert it.get("approved") == "true" and it.get("subscription") == "none"
    a.expect_nothing(is_pres(bare(b), "subscribed"), timeout=0.5)


def test_rfc6121_2_5_2_remove_cancels_both_ways(server, clients):
    a, b = pair(server, clients)
    mutual(a, b)
    el = roster_set(a, bare(b), subscription="remove")
    assert el.get("type") == "result", tostr(el)
    it, _ = expect_push(a, bare(b))
    assert it.get("subscription") == "remove"
    b.expect(is_pres(bare(a), "unsubscribe"))
    b.expect(is_pres(a.jid, "unavailable"))
    b.expect(is_pres(bare(a), "unsubscribed"))
    subs = [expect_push(b, bare(a))[0].get("subscription") for _ in range(2)]
    assert subs == ["to", "none"], subs
    assert sub_of(b, bare(a)).get("subscription") == "none"
    assert sub_of(a, bare(b)) is None


def test_rfc6121_3_4_preapproval(server, clients):
    a, b = pair(server, clients)
    send_sub(a, bare(b), "subscribed")                  # no request yet
    it, _ = expect_push(a, bare(b))                     # §3.4.2 rule 4
    assert it.get("approved") == "true" and it.get("subscription") == "none"
    b.expect_nothing(is_pres(bare(a), "subscribed"), timeout=0.5)   # not routed
    send_sub(b, bare(a), "subscribe")
    expect_push(b, bare(a))
    b.expect(is_pres(bare(a), "subscribed"))            # answered for a
    it, _ = expect_push(b, bare(a))
    assert it.get("subscription") == "to"
    it, _ = expect_push(a, bare(b))
    assert it.get("subscription") == "from" and it.get("approved") is None
    a.expect_nothing(is_pres(bare(b), "subscribe"), timeout=0.5)    # never delivered


def test_rfc6121_3_4_preapproval_cancelled(server, clients):
    a, b = pair(server, clients)
    send_sub(a, bare(b), "subscribed")
    expect_push(a, bare(b))
    send_sub(a, bare(b), "unsubscribed")                # §3.2.2 rule 2
    it, _ = expect_push(a, bare(b))
    assert it.get("approved") is None
    b.expect_nothing(is_pres(bare(a), "unsubscribed"), timeout=0.5)
    send_sub(b, bare(a), "subscribe")
    a.expect(is_pres(bare(b), "subscribe"))             # asks a again


def test_rfc6121_4_3_probe_answered_at_login(server, clients):
    ua, _ = make_account(server, prefix="a")
    ub, _ = make_account(server, prefix="b")
    a = login(server, clients, ua)
    b = login(server, clients, ub, status="here")
    mutual(a, b)
    a.close()
    a = login(server, clients, ua, resource="back", presence=False)
    a.send_presence()
    p = a.expect(is_pres(b.jid, None))                  # §4.2.2 probe, §4.3.2 rule 4
    assert p.findtext(q(NS_CLIENT, "status")) == "here"
    # b goes offline with a status; a's next login gets it with a stamp.
    b.send_presence(type_="unavailable", extra="<status>gone fishing</status>")
    a.expect(is_pres(b.jid, "unavailable"))
    b.close()
    a.close()
    a = login(server, clients, ua, resource="third", presence=False)
    a.send_presence()
    p = a.expect(is_pres(bare(b), "unavailable"))       # §4.3.2 rule 3
    assert p.findtext(q(NS_CLIENT, "status")) == "gone fishing"
    d = p.find(q(NS_DELAY, "delay"))
    assert d is not None and d.get("stamp", "").endswith("Z"), tostr(p)


def test_rfc6121_4_3_2_probe_from_stranger(server, clients):
    a, c = pair(server, clients)
    c.send("<presence to='%s' type='probe' id='pr1'/>" % bare(a))
    c.expect_nothing(is_pres(a.jid, None), timeout=QUIET)


def test_rfc6121_8_5_3_1_iq_needs_presence_sharing(server, clients):
    ua, _ = make_account(server, prefix="a")
    a = login(server, clients, ua)
    stranger = login(server, clients, make_account(server, prefix="s")[0])
    friend = login(server, clients, make_account(server, prefix="f")[0])
    subscribe_approved(friend, a)                       # a shares presence with friend
    el = stranger.ping(to=a.jid)
    assert stanza_error(el)[:2] == ("cancel", "service-unavailable"), tostr(el)
    a.expect_nothing(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("type") == "get",
                     timeout=0.3)
    friend.send("<iq type='get' id='f1' to='%s'><ping xmlns='%s'/></iq>" % (a.jid, NS_PING))
    got = a.expect(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == "f1")
    assert got.get("from") == friend.jid
    # Same account: always.
    a2 = login(server, clients, ua, resource="other")
    a2.send("<iq type='get' id='s1' to='%s'><ping xmlns='%s'/></iq>" % (a.jid, NS_PING))
    a.expect(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == "s1")
    # Directed presence counts as sharing (§8.5.3.1).
    a.send_presence(to=stranger.jid)
    stranger.expect(is_pres(a.jid, None))
    stranger.send("<iq type='get' id='d1' to='%s'><ping xmlns='%s'/></iq>" % (a.jid, NS_PING))
    a.expect(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == "d1")
    # Results and errors are always delivered.
    stranger.send("<iq type='result' id='r1' to='%s'/>" % a.jid)
    a.expect(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == "r1")


# --- slixmpp: a real client library doing the whole dance --------------------------

slixmpp = pytest.importorskip("slixmpp")

from harness.slix import Client, connect, run  # noqa: E402


def test_slixmpp_mutual_subscription(server):
    ua, _ = make_account(server, prefix="sa")
    ub, _ = make_account(server, prefix="sb")

    async def scenario():
        a = Client("%s@localhost/s" % ua, roster=True)
        b = Client("%s@localhost/s" % ub, roster=True)
        for c in (a, b):
            connect(c, server)
        await asyncio.gather(a.started, b.started)
        # slixmpp approves and subscribes back by default (auto_authorize,
        # auto_subscribe): one request ends in a mutual subscription.
        a.send_presence(pto="%s@localhost" % ub, ptype="subscribe")
        bj, aj = "%s@localhost" % ub, "%s@localhost" % ua
        for _ in range(100):
            if (a.client_roster[bj]["subscription"] == "both" and
                    b.client_roster[aj]["subscription"] == "both"):
                break
            await asyncio.sleep(0.1)
        assert a.client_roster[bj]["subscription"] == "both"
        assert b.client_roster[aj]["subscription"] == "both"
        # The server's roster agrees (a roster get without 'ver': slixmpp's
        # own get_roster() sends its cached version and, being current,
        # gets the empty result of §2.6.3).
        iq = a.Iq(stype="get")
        iq.enable("roster")
        r = await iq.send()
        items = {str(k): v for k, v in r["roster"]["items"].items()}
        assert items[bj]["subscription"] == "both"
        for _ in range(50):
            if a.client_roster[bj].resources:
                break
            await asyncio.sleep(0.1)
        assert "s" in a.client_roster[bj].resources
        for c in (a, b):
            c.disconnect()
            await c.disconnected

    run(scenario())
