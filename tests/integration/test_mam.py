"""Message archive management (XEP-0313 urn:xmpp:mam:2, XEP-0059 RSM,
XEP-0359 stanza ids, XEP-0441 preferences) against a real parleyd."""

import time

import pytest

from conftest import PASSWORD, make_account
from harness.xmpp import NS_CLIENT, NS_DISCO_INFO, q, stanza_error, new_id

NS_MAM = "urn:xmpp:mam:2"
NS_RSM = "http://jabber.org/protocol/rsm"
NS_FWD = "urn:xmpp:forward:0"
NS_DELAY = "urn:xmpp:delay"
NS_SID = "urn:xmpp:sid:0"
MODULES = ("disco", "ping", "offline", "mam")


@pytest.fixture
def srv(server_factory):
    return server_factory(modules=MODULES)


def login(clients, s, user, presence=True):
    c = clients(s.c2s_port)
    c.login(user, PASSWORD, presence=presence)
    return c


def pair(clients, s):
    a_user, _ = make_account(s, prefix="a")
    b_user, _ = make_account(s, prefix="b")
    return login(clients, s, a_user), login(clients, s, b_user)


def form(**fields):
    out = ["<x xmlns='jabber:x:data' type='submit'>"
           "<field var='FORM_TYPE' type='hidden'><value>%s</value></field>" % NS_MAM]
    for k, v in fields.items():
        vals = v if isinstance(v, list) else [v]
        out.append("<field var='%s'>%s</field>" % (
            k.replace("_", "-"), "".join("<value>%s</value>" % x for x in vals)))
    out.append("</x>")
    return "".join(out)


def query(c, x="", rsm="", extra=""):
    """Runs a query; returns (iq reply, [(archive id, forwarded message, stamp)])."""
    qid = new_id()
    res = c.iq("set", "<query xmlns='%s' queryid='%s'>%s%s%s</query>" % (NS_MAM, qid, x, rsm, extra))
    results = []
    keep = []
    for el in c.pending:
        r = el.find(q(NS_MAM, "result")) if el.tag == q(NS_CLIENT, "message") else None
        if r is not None and r.get("queryid") == qid:
            fwd = r.find(q(NS_FWD, "forwarded"))
            results.append((r.get("id"), fwd.find(q(NS_CLIENT, "message")),
                            fwd.find(q(NS_DELAY, "delay")).get("stamp")))
        else:
            keep.append(el)
    c.pending = keep
    return res, results


def body(m):
    return m.find(q(NS_CLIENT, "body")).text


def fin_of(res):
    assert res.get("type") == "result", "query failed: %s" % stanza_error(res)
    fin = res.find(q(NS_MAM, "fin"))
    assert fin is not None
    s = fin.find(q(NS_RSM, "set"))
    first = s.find(q(NS_RSM, "first"))
    last = s.find(q(NS_RSM, "last"))
    return (fin.get("complete") == "true",
            first.text if first is not None else None,
            last.text if last is not None else None)


def exchange(a, b, texts):
    """a sends each text to b, b receives it; returns b's stanza ids."""
    ids = []
    for t in texts:
        a.send_message(b.jid.split("/")[0], body=t)
        m = b.expect_message(body=t)
        sid = m.find(q(NS_SID, "stanza-id"))
        assert sid is not None, "no <stanza-id/> on an archived message"
        assert sid.get("by") == b.jid.split("/")[0]
        ids.append(sid.get("id"))
    a.ping()                    # the sender's archive writes are queued before this
    return ids


def test_disco_features(srv, clients):
    a, _ = pair(clients, srv)
    res = a.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to=a.jid.split("/")[0])
    feats = [f.get("var") for f in res.iter(q(NS_DISCO_INFO, "feature"))]
    for f in (NS_MAM, NS_MAM + "#extended", NS_SID):
        assert f in feats


