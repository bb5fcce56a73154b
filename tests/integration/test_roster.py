"""Roster management (RFC 6121 §2): get, set, push to interested resources
(§2.1.6, §2.2), update and removal (§2.4, §2.5), the error cases of
§2.3.3, the stream features of §2.6.1 and §3.4, and roster versioning
(§2.6, XEP-0237)."""

import pytest

from conftest import PASSWORD, make_account
from harness import server as srv
from harness.xmpp import (NS_CLIENT, NS_SASL, RawClient, q, stanza_error, tostr,
                          unique)

NS_ROSTER = "jabber:iq:roster"
QUIET = 1.0
MODULES = ("disco", "ping", "roster")


@pytest.fixture(scope="module")
def server(request, cert):
    s = srv.ParleyServer("test_roster", cert, modules=MODULES)
    s.start()
    yield s
    s.check_stop()


def item_xml(jid, name=None, groups=(), subscription=None, extra=""):
    attrs = " jid='%s'" % jid
    if name is not None:
        attrs += " name='%s'" % name
    if subscription is not None:
        attrs += " subscription='%s'" % subscription
    return "<item%s>%s%s</item>" % (attrs, "".join("<group>%s</group>" % g for g in groups),
                                     extra)


def roster_set(c, jid, **kw):
    return c.iq("set", "<query xmlns='%s'>%s</query>" % (NS_ROSTER, item_xml(jid, **kw)))


def roster_get(c, ver=None):
    v = "" if ver is None else " ver='%s'" % ver
    el = c.iq("get", "<query xmlns='%s'%s/>" % (NS_ROSTER, v))
    assert el.get("type") == "result", tostr(el)
    return el


def items_of(el):
    qe = el.find(q(NS_ROSTER, "query"))
    return {i.get("jid"): i for i in qe.findall(q(NS_ROSTER, "item"))}


def is_push(jid=None):
    def pred(e):
        if e.tag != q(NS_CLIENT, "iq") or e.get("type") != "set":
            return False
        qe = e.find(q(NS_ROSTER, "query"))
        if qe is None:
            return False
        it = qe.find(q(NS_ROSTER, "item"))
        return jid is None or (it is not None and it.get("jid") == jid)
    return pred


def expect_push(c, jid=None):
    """Waits for a roster push; checks §2.1.6 (one item, from the bare JID
    or no 'from'); answers it; returns (item, ver)."""
    p = c.expect(is_push(jid), what="roster push for %s" % jid)
    assert p.get("from") in (None, c.jid.split("/")[0]), tostr(p)
    qe = p.find(q(NS_ROSTER, "query"))
    items = qe.findall(q(NS_ROSTER, "item"))
    assert len(items) == 1, tostr(p)
    c.send("<iq type='result' id='%s'/>" % p.get("id"))
    return items[0], qe.get("ver")


def groups_of(it):
    return sorted(g.text for g in it.findall(q(NS_ROSTER, "group")))


def login(server, clients, user, resource, presence=None, roster=True):
    c = clients(server.c2s_port)
    c.login(user, PASSWORD, resource=resource, presence=presence)
    if roster:
        roster_get(c)
    return c


def test_rfc6121_2_6_1_and_3_4_stream_features(server, clients):
    user, pw = make_account(server)
    c = clients(server.c2s_port)
    c.negotiate_tls()
    feats = c.authenticate(user, pw)
    assert feats.find(q("urn:xmpp:features:rosterver", "ver")) is not None, tostr(feats)
    assert feats.find(q("urn:xmpp:features:pre-approval", "sub")) is not None, tostr(feats)


def test_rfc6121_2_1_4_empty_roster(server, clients):
    user, _ = make_account(server)
    c = login(server, clients, user, "r", roster=False)
    el = roster_get(c)
    qe = el.find(q(NS_ROSTER, "query"))
    assert qe is not None and len(qe) == 0, tostr(el)
    assert qe.get("ver"), "§2.6.3: the result carries 'ver'"


