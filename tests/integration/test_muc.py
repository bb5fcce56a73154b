"""XEP-0045 multi-user chat at conference.localhost, driven with raw XML
so that status codes and error conditions are checked exactly.

Covers the use-case groups: occupant (§7: enter, errors, history, subject,
groupchat, PMs, nick change, exit, invitations), moderator (§8: kick, voice,
subject), admin (§9: ban, members-only), owner (§10: instant and reserved
rooms, configuration, last owner, destruction), persistence across a
restart, the room archive (XEP-0313) and self-ping (XEP-0410)."""

import pytest

from conftest import PASSWORD, make_account
from harness import server as srv
from harness.xmpp import q, stanza_error, unique

MUC = "http://jabber.org/protocol/muc"
USER = "http://jabber.org/protocol/muc#user"
ADMIN = "http://jabber.org/protocol/muc#admin"
OWNER = "http://jabber.org/protocol/muc#owner"
XDATA = "jabber:x:data"
CLIENT = "jabber:client"
SERVICE = "conference.localhost"
MODULES = srv.ALL_MODULES + ("muc",)


@pytest.fixture(scope="module")
def server(request, cert):
    s = srv.ParleyServer("test_muc", cert, modules=MODULES)
    s.start()
    yield s
    s.check_stop()


def user(server, clients, resource="r"):
    u, p = make_account(server)
    c = clients(server.c2s_port)
    c.login(u, p, resource=resource, presence=True)
    return c


def codes(el):
    x = el.find(q(USER, "x"))
    return set() if x is None else {s.get("code") for s in x.findall(q(USER, "status"))}


def item(el):
    return el.find("%s/%s" % (q(USER, "x"), q(USER, "item")))


def is_pres(frm=None, type_=None):
    def pred(e):
        return (e.tag == q(CLIENT, "presence") and (frm is None or e.get("from") == frm)
                and e.get("type") == type_)
    return pred


def join(c, room, nick, x="<x xmlns='%s'/>" % MUC, expect_ok=True):
    c.send("<presence to='%s@%s/%s'>%s</presence>" % (room, SERVICE, nick, x))
    if not expect_ok:
        return c.expect(lambda e: e.tag == q(CLIENT, "presence") and e.get("type") == "error")
    own = c.expect(lambda e: e.tag == q(CLIENT, "presence") and e.get("type") is None
                   and "110" in codes(e))
    subj = c.expect(lambda e: e.tag == q(CLIENT, "message") and e.find(q(CLIENT, "subject")) is not None)
    return own, subj


def instant(c, room, nick="owner"):
    own, _ = join(c, room, nick)
    assert {"110", "201"} <= codes(own)
    assert item(own).get("affiliation") == "owner" and item(own).get("role") == "moderator"
    r = c.iq("set", "<query xmlns='%s'><x xmlns='%s' type='submit'/></query>" % (OWNER, XDATA),
             to="%s@%s" % (room, SERVICE))
    assert r.get("type") == "result"
    return own


def configure(c, room, fields):
    f = "".join("<field var='%s'>%s</field>" % (k, "".join("<value>%s</value>" % v for v in (vs if isinstance(vs, list) else [vs])))
                for k, vs in fields.items())
    form = ("<x xmlns='%s' type='submit'><field var='FORM_TYPE'><value>"
            "http://jabber.org/protocol/muc#roomconfig</value></field>%s</x>" % (XDATA, f))
    return c.iq("set", "<query xmlns='%s'>%s</query>" % (OWNER, form), to="%s@%s" % (room, SERVICE))


def err_cond(el):
    t, cond = stanza_error(el)[:2]
    return t, cond


def test_instant_room_enter_talk_exit(server, clients):
    a, b = user(server, clients), user(server, clients)
    room = unique("room")
    instant(a, room, "alice")
    own, subj = join(b, room, "bob")
    # §7.2.3: bob sees alice first, then himself with 110; alice sees bob.
    assert item(own).get("role") == "participant"
    assert subj.find(q(CLIENT, "subject")).text in (None, "")
    p = a.expect(is_pres("%s@%s/bob" % (room, SERVICE)))
    assert item(p).get("jid") == b.jid        # alice moderates: sees real JIDs
    b.send("<message to='%s@%s' type='groupchat' id='m1'><body>hello</body></message>" % (room, SERVICE))
    for c in (a, b):
        m = c.expect_message("hello", type_="groupchat")
        assert m.get("from") == "%s@%s/bob" % (room, SERVICE)
        sid = m.find(q("urn:xmpp:sid:0", "stanza-id"))
        assert sid is not None and sid.get("by") == "%s@%s" % (room, SERVICE)
        assert m.find(q("urn:xmpp:occupant-id:0", "occupant-id")) is not None
    b.send("<presence to='%s@%s/bob' type='unavailable'/>" % (room, SERVICE))
    p = b.expect(is_pres("%s@%s/bob" % (room, SERVICE), "unavailable"))
    assert "110" in codes(p)
    a.expect(is_pres("%s@%s/bob" % (room, SERVICE), "unavailable"))