def test_archive_both_directions_and_stanza_id(srv, clients):
    a, b = pair(clients, srv)
    ids = exchange(a, b, ["hello", "there"])
    b.send_message(a.jid.split("/")[0], body="reply")
    a.expect_message(body="reply")
    b.ping()
    res, got = query(b)
    assert fin_of(res)[0] is True
    assert [body(m) for _, m, _ in got] == ["hello", "there", "reply"]
    # The id delivered with the message is the archive id (XEP-0313 §3.5).
    assert [i for i, _, _ in got[:2]] == ids
    assert got[2][1].get("to") == a.jid.split("/")[0]
    res, got_a = query(a)
    assert [body(m) for _, m, _ in got_a] == ["hello", "there", "reply"]
    assert len(set(i for i, _, _ in got_a)) == 3


def test_forged_stanza_id_stripped(srv, clients):
    a, b = pair(clients, srv)
    bare_b = b.jid.split("/")[0]
    a.send("<message to='%s' type='chat'><body>f</body>"
           "<stanza-id xmlns='%s' by='%s' id='forged'/></message>" % (bare_b, NS_SID, bare_b))
    m = b.expect_message(body="f")
    sids = [s for s in m.findall(q(NS_SID, "stanza-id")) if s.get("by") == bare_b]
    assert len(sids) == 1 and sids[0].get("id") != "forged"


def test_with_and_time_filters(srv, clients):
    a, b = pair(clients, srv)
    c_user, _ = make_account(srv, prefix="c")
    c = login(clients, srv, c_user)
    exchange(a, b, ["from a"])
    exchange(c, b, ["from c"])
    res, got = query(b, form(**{"with": c.jid.split("/")[0]}))
    assert [body(m) for _, m, _ in got] == ["from c"]
    res, got = query(b, form(**{"with": a.jid}))    # §4.1.1: that full JID exactly
    assert [body(m) for _, m, _ in got] == ["from a"]
    res, got = query(b, form(**{"with": a.jid.split("/")[0] + "/elsewhere"}))
    assert got == [] and fin_of(res)[0] is True
    res, all_ = query(b)
    stamp_c = all_[1][2]
    res, got = query(b, form(start=stamp_c))
    assert [body(m) for _, m, _ in got] == ["from c"]
    res, got = query(b, form(end=all_[0][2]))
    assert [body(m) for _, m, _ in got] == ["from a"]
    res, got = query(b, form(start="2999-01-01T00:00:00Z"))
    assert got == [] and fin_of(res)[0] is True
    res, _ = query(b, form(start="not a date"))
    assert stanza_error(res)[1] == "bad-request"


def test_paging_forward_and_backward(srv, clients):
    a, b = pair(clients, srv)
    texts = ["m%d" % i for i in range(7)]
    exchange(a, b, texts)
    seen, after = [], None
    for _ in range(10):
        rsm = "<set xmlns='%s'><max>3</max>%s</set>" % (
            NS_RSM, "<after>%s</after>" % after if after else "")
        res, got = query(b, rsm=rsm)
        complete, first, last = fin_of(res)
        assert len(got) <= 3
        seen += [body(m) for _, m, _ in got]
        if got:
            assert first == got[0][0] and last == got[-1][0]
        if complete:
            break
        after = last
    assert seen == texts
    # Backward from the end with <before/>.
    seen, before = [], ""
    for _ in range(10):
        res, got = query(b, rsm="<set xmlns='%s'><max>3</max><before>%s</before></set>"
                         % (NS_RSM, before))
        complete, first, last = fin_of(res)
        seen = [body(m) for _, m, _ in got] + seen
        if complete:
            break
        before = first
    assert seen == texts
    # ids and after-id/before-id (urn:xmpp:mam:2#extended).
    res, all_ = query(b)
    ids = [i for i, _, _ in all_]
    res, got = query(b, form(ids=[ids[5], ids[1]]))
    assert [body(m) for _, m, _ in got] == ["m1", "m5"]
    res, got = query(b, form(after_id=ids[1], before_id=ids[4]))
    assert [body(m) for _, m, _ in got] == ["m2", "m3"]
    res, got = query(b, rsm="<set xmlns='%s'><max>2</max></set>" % NS_RSM, extra="<flip-page/>")
    assert [body(m) for _, m, _ in got] == ["m1", "m0"]