def test_rfc6121_2_3_add_pushes_to_interested_resources_only(server, clients):
    user, _ = make_account(server)
    a = login(server, clients, user, "a")
    b = login(server, clients, user, "b", presence=True)
    c = login(server, clients, user, "c", roster=False, presence=True)   # not interested
    contact = "%s@localhost" % unique("nurse")
    el = roster_set(a, contact, name="Nurse", groups=("Servants", "Staff"))
    assert el.get("type") == "result", tostr(el)
    assert el.find(q(NS_ROSTER, "query")) is None
    for x in (a, b):
        it, ver = expect_push(x, contact)
        assert it.get("name") == "Nurse"
        assert it.get("subscription") == "none"
        assert it.get("ask") is None and it.get("approved") is None
        assert groups_of(it) == ["Servants", "Staff"]
        assert ver
    c.expect_nothing(is_push(), timeout=QUIET)
    items = items_of(roster_get(c))
    assert set(items) == {contact}
    assert items[contact].get("name") == "Nurse"


def test_rfc6121_2_4_update_replaces_item(server, clients):
    user, _ = make_account(server)
    a = login(server, clients, user, "a")
    contact = "%s@localhost" % unique("romeo")
    roster_set(a, contact, name="Romeo", groups=("Friends",))
    expect_push(a, contact)
    roster_set(a, contact, name="MyRomeo", groups=("Lovers",))
    it, _ = expect_push(a, contact)
    assert it.get("name") == "MyRomeo" and groups_of(it) == ["Lovers"]
    # §2.4.1: an empty name is no name; no <group/> is no group.
    el = roster_set(a, contact, name="")
    assert el.get("type") == "result"
    it, _ = expect_push(a, contact)
    assert it.get("name") is None and groups_of(it) == []


def test_rfc6121_2_5_remove(server, clients):
    user, _ = make_account(server)
    a = login(server, clients, user, "a")
    b = login(server, clients, user, "b")
    contact = "%s@localhost" % unique("nurse")
    roster_set(a, contact)
    expect_push(a, contact)
    expect_push(b, contact)
    el = roster_set(a, contact, subscription="remove")
    assert el.get("type") == "result", tostr(el)
    for x in (a, b):
        it, _ = expect_push(x, contact)
        assert it.get("subscription") == "remove"
    assert contact not in items_of(roster_get(a))
    # §2.5.3: removing an item that is not there.
    el = roster_set(a, contact, subscription="remove")
    assert stanza_error(el)[:2] == ("modify", "item-not-found"), tostr(el)


@pytest.mark.parametrize("payload,want", [
    # §2.3.3 bad-request 1: more than one item.
    ("<item jid='a@localhost'/><item jid='b@localhost'/>", ("modify", "bad-request")),
    # §2.3.3 bad-request 2: duplicate groups.
    ("<item jid='a@localhost'><group>X</group><group>X</group></item>", ("modify", "bad-request")),
    # §2.3.3 not-acceptable 2: an empty group.
    ("<item jid='a@localhost'><group></group></item>", ("modify", "not-acceptable")),
    # §2.1.2.3: 'jid' is required.
    ("<item name='x'/>", ("modify", "bad-request")),
    ("<item jid='a@@b'/>", ("modify", "jid-malformed")),
    ("", ("modify", "bad-request")),
])
def test_rfc6121_2_3_3_set_errors(server, clients, payload, want):
    user, _ = make_account(server)
    a = login(server, clients, user, "a")
    el = a.iq("set", "<query xmlns='%s'>%s</query>" % (NS_ROSTER, payload))
    assert el.get("type") == "error", tostr(el)
    t, cond, text = stanza_error(el)
    assert (t, cond) == want, tostr(el)
    assert text, "every refusal carries a <text/>"
    a.expect_nothing(is_push(), timeout=0.3)


def test_rfc6121_2_3_3_own_jid_and_get_with_items(server, clients):
    user, _ = make_account(server)
    a = login(server, clients, user, "a")
    el = roster_set(a, "%s@localhost" % user)
    assert stanza_error(el)[:2] == ("modify", "not-allowed"), tostr(el)
    el = a.iq("get", "<query xmlns='%s'><item jid='x@localhost'/></query>" % NS_ROSTER)
    assert stanza_error(el)[:2] == ("modify", "bad-request"), tostr(el)