def test_locked_room_and_entry_errors(server, clients):
    a, b, c = user(server, clients), user(server, clients), user(server, clients)
    room = unique("room")
    join(a, room, "alice")
    # §10.1.1: locked until configured.
    e = join(b, room, "bob", expect_ok=False)
    assert err_cond(e) == ("cancel", "item-not-found")
    r = configure(a, room, {"muc#roomconfig_passwordprotectedroom": "1",
                            "muc#roomconfig_roomsecret": "pw"})
    assert r.get("type") == "result"
    e = join(b, room, "bob", expect_ok=False)
    assert err_cond(e) == ("auth", "not-authorized")            # §7.2.5
    join(b, room, "bob", x="<x xmlns='%s'><password>pw</password></x>" % MUC)
    e = join(c, room, "bob", x="<x xmlns='%s'><password>pw</password></x>" % MUC, expect_ok=False)
    assert err_cond(e) == ("cancel", "conflict")                # §7.2.9
    e = join(c, room, "", expect_ok=False) if False else None
    c.send("<presence to='%s@%s'><x xmlns='%s'/></presence>" % (room, SERVICE, MUC))
    e = c.expect(is_pres(type_="error"))
    assert err_cond(e) == ("modify", "jid-malformed")           # §7.2.1
    r = configure(a, room, {"muc#roomconfig_membersonly": "1"})
    assert r.get("type") == "result"
    # bob is no member: removed with 322 when the room became members-only.
    p = b.expect(is_pres("%s@%s/bob" % (room, SERVICE), "unavailable"))
    assert "322" in codes(p)
    e = join(c, room, "carol", x="<x xmlns='%s'><password>pw</password></x>" % MUC, expect_ok=False)
    assert err_cond(e) == ("auth", "registration-required")     # §7.2.6


def test_not_occupant_and_pm(server, clients):
    a, b, c = user(server, clients), user(server, clients), user(server, clients)
    room = unique("room")
    instant(a, room, "alice")
    join(b, room, "bob")
    c.send("<message to='%s@%s' type='groupchat' id='x'><body>hi</body></message>" % (room, SERVICE))
    e = c.expect_message(type_="error")
    assert err_cond(e) == ("modify", "not-acceptable")
    b.send("<message to='%s@%s/alice' type='chat' id='p'><body>psst</body></message>" % (room, SERVICE))
    m = a.expect_message("psst", type_="chat")
    assert m.get("from") == "%s@%s/bob" % (room, SERVICE)
    b.send("<message to='%s@%s/nobody' type='chat' id='p2'><body>psst</body></message>" % (room, SERVICE))
    assert err_cond(b.expect_message(type_="error")) == ("cancel", "item-not-found")
    b.send("<message to='%s@%s/alice' type='groupchat' id='p3'><body>x</body></message>" % (room, SERVICE))
    assert err_cond(b.expect_message(type_="error")) == ("modify", "bad-request")
    # XEP-0410 self-ping.
    assert b.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="%s@%s/bob" % (room, SERVICE)).get("type") == "result"
    r = c.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to="%s@%s/bob" % (room, SERVICE))
    assert err_cond(r) == ("cancel", "not-acceptable")
    # §7.8.2 mediated invitation.
    b.send("<message to='%s@%s'><x xmlns='%s'><invite to='%s'><reason>join us</reason></invite></x></message>"
           % (room, SERVICE, USER, c.jid))
    m = c.expect(lambda e: e.tag == q(CLIENT, "message") and e.find(q(USER, "x")) is not None)
    inv = m.find("%s/%s" % (q(USER, "x"), q(USER, "invite")))
    assert m.get("from") == "%s@%s" % (room, SERVICE) and inv.get("from") == b.jid.split("/")[0]
    # §7.6 nickname change: 303 with the new nick.
    b.send("<presence to='%s@%s/robert'/>" % (room, SERVICE))
    p = a.expect(is_pres("%s@%s/bob" % (room, SERVICE), "unavailable"))
    assert "303" in codes(p) and item(p).get("nick") == "robert"
    a.expect(is_pres("%s@%s/robert" % (room, SERVICE)))


