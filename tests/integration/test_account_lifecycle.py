"""Account deletion and server shutdown, end to end.

Deletion (HOOK_ACCOUNT_DELETED, XEP-0077 §3.2): whichever path deletes an
account (parleyctl unregister, XEP-0077 <remove/>), its subscriptions are
cancelled towards its contacts, and what modules cached for it (blocklist,
ban state) does not apply to an account created again under the same name.

Shutdown: sessions still open at SIGTERM are unbound while storage is open
(the roster keeps the last unavailable presence), and messages stream
management re-routes as the sessions end reach offline storage; a message
re-routed after a resumption timeout is archived once (XEP-0313, XEP-0198
§4)."""

import time

import pytest

from conftest import PASSWORD, make_account
from harness.xmpp import NS_CLIENT, q, stanza_error, tostr

from test_roster import expect_push, roster_get
from test_sm import SMClient, set_module_options
from test_subscriptions import bare, is_pres, login, mutual, subscribe_approved

NS_REGISTER = "jabber:iq:register"
NS_BLOCKING = "urn:xmpp:blocking"
NS_LAST = "jabber:iq:last"
NS_DELAY = "urn:xmpp:delay"
NS_SID = "urn:xmpp:sid:0"
NS_MAM = "urn:xmpp:mam:2"
NS_FWD = "urn:xmpp:forward:0"

MODULES = ("disco", "ping", "roster", "blocking", "register", "offline", "last",
           "adhoc", "mam", "stream_management")


@pytest.fixture
def server(server_factory):
    return server_factory(modules=MODULES)


def is_msg(body):
    def pred(e):
        b = e.find(q(NS_CLIENT, "body"))
        return e.tag == q(NS_CLIENT, "message") and b is not None and b.text == body
    return pred


def assert_cancelled(b, gone):
    """b (online, roster requested) learns that 'gone' cancelled both
    directions: the notifications and a push ending at subscription none."""
    b.expect(is_pres(gone, "unsubscribe"))
    b.expect(is_pres(gone, "unsubscribed"))
    deadline = time.monotonic() + 5
    sub = None
    while sub != "none" and time.monotonic() < deadline:
        it, _ = expect_push(b, gone)
        sub = it.get("subscription")
    assert sub == "none"
    items = roster_get(b).find(q("jabber:iq:roster", "query"))
    left = {i.get("jid"): i.get("subscription") for i in items}
    assert left.get(gone) == "none", left


# --- deletion -------------------------------------------------------------------------


def test_unregister_cancels_subscriptions_of_contacts(server, clients):
    ua, _ = make_account(server, prefix="a")
    ub, _ = make_account(server, prefix="b")
    a = login(server, clients, ua)
    b = login(server, clients, ub)
    mutual(a, b)
    cp = server.ctl("unregister", ua, "localhost")
    assert cp.returncode == 0, cp.stderr
    assert_cancelled(b, bare(a))


def test_xep0077_remove_cancels_subscriptions_of_contacts(server, clients):
    ua, _ = make_account(server, prefix="a")
    ub, _ = make_account(server, prefix="b")
    a = login(server, clients, ua)
    b = login(server, clients, ub)
    subscribe_approved(b, a)        # b sees a's presence (a has 'from')
    res = a.iq("set", "<query xmlns='%s'><remove/></query>" % NS_REGISTER)
    assert res.get("type") == "result", tostr(res)
    # §3.2.2: a's presence ends before the subscription does.
    b.expect(is_pres(a.jid, "unavailable"))
    b.expect(is_pres(bare(a), "unsubscribed"))
    it, _ = expect_push(b, bare(a))
    assert it.get("subscription") == "none", tostr(it)


def test_offline_account_unregistered_contacts_updated(server, clients):
    """The deleted account has no session: its roster is read from
    storage before the deletion."""
    ua, _ = make_account(server, prefix="a")
    ub, _ = make_account(server, prefix="b")
    a = login(server, clients, ua)
    b = login(server, clients, ub)
    mutual(a, b)
    a.close()
    b.expect(is_pres(a.jid, "unavailable"))
    time.sleep(0.3)                 # the roster sweep forgets a's roster
    cp = server.ctl("unregister", ua, "localhost")
    assert cp.returncode == 0, cp.stderr
    assert_cancelled(b, "%s@localhost" % ua)


def test_recreated_account_not_judged_by_old_blocklist(server, clients):
    ua, _ = make_account(server, prefix="a")
    uc, _ = make_account(server, prefix="c")
    c = login(server, clients, uc, roster=False)
    a = login(server, clients, ua, roster=False)
    res = a.iq("set", "<block xmlns='%s'><item jid='%s'/></block>" % (NS_BLOCKING, bare(c)))
    assert res.get("type") == "result", tostr(res)
    a.close()
    time.sleep(0.2)
    # a has no session: the list is cached for it, and c is refused.
    c.send_message("%s@localhost" % ua, body="blocked", id_="m1")
    err = c.expect(lambda e: e.get("id") == "m1")
    assert err.get("type") == "error" and stanza_error(err)[1] == "service-unavailable"
    assert server.ctl("unregister", ua, "localhost").returncode == 0
    server.register(ua, PASSWORD)
    c.send_message("%s@localhost" % ua, body="welcome back", id_="m2")
    c.expect_nothing(lambda e: e.get("id") == "m2", timeout=1.0)
    a2 = login(server, clients, ua, roster=False)
    a2.expect(is_msg("welcome back"))