@pytest.mark.parametrize("how", ["rsm-after", "rsm-before", "after-id", "ids"])
def test_unknown_id_item_not_found(srv, clients, how):
    a, b = pair(clients, srv)
    exchange(a, b, ["x"])
    if how == "rsm-after":
        res, got = query(b, rsm="<set xmlns='%s'><after>nope</after></set>" % NS_RSM)
    elif how == "rsm-before":
        res, got = query(b, rsm="<set xmlns='%s'><before>nope</before></set>" % NS_RSM)
    elif how == "after-id":
        res, got = query(b, form(after_id="nope"))
    else:
        res, got = query(b, form(ids=["nope"]))
    assert res.get("type") == "error"
    assert stanza_error(res)[:2] == ("cancel", "item-not-found")
    assert got == []


def test_other_archive_forbidden(srv, clients):
    a, b = pair(clients, srv)
    res = a.iq("set", "<query xmlns='%s'/>" % NS_MAM, to=b.jid.split("/")[0])
    assert res.get("type") == "error"
    assert stanza_error(res)[:2] == ("auth", "forbidden")


def test_prefs_round_trip_and_never(srv, clients):
    a, b = pair(clients, srv)
    res = b.iq("get", "<prefs xmlns='%s'/>" % NS_MAM)
    p = res.find(q(NS_MAM, "prefs"))
    assert p.get("default") == "always"
    bare_a = a.jid.split("/")[0]
    res = b.iq("set", "<prefs xmlns='%s' default='always'><always/><never><jid>%s</jid></never>"
               "</prefs>" % (NS_MAM, bare_a))
    assert res.get("type") == "result"
    res = b.iq("get", "<prefs xmlns='%s'/>" % NS_MAM)
    p = res.find(q(NS_MAM, "prefs"))
    assert [j.text for j in p.find(q(NS_MAM, "never"))] == [bare_a]
    assert p.find(q(NS_MAM, "always")) is not None
    # a is on b's never list: not archived by b, and no stanza-id claims it.
    a.send_message(b.jid.split("/")[0], body="secret")
    m = b.expect_message(body="secret")
    assert m.find(q(NS_SID, "stanza-id")) is None
    b.send_message(bare_a, body="secret reply")
    a.expect_message(body="secret reply")
    b.ping()
    res, got = query(b)
    assert got == []
    res, got = query(a)             # a's own archive keeps both
    assert [body(m) for _, m, _ in got] == ["secret", "secret reply"]
    res = b.iq("set", "<prefs xmlns='%s' default='sometimes'/>" % NS_MAM)
    assert stanza_error(res)[1] == "bad-request"


def test_prefs_persist_across_login(srv, clients):
    a, b = pair(clients, srv)
    b_user = b.jid.split("@")[0]
    res = b.iq("set", "<prefs xmlns='%s' default='never'/>" % NS_MAM)
    assert res.get("type") == "result"
    b.close()
    time.sleep(0.2)
    # Offline recipient, prefs not cached: decided from storage.
    a.send_message("%s@localhost" % b_user, body="while away")
    a.ping()
    settle()
    b2 = login(clients, srv, b_user)
    b2.expect_message(body="while away")
    res, got = query(b2)
    assert got == []
    res = b2.iq("get", "<prefs xmlns='%s'/>" % NS_MAM)
    assert res.find(q(NS_MAM, "prefs")).get("default") == "never"


def test_query_form_and_metadata(srv, clients):
    a, b = pair(clients, srv)
    res = b.iq("get", "<query xmlns='%s'/>" % NS_MAM)
    vars_ = [f.get("var") for f in res.iter("{jabber:x:data}field")]
    assert {"FORM_TYPE", "with", "start", "end", "after-id", "before-id", "ids"} <= set(vars_)
    res = b.iq("get", "<metadata xmlns='%s'/>" % NS_MAM)
    assert list(res.find(q(NS_MAM, "metadata"))) == []
    ids = exchange(a, b, ["1", "2", "3"])
    res = b.iq("get", "<metadata xmlns='%s'/>" % NS_MAM)
    md = res.find(q(NS_MAM, "metadata"))
    assert md.find(q(NS_MAM, "start")).get("id") == ids[0]
    assert md.find(q(NS_MAM, "end")).get("id") == ids[2]