def test_kick_ban_roles(server, clients):
    a, b, c = user(server, clients), user(server, clients), user(server, clients)
    room = unique("room")
    rj = "%s@%s" % (room, SERVICE)
    instant(a, room, "alice")
    join(b, room, "bob")
    join(c, room, "carol")
    # A participant may not kick (§8.2: forbidden).
    r = b.iq("set", "<query xmlns='%s'><item nick='carol' role='none'/></query>" % ADMIN, to=rj)
    assert err_cond(r) == ("auth", "forbidden")
    # Nor kick the owner, even as a moderator granted by the owner.
    r = a.iq("set", "<query xmlns='%s'><item nick='bob' role='moderator'/></query>" % ADMIN, to=rj)
    assert r.get("type") == "result"
    r = b.iq("set", "<query xmlns='%s'><item nick='alice' role='none'/></query>" % ADMIN, to=rj)
    assert err_cond(r) == ("cancel", "not-allowed")
    r = b.iq("set", "<query xmlns='%s'><item nick='carol' role='none'><reason>spam</reason></item></query>" % ADMIN, to=rj)
    assert r.get("type") == "result"
    p = c.expect(is_pres(rj + "/carol", "unavailable"))
    assert {"307", "110"} <= codes(p)
    assert item(p).find(q(USER, "reason")).text == "spam"
    assert item(p).find(q(USER, "actor")).get("nick") == "bob"
    # Ban (§9.1): 301, and the banned user cannot come back.
    join(c, room, "carol")
    r = a.iq("set", "<query xmlns='%s'><item jid='%s' affiliation='outcast'/></query>"
             % (ADMIN, c.jid.split("/")[0]), to=rj)
    assert r.get("type") == "result"
    p = c.expect(is_pres(rj + "/carol", "unavailable"))
    assert "301" in codes(p)
    e = join(c, room, "carol", expect_ok=False)
    assert err_cond(e) == ("auth", "forbidden")
    # The last owner cannot step down (§10.6 conflict).
    r = a.iq("set", "<query xmlns='%s'><item jid='%s' affiliation='member'/></query>"
             % (ADMIN, a.jid.split("/")[0]), to=rj)
    assert err_cond(r) == ("cancel", "conflict")
    # Ban list (§9.2).
    r = a.iq("get", "<query xmlns='%s'><item affiliation='outcast'/></query>" % ADMIN, to=rj)
    assert [i.get("jid") for i in r.iter(q(ADMIN, "item"))] == [c.jid.split("/")[0]]
    r = b.iq("get", "<query xmlns='%s'><item affiliation='owner'/></query>" % ADMIN, to=rj)
    assert err_cond(r) == ("auth", "forbidden")


def test_moderated_voice_and_subject(server, clients):
    a, b = user(server, clients), user(server, clients)
    room = unique("room")
    rj = "%s@%s" % (room, SERVICE)
    instant(a, room, "alice")
    assert configure(a, room, {"muc#roomconfig_moderatedroom": "1"}).get("type") == "result"
    own, _ = join(b, room, "bob")
    assert item(own).get("role") == "visitor"
    b.send("<message to='%s' type='groupchat' id='v'><body>hi</body></message>" % rj)
    assert err_cond(b.expect_message(type_="error")) == ("auth", "forbidden")
    b.send("<message to='%s' type='groupchat' id='s'><subject>mine</subject></message>" % rj)
    assert err_cond(b.expect_message(type_="error")) == ("auth", "forbidden")
    r = a.iq("set", "<query xmlns='%s'><item nick='bob' role='participant'/></query>" % ADMIN, to=rj)
    assert r.get("type") == "result"
    p = b.expect(is_pres(rj + "/bob"))
    assert item(p).get("role") == "participant"
    a.send("<message to='%s' type='groupchat' id='s2'><subject>Topic</subject></message>" % rj)
    m = b.expect(lambda e: e.tag == q(CLIENT, "message") and e.find(q(CLIENT, "subject")) is not None)
    assert m.find(q(CLIENT, "subject")).text == "Topic"