def test_rfc6121_2_1_5_forbidden_for_others(server, clients):
    user, _ = make_account(server)
    other, _ = make_account(server)
    a = login(server, clients, user, "a")
    el = a.iq("set", "<query xmlns='%s'>%s</query>" % (NS_ROSTER, item_xml("x@localhost")),
              to="%s@localhost" % other)
    assert stanza_error(el)[:2] == ("auth", "forbidden"), tostr(el)
    el = a.iq("get", "<query xmlns='%s'/>" % NS_ROSTER, to="%s@localhost" % other)
    assert stanza_error(el)[:2] == ("auth", "forbidden"), tostr(el)


def test_rfc6121_2_3_3_configured_limits(server_factory, clients):
    s = server_factory(modules=MODULES, start=False)
    s.write_config(s.config_text().replace(
        "roster: {}", "roster: {max_items: 2, max_name_length: 10, max_group_length: 5}"))
    s.start()
    user, _ = make_account(s)
    a = login(s, clients, user, "a")
    el = roster_set(a, "n@localhost", name="x" * 11)
    assert stanza_error(el)[:2] == ("modify", "not-acceptable"), tostr(el)
    el = roster_set(a, "n@localhost", groups=("g" * 6,))
    assert stanza_error(el)[:2] == ("modify", "not-acceptable"), tostr(el)
    assert roster_set(a, "n@localhost", name="x" * 10, groups=("g" * 5,)).get("type") == "result"
    assert roster_set(a, "m@localhost").get("type") == "result"
    el = roster_set(a, "o@localhost")
    assert stanza_error(el)[:2] == ("cancel", "not-allowed"), tostr(el)
    # Updating an existing item is still allowed at the limit.
    assert roster_set(a, "m@localhost", name="M").get("type") == "result"


def test_rfc6121_2_stored_across_sessions(server, clients):
    user, _ = make_account(server)
    a = login(server, clients, user, "a")
    contact = "%s@localhost" % unique("c")
    roster_set(a, contact, name="Kept", groups=("G",))
    expect_push(a, contact)
    a.close()
    b = login(server, clients, user, "b", roster=False)
    items = items_of(roster_get(b))
    assert items[contact].get("name") == "Kept" and groups_of(items[contact]) == ["G"]


def test_rfc6121_2_6_versioning(server, clients):
    user, _ = make_account(server)
    a = login(server, clients, user, "a", roster=False)
    v0 = roster_get(a).find(q(NS_ROSTER, "query")).get("ver")
    x, y, z = ("%s@localhost" % unique(p) for p in "xyz")
    roster_set(a, x)
    _, v1 = expect_push(a, x)
    roster_set(a, y)
    _, v2 = expect_push(a, y)
    assert len({v0, v1, v2}) == 3, "each change has its own version"
    # §2.6.3: the client's version is current: an empty result, no pushes.
    el = a.iq("get", "<query xmlns='%s' ver='%s'/>" % (NS_ROSTER, v2))
    assert el.get("type") == "result" and len(el) == 0, tostr(el)
    a.expect_nothing(is_push(), timeout=QUIET)
    a.close()
    # Changes while the client with v2 is away.
    b = login(server, clients, user, "b", roster=False)
    roster_set(b, x, subscription="remove")
    roster_set(b, z, name="Zed")
    b.close()
    c = login(server, clients, user, "c", roster=False)
    el = c.iq("get", "<query xmlns='%s' ver='%s'/>" % (NS_ROSTER, v2))
    assert el.get("type") == "result" and len(el) == 0, tostr(el)
    it1, v3 = expect_push(c, x)
    assert it1.get("subscription") == "remove"
    it2, v4 = expect_push(c, z)
    assert it2.get("name") == "Zed"
    assert int(v3) < int(v4), "interim pushes come in the order of the changes"
    c.expect_nothing(is_push(y), timeout=QUIET)
    # An empty version (bootstrap) or an unknown one: the whole roster.
    for ver in ("", "garbage", "999999"):
        el = roster_get(c, ver=ver)
        qe = el.find(q(NS_ROSTER, "query"))
        assert qe is not None and set(items_of(el)) == {y, z}, tostr(el)
        assert qe.get("ver") == v4