def test_offline_message_archived_with_same_id(srv, clients):
    a_user, _ = make_account(srv, prefix="a")
    b_user, _ = make_account(srv, prefix="b")
    a = login(clients, srv, a_user)
    a.send_message("%s@localhost" % b_user, body="later")
    a.ping()
    settle()
    b = login(clients, srv, b_user)
    m = b.expect_message(body="later")
    sid = m.find(q(NS_SID, "stanza-id")).get("id")
    res, got = query(b)
    assert [i for i, _, _ in got] == [sid]


def test_retention(server_factory, clients):
    s = server_factory(start=False, modules=MODULES)
    s.write_config(s.config_text().replace("mam: {}", "mam: {retention: 2}"))
    s.start()
    a, b = pair(clients, s)
    exchange(a, b, ["old"])
    res, got = query(b)
    assert len(got) == 1
    deadline = time.monotonic() + 8
    while got and time.monotonic() < deadline:
        time.sleep(0.5)
        res, got = query(b)
    assert got == [], "retention did not expire the archived message"


# --- the stanza id agrees with the archiving decision (XEP-0313 §3.5) -------


def settle():
    """The ping above does not wait for the message's storage round trips
    (account, preferences, ban check, offline append).  A message whose
    offline append lands after the recipient's initial-presence flush was
    read stays stored until the next login (offline.c), so the recipient
    logs in once they are done."""
    time.sleep(0.4)


def logout(c):
    """Ends the stream and waits for the server's close (session unbound)."""
    from harness.xmpp import StreamClosed
    c.send("</stream:stream>")
    try:
        while True:
            c.next(timeout=5)
    except StreamClosed:
        pass


def set_default(c, default):
    res = c.iq("set", "<prefs xmlns='%s' default='%s'/>" % (NS_MAM, default))
    assert res.get("type") == "result", stanza_error(res)


def subscribe(a, b):
    """b approves a's subscription: b's roster holds a with 'from'."""
    bare_a, bare_b = a.jid.split("/")[0], b.jid.split("/")[0]
    a.send("<presence type='subscribe' to='%s'/>" % bare_b)
    b.expect(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("type") == "subscribe",
             what="subscription request")
    b.send("<presence type='subscribed' to='%s'/>" % bare_a)
    a.expect(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("type") == "subscribed",
             what="subscription approval")
    b.ping()


@pytest.mark.parametrize("default,contact,archived", [
    ("always", False, True),
    ("never", False, False),
    ("roster", False, False),
    ("roster", True, True),
])
def test_offline_stanza_id_only_when_archived(server_factory, clients, default, contact,
                                              archived):
    """The recipient is offline: its preferences are not cached and are
    read from storage (and its roster consulted for 'roster') BEFORE the
    message gets a <stanza-id by=recipient/>.  The offline message delivered
    at login carries one only when it is archived, and then a MAM query
    returns it under that id."""
    s = server_factory(modules=MODULES + ("roster",))
    a, b = pair(clients, s)
    bare_b = b.jid.split("/")[0]
    b_user = bare_b.split("@")[0]
    if contact:
        subscribe(a, b)
    set_default(b, default)
    logout(b)
    a.send_message(bare_b, body="while you were away")
    a.ping()
    settle()
    b2 = login(clients, s, b_user)
    m = b2.expect_message(body="while you were away")
    sids = [x for x in m.findall(q(NS_SID, "stanza-id")) if x.get("by") == bare_b]
    res, got = query(b2)
    assert fin_of(res)[0] is True
    if archived:
        assert len(sids) == 1, "an archived offline message has no stanza-id"
        assert [i for i, _, _ in got] == [sids[0].get("id")]
    else:
        assert sids == [], "a stanza-id names a message that is not archived"
        assert got == []