def test_recreated_account_not_judged_by_old_ban(server, clients):
    ua, _ = make_account(server, prefix="a")
    uc, _ = make_account(server, prefix="c")
    c = login(server, clients, uc, roster=False)
    cp = server.ctl("ban_account", ua, "localhost", "spam")
    assert cp.returncode == 0, cp.stderr
    c.send_message("%s@localhost" % ua, body="to banned", id_="m1")
    err = c.expect(lambda e: e.get("id") == "m1")
    assert err.get("type") == "error" and stanza_error(err)[1] == "service-unavailable"
    assert server.ctl("unregister", ua, "localhost").returncode == 0
    server.register(ua, PASSWORD)
    c.send_message("%s@localhost" % ua, body="fresh start", id_="m2")
    c.expect_nothing(lambda e: e.get("id") == "m2", timeout=1.0)
    a = login(server, clients, ua, roster=False)
    a.expect(is_msg("fresh start"))


# --- shutdown ---------------------------------------------------------------------------


def restart(server):
    problems = server.stop()
    assert not problems, "%s\n%s" % (problems, server.log_tail())
    server.start()


def test_last_presence_and_activity_kept_across_stop_with_session_open(server, clients):
    ua, _ = make_account(server, prefix="a")
    ub, _ = make_account(server, prefix="b")
    a = login(server, clients, ua)
    b = login(server, clients, ub)
    subscribe_approved(b, a)
    b.close()
    time.sleep(0.2)
    restart(server)                 # a's session is still open at SIGTERM
    a.close()
    b = clients(server.c2s_port)
    b.login(ub, PASSWORD, resource="r")
    roster_get(b)
    b.send_presence()
    # §4.3.2 rule 3: the probe answer carries the last unavailable
    # presence's time, saved when the server stopped.
    p = b.expect(is_pres(bare(a), "unavailable"))
    d = p.find(q(NS_DELAY, "delay"))
    assert d is not None and d.get("stamp"), tostr(p)
    res = b.iq("get", "<query xmlns='%s'/>" % NS_LAST, to=bare(a))
    assert res.get("type") == "result", tostr(res)


def sm_client(server, user, resume=True):
    c = SMClient(server.c2s_port)
    c.login(user, PASSWORD, resource="phone", presence=True)
    el = c.enable(resume=resume)
    assert el.get("id") or not resume, tostr(el)
    c.auto_ack = False
    return c


def test_unacked_message_reaches_offline_storage_at_shutdown(server, clients):
    ua, _ = make_account(server, prefix="a")
    ub, _ = make_account(server, prefix="b")
    a = sm_client(server, ua)
    b = clients(server.c2s_port)
    b.login(ub, PASSWORD, resource="b")
    b.send_message("%s@localhost" % ua, body="in flight")
    a.expect(is_msg("in flight"))   # never acknowledged
    b.close()
    restart(server)
    a.close()
    a2 = clients(server.c2s_port)
    a2.login(ua, PASSWORD, presence=True)
    m = a2.expect(is_msg("in flight"))
    assert m.find(q(NS_DELAY, "delay")) is not None, tostr(m)


def test_rerouted_message_archived_once(server_factory, clients):
    s = server_factory(modules=MODULES, start=False)
    set_module_options(s, "stream_management", {"resume_timeout": 2})
    s.start()
    ua, _ = make_account(s, prefix="a")
    ub, _ = make_account(s, prefix="b")
    a = sm_client(s, ua)
    b = clients(s.c2s_port)
    b.login(ub, PASSWORD, resource="b")
    b.send_message("%s@localhost" % ua, body="once")
    first = a.expect(is_msg("once"))
    assert len(first.findall(q(NS_SID, "stanza-id"))) == 1, tostr(first)
    a.drop()                        # gone without acking; hibernates, times out
    time.sleep(3.5)
    a2 = clients(s.c2s_port)
    a2.login(ua, PASSWORD, presence=True)
    m = a2.expect(is_msg("once"))   # from offline storage
    sids = m.findall(q(NS_SID, "stanza-id"))
    assert len(sids) == 1, tostr(m)
    res = a2.iq("set", "<query xmlns='%s' queryid='q1'/>" % NS_MAM)
    assert res.get("type") == "result", tostr(res)
    got = []
    for el in a2.pending:
        r = el.find(q(NS_MAM, "result")) if el.tag == q(NS_CLIENT, "message") else None
        if r is not None and r.get("queryid") == "q1":
            fm = r.find(q(NS_FWD, "forwarded")).find(q(NS_CLIENT, "message"))
            got.append((r.get("id"), fm.find(q(NS_CLIENT, "body")).text))
    assert got == [(sids[0].get("id"), "once")], got