def test_history_limits(server, clients):
    a, b = user(server, clients), user(server, clients)
    room = unique("room")
    instant(a, room, "alice")
    for i in range(5):
        a.send("<message to='%s@%s' type='groupchat'><body>m%d</body></message>" % (room, SERVICE, i))
        a.expect_message("m%d" % i)
    b.send("<presence to='%s@%s/bob'><x xmlns='%s'><history maxstanzas='2'/></x></presence>" % (room, SERVICE, MUC))
    got = []
    while True:
        e = b.expect(lambda e: e.tag == q(CLIENT, "message"))
        if e.find(q(CLIENT, "subject")) is not None:
            break
        assert e.find(q("urn:xmpp:delay", "delay")) is not None
        got.append(e.find(q(CLIENT, "body")).text)
    assert got == ["m3", "m4"]


def test_room_archive(server, clients):
    a = user(server, clients)
    room = unique("room")
    rj = "%s@%s" % (room, SERVICE)
    instant(a, room, "alice")
    for i in range(3):
        a.send("<message to='%s' type='groupchat'><body>arch%d</body></message>" % (rj, i))
        a.expect_message("arch%d" % i)
    r = a.iq("set", "<query xmlns='urn:xmpp:mam:2' queryid='q1'/>", to=rj)
    assert r.get("type") == "result"
    fin = r.find(q("urn:xmpp:mam:2", "fin"))
    assert fin.get("complete") == "true"
    assert fin.find("{http://jabber.org/protocol/rsm}set/{http://jabber.org/protocol/rsm}count").text == "3"


def test_disco_and_destroy(server, clients):
    a, b = user(server, clients), user(server, clients)
    room = unique("room")
    rj = "%s@%s" % (room, SERVICE)
    instant(a, room, "alice")
    r = b.iq("get", "<query xmlns='http://jabber.org/protocol/disco#info'/>", to=rj)
    feats = {f.get("var") for f in r.iter("{http://jabber.org/protocol/disco#info}feature")}
    assert {"http://jabber.org/protocol/muc", "muc_public", "muc_temporary", "muc_open"} <= feats
    r = b.iq("get", "<query xmlns='http://jabber.org/protocol/disco#items'/>", to=SERVICE)
    assert rj in {i.get("jid") for i in r.iter("{http://jabber.org/protocol/disco#items}item")}
    join(b, room, "bob")
    r = b.iq("set", "<query xmlns='%s'><destroy/></query>" % OWNER, to=rj)
    assert err_cond(r) == ("auth", "forbidden")
    r = a.iq("set", "<query xmlns='%s'><destroy jid='other@%s'><reason>moved</reason></destroy></query>"
             % (OWNER, SERVICE), to=rj)
    assert r.get("type") == "result"
    p = b.expect(is_pres(rj + "/bob", "unavailable"))
    d = p.find("%s/%s" % (q(USER, "x"), q(USER, "destroy")))
    assert d.get("jid") == "other@" + SERVICE
    r = b.iq("get", "<query xmlns='http://jabber.org/protocol/disco#info'/>", to=rj)
    assert err_cond(r) == ("cancel", "item-not-found")


def test_persistent_room_survives_restart(server_factory, clients):
    s = server_factory(modules=MODULES)
    ua, pa = make_account(s)
    ub, pb = make_account(s)
    a = clients(s.c2s_port)
    a.login(ua, pa, resource="r", presence=True)
    room = unique("room")
    rj = "%s@%s" % (room, SERVICE)
    instant(a, room, "alice")
    assert configure(a, room, {"muc#roomconfig_persistentroom": "1",
                               "muc#roomconfig_roomname": "Kept"}).get("type") == "result"
    r = a.iq("set", "<query xmlns='%s'><item jid='%s@localhost' affiliation='member'/></query>" % (ADMIN, ub), to=rj)
    assert r.get("type") == "result"
    a.send("<message to='%s' type='groupchat'><subject>Persisted</subject></message>" % rj)
    a.expect(lambda e: e.tag == q(CLIENT, "message") and e.find(q(CLIENT, "subject")) is not None)
    a.close()
    s.stop()
    s.start()
    b = clients(s.c2s_port)
    b.login(ub, pb, resource="r", presence=True)
    r = b.iq("get", "<query xmlns='http://jabber.org/protocol/disco#info'/>", to=rj)
    assert r.get("type") == "result"
    ident = r.find("{http://jabber.org/protocol/disco#info}query/{http://jabber.org/protocol/disco#info}identity")
    assert ident.get("name") == "Kept"
    own, subj = join(b, room, "bob")
    assert item(own).get("affiliation") == "member"
    assert subj.find(q(CLIENT, "subject")).text == "Persisted"