def test_online_roster_default_stanza_id_only_when_archived(server_factory, clients):
    """default='roster', recipient online (preferences cached): the roster
    decides before the stanza id is added."""
    s = server_factory(modules=MODULES + ("roster",))
    a, b = pair(clients, s)
    c_user, _ = make_account(s, prefix="c")
    c = login(clients, s, c_user)
    bare_b = b.jid.split("/")[0]
    subscribe(a, b)
    set_default(b, "roster")
    a.send_message(bare_b, body="from a contact")
    m = b.expect_message(body="from a contact")
    sid = m.find(q(NS_SID, "stanza-id"))
    assert sid is not None and sid.get("by") == bare_b
    c.send_message(bare_b, body="from a stranger")
    m = b.expect_message(body="from a stranger")
    assert m.find(q(NS_SID, "stanza-id")) is None
    res, got = query(b)
    assert [(i, body(x)) for i, x, _ in got] == [(sid.get("id"), "from a contact")]


def count_of(res):
    return int(res.find(q(NS_MAM, "fin")).find(q(NS_RSM, "set")).find(q(NS_RSM, "count")).text)


def test_with_full_jid_matches_that_resource_only(srv, clients):
    """XEP-0313 §4.1.1: a full JID in 'with' returns only the messages to
    or from that full JID; a bare JID returns those of every resource."""
    a_user, _ = make_account(srv, prefix="a")
    b_user, _ = make_account(srv, prefix="b")
    a1 = clients(srv.c2s_port)
    a1.login(a_user, PASSWORD, resource="one", presence=True)
    a2 = clients(srv.c2s_port)
    a2.login(a_user, PASSWORD, resource="two", presence=True)
    b = login(clients, srv, b_user)
    bare_a, bare_b = a1.jid.split("/")[0], b.jid.split("/")[0]
    exchange(a1, b, ["one-1"])
    exchange(a2, b, ["two-1"])
    exchange(a1, b, ["one-2"])
    b.send_message(a1.jid, body="to one")           # outgoing, to the full JID
    a1.expect_message(body="to one")
    b.send_message(a2.jid, body="to two")
    a2.expect_message(body="to two")
    b.send_message(bare_a, body="to the bare JID")  # not to/from any full JID
    b.ping()
    res, got = query(b, form(**{"with": a1.jid}))
    assert [body(m) for _, m, _ in got] == ["one-1", "one-2", "to one"]
    assert fin_of(res)[0] is True and count_of(res) == 3
    res, got = query(b, form(**{"with": a2.jid}))
    assert [body(m) for _, m, _ in got] == ["two-1", "to two"]
    res, got = query(b, form(**{"with": bare_a}))
    assert len(got) == 6
    # Paging within the full-JID result set: pages and count are its own.
    res, got = query(b, form(**{"with": a1.jid}), rsm="<set xmlns='%s'><max>2</max></set>"
                     % NS_RSM)
    complete, first, last = fin_of(res)
    assert [body(m) for _, m, _ in got] == ["one-1", "one-2"]
    assert complete is False and count_of(res) == 3
    res, got = query(b, form(**{"with": a1.jid}),
                     rsm="<set xmlns='%s'><max>2</max><after>%s</after></set>" % (NS_RSM, last))
    assert [body(m) for _, m, _ in got] == ["to one"]
    assert fin_of(res)[0] is True and count_of(res) == 3
    res, got = query(b, form(**{"with": a1.jid}),
                     rsm="<set xmlns='%s'><max>1</max><before/></set>" % NS_RSM)
    assert [body(m) for _, m, _ in got] == ["to one"]
    assert fin_of(res)[0] is False
    # a's archive: b sent everything from its full JID; a wrote to b's
    # bare JID, so those rows match only the bare 'with'.
    res, got = query(a1, form(**{"with": b.jid}))
    assert [body(m) for _, m, _ in got] == ["to one", "to two", "to the bare JID"]
    res, got = query(a1, form(**{"with": bare_b}))
    assert len(got) == 6
    res, got = query(a1, form(**{"with": bare_b + "/nope"}))
    assert got == []
