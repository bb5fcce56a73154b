"""XEP-0045 service rules and the less common occupant use cases, driven
with raw XML so that conditions are checked exactly:

- the module's limits (issue 6: errors, not drops): rooms per user
  (§10.1.1 creation refused with <not-allowed/>) and messages per second
  per occupant (<resource-constraint/>, groupchat and private messages);
- §6.3 hidden rooms are not listed in the service's disco#items;
- members-only rooms: §7.2.6 <registration-required/>, §7.8.2 / §9.3 a
  mediated invitation by an admin adds the invitee to the member list,
  a mere member may not invite (<forbidden/>), §7.8.3 declines go back
  to the inviter;
- §7.13 / §8.6 voice requests in a moderated room;
- §7.2.9 multi-session nicks: resources of one bare JID sharing a nick."""

import time

import pytest

from conftest import make_account
from harness import server as srv
from harness.xmpp import q, unique
from test_muc import (ADMIN, CLIENT, MUC, SERVICE, USER, XDATA, codes, configure, err_cond,
                      instant, is_pres, item, join)
from test_sm import set_module_options

MODULES = srv.ALL_MODULES + ("muc",)
MAX_ROOMS = 2
RATE = 3
REQUEST = "http://jabber.org/protocol/muc#request"


@pytest.fixture(scope="module")
def server(cert):
    s = srv.ParleyServer("test_muc_rules_it", cert, modules=MODULES)
    set_module_options(s, "muc", {"max_rooms_per_user": MAX_ROOMS,
                                  "messages_per_second": RATE})
    s.start()
    yield s
    s.check_stop()


def user(server, clients, resource="r", account=None):
    u, p = account or make_account(server)
    c = clients(server.c2s_port)
    c.login(u, p, resource=resource, presence=True)
    return c


def bare(c):
    return c.jid.split("/")[0]


def is_msg(type_=None, frm=None):
    return lambda e: (e.tag == q(CLIENT, "message") and e.get("type") == type_
                      and (frm is None or e.get("from") == frm))


def body_is(text):
    return lambda e: (e.tag == q(CLIENT, "message") and e.get("type") != "error"
                      and e.findtext(q(CLIENT, "body")) == text)


def error_text(el):
    err = el.find(q(CLIENT, "error"))
    t = err.find("{urn:ietf:params:xml:ns:xmpp-stanzas}text")
    return t.text if t is not None else None


# --- limits -------------------------------------------------------------------------


def test_rooms_per_user_limit_is_an_error(server, clients):
    a, b = user(server, clients), user(server, clients)
    rooms = [unique("lim") for _ in range(MAX_ROOMS + 1)]
    for r in rooms[:MAX_ROOMS]:
        instant(a, r)
    # §10.1.1: a room the user may not create is refused with
    # <not-allowed/> from the room JID the user tried, with a <text/>.
    e = join(a, rooms[MAX_ROOMS], "owner", expect_ok=False)
    assert e.get("from") == "%s@%s/owner" % (rooms[MAX_ROOMS], SERVICE)
    assert err_cond(e) == ("cancel", "not-allowed")
    assert error_text(e)
    # The limit is per user: someone else still creates rooms ...
    instant(b, rooms[MAX_ROOMS])
    # ... and entering an existing room is no creation.
    join(a, rooms[MAX_ROOMS], "again")
    # A temporary room goes with its last occupant, which frees a slot.
    a.send("<presence to='%s@%s/owner' type='unavailable'/>" % (rooms[0], SERVICE))
    a.expect(is_pres("%s@%s/owner" % (rooms[0], SERVICE), "unavailable"))
    instant(a, unique("lim"))


def test_message_rate_is_an_error_not_a_drop(server, clients):
    a, b = user(server, clients), user(server, clients)
    room = unique("rate")
    rj = "%s@%s" % (room, SERVICE)
    instant(a, room, "alice")
    join(b, room, "bob")
    n = 4 * RATE
    for i in range(n):
        a.send("<message to='%s' type='groupchat' id='g%d'><body>flood%d</body></message>"
               % (rj, i, i))
    delivered, refused = set(), set()
    # Every message is either reflected or answered with an error.
    while len(delivered) + len(refused) < n:
        e = a.expect(lambda e: e.tag == q(CLIENT, "message") and (
            e.get("type") == "error" or (e.findtext(q(CLIENT, "body")) or "").startswith("flood")))
        if e.get("type") == "error":
            assert err_cond(e) == ("wait", "resource-constraint")
            assert error_text(e)
            refused.add(e.get("id"))
        else:
            delivered.add(e.findtext(q(CLIENT, "body")))
    assert len(refused) >= 1 and len(delivered) >= 1
    assert len(delivered) <= RATE + 1           # the burst is the rate
    # bob got exactly the accepted ones.
    for body in delivered:
        b.expect(body_is(body))
    b.expect_nothing(lambda e: (e.findtext(q(CLIENT, "body")) or "").startswith("flood"), 0.5)
    # The bucket refills: after a second the occupant talks again.
    time.sleep(1.1)
    a.send("<message to='%s' type='groupchat' id='later'><body>later</body></message>" % rj)
    a.expect(body_is("later"))
    b.expect(body_is("later"))
    # Private messages share the occupant's bucket.
    for i in range(n):
        a.send("<message to='%s/bob' type='chat' id='p%d'><body>pm%d</body></message>" % (rj, i, i))
    e = a.expect(is_msg("error"))
    assert err_cond(e) == ("wait", "resource-constraint")
    b.expect(body_is("pm0"))


# --- discovery ----------------------------------------------------------------------


def test_hidden_rooms_not_listed(server, clients):
    a, b = user(server, clients), user(server, clients)
    public, hidden = unique("pub"), unique("hid")
    instant(a, public)
    instant(b, hidden)
    assert configure(b, hidden, {"muc#roomconfig_publicroom": "0"}).get("type") == "result"
    c = user(server, clients)
    r = c.iq("get", "<query xmlns='http://jabber.org/protocol/disco#items'/>", to=SERVICE)
    assert r.get("type") == "result"
    listed = {i.get("jid") for i in r.iter("{http://jabber.org/protocol/disco#items}item")}
    assert "%s@%s" % (public, SERVICE) in listed
    assert "%s@%s" % (hidden, SERVICE) not in listed
    # §6.4: the hidden room still answers disco#info, as muc_hidden.
    r = c.iq("get", "<query xmlns='http://jabber.org/protocol/disco#info'/>",
             to="%s@%s" % (hidden, SERVICE))
    feats = {f.get("var") for f in r.iter("{http://jabber.org/protocol/disco#info}feature")}
    assert "muc_hidden" in feats and "muc_public" not in feats
    # Made public again, it is listed.
    assert configure(b, hidden, {"muc#roomconfig_publicroom": "1"}).get("type") == "result"
    r = c.iq("get", "<query xmlns='http://jabber.org/protocol/disco#items'/>", to=SERVICE)
    listed = {i.get("jid") for i in r.iter("{http://jabber.org/protocol/disco#items}item")}
    assert "%s@%s" % (hidden, SERVICE) in listed


# --- members-only rooms, invitations, declines ----------------------------------------


def member_list(c, rj):
    r = c.iq("get", "<query xmlns='%s'><item affiliation='member'/></query>" % ADMIN, to=rj)
    assert r.get("type") == "result"
    return {i.get("jid") for i in r.iter(q(ADMIN, "item"))}


def test_members_only_invitation_adds_member(server, clients):
    a, m, c, d = (user(server, clients) for _ in range(4))
    room = unique("mo")
    rj = "%s@%s" % (room, SERVICE)
    instant(a, room, "alice")
    assert configure(a, room, {"muc#roomconfig_membersonly": "1",
                               "muc#roomconfig_allowinvites": "0"}).get("type") == "result"
    # §7.2.6: a non-member cannot enter.
    e = join(c, room, "carol", expect_ok=False)
    assert err_cond(e) == ("auth", "registration-required")
    assert bare(c) not in member_list(a, rj)
    # §7.8.2 / §9.3: the owner's invitation makes carol a member.
    a.send("<message to='%s' id='inv1'><x xmlns='%s'><invite to='%s'><reason>welcome</reason>"
           "</invite></x></message>" % (rj, USER, bare(c)))
    inv = c.expect(lambda e: e.tag == q(CLIENT, "message") and e.find(q(USER, "x")) is not None)
    i = inv.find("%s/%s" % (q(USER, "x"), q(USER, "invite")))
    assert inv.get("from") == rj and i.get("from") == bare(a)
    assert i.findtext(q(USER, "reason")) == "welcome"
    assert bare(c) in member_list(a, rj)
    own, _ = join(c, room, "carol")
    assert item(own).get("affiliation") == "member"
    # A mere member may not invite when invitations are restricted to
    # admins (§7.8.2: <forbidden/>), and nobody is added.
    r = a.iq("set", "<query xmlns='%s'><item jid='%s' affiliation='member'/></query>"
             % (ADMIN, bare(m)), to=rj)
    assert r.get("type") == "result"
    join(m, room, "mere")
    m.send("<message to='%s' id='inv2'><x xmlns='%s'><invite to='%s'/></x></message>"
           % (rj, USER, bare(d)))
    e = m.expect(is_msg("error"))
    assert e.get("id") == "inv2" and err_cond(e) == ("auth", "forbidden")
    d.expect_nothing(lambda e: e.tag == q(CLIENT, "message"), 0.5)
    assert bare(d) not in member_list(a, rj)
    e = join(d, room, "dave", expect_ok=False)
    assert err_cond(e) == ("auth", "registration-required")


def test_open_room_invitation_adds_no_member_and_decline(server, clients):
    a, c = user(server, clients), user(server, clients)
    room = unique("open")
    rj = "%s@%s" % (room, SERVICE)
    instant(a, room, "alice")
    a.send("<message to='%s'><x xmlns='%s'><invite to='%s'/></x></message>" % (rj, USER, bare(c)))
    c.expect(lambda e: e.tag == q(CLIENT, "message") and e.find(q(USER, "x")) is not None)
    # §7.8.2: "Invitations sent through an open room MUST NOT trigger the
    # addition of the invitee to the member list."
    assert bare(c) not in member_list(a, rj)
    # §7.8.3: the invitee declines through the room, which tells the inviter.
    c.send("<message to='%s'><x xmlns='%s'><decline to='%s'><reason>busy</reason></decline>"
           "</x></message>" % (rj, USER, a.jid))
    m = a.expect(lambda e: e.tag == q(CLIENT, "message")
                 and e.find("%s/%s" % (q(USER, "x"), q(USER, "decline"))) is not None)
    dec = m.find("%s/%s" % (q(USER, "x"), q(USER, "decline")))
    assert m.get("from") == rj
    assert dec.get("from") == bare(c)
    assert dec.findtext(q(USER, "reason")) == "busy"
    # A decline without a valid 'to' is an error, not a drop.
    c.send("<message to='%s' id='bad'><x xmlns='%s'><decline/></x></message>" % (rj, USER))
    e = c.expect(is_msg("error"))
    assert e.get("id") == "bad" and err_cond(e) == ("modify", "jid-malformed")


# --- voice requests -----------------------------------------------------------------


def request_form(extra=""):
    return ("<x xmlns='%s' type='submit'><field var='FORM_TYPE'><value>%s</value></field>"
            "<field var='muc#role' type='list-single'><value>participant</value></field>%s</x>"
            % (XDATA, REQUEST, extra))


def form_values(x):
    return {f.get("var"): f.findtext(q(XDATA, "value")) for f in x.findall(q(XDATA, "field"))}


def test_voice_request_and_approval(server, clients):
    a, b, c = user(server, clients), user(server, clients), user(server, clients)
    room = unique("voice")
    rj = "%s@%s" % (room, SERVICE)
    instant(a, room, "alice")
    assert configure(a, room, {"muc#roomconfig_moderatedroom": "1"}).get("type") == "result"
    own, _ = join(b, room, "bob")
    assert item(own).get("role") == "visitor"
    join(c, room, "carol")
    b.expect(is_pres(rj + "/carol"))
    # §7.13: the visitor submits the request form to the room.
    b.send("<message to='%s' id='vr'>%s</message>" % (rj, request_form()))
    m = a.expect(lambda e: e.tag == q(CLIENT, "message") and e.find(q(XDATA, "x")) is not None)
    assert m.get("from") == rj
    x = m.find(q(XDATA, "x"))
    assert x.get("type") == "form"
    v = form_values(x)
    assert v["FORM_TYPE"] == REQUEST and v["muc#roomnick"] == "bob"
    assert v["muc#role"] == "participant" and v["muc#request_allow"] == "false"
    assert v.get("muc#jid") == bare(b)          # the moderator sees real JIDs
    # Only moderators get it (carol is a visitor too).
    c.expect_nothing(lambda e: e.tag == q(CLIENT, "message") and e.find(q(XDATA, "x")) is not None, 0.5)
    # §8.6: the moderator answers with muc#request_allow=true: voice.
    a.send("<message to='%s' id='ok'><x xmlns='%s' type='submit'><field var='FORM_TYPE'>"
           "<value>%s</value></field><field var='muc#role'><value>participant</value></field>"
           "<field var='muc#roomnick'><value>bob</value></field>"
           "<field var='muc#request_allow'><value>true</value></field></x></message>"
           % (rj, XDATA, REQUEST))
    p = b.expect(lambda e: is_pres(rj + "/bob")(e) and item(e).get("role") == "participant")
    assert "110" in codes(p)
    p = c.expect(lambda e: is_pres(rj + "/bob")(e) and item(e).get("role") == "participant")
    b.send("<message to='%s' type='groupchat' id='now'><body>thanks</body></message>" % rj)
    a.expect(body_is("thanks"))
    # bob has voice now: a second request is a bad request; an approval
    # from someone who is no moderator is forbidden.
    b.send("<message to='%s' id='again'>%s</message>" % (rj, request_form()))
    e = b.expect(is_msg("error"))
    assert e.get("id") == "again" and err_cond(e) == ("modify", "bad-request")
    b.send("<message to='%s' id='approve'>%s</message>"
           % (rj, request_form("<field var='muc#roomnick'><value>carol</value></field>"
                               "<field var='muc#request_allow'><value>true</value></field>")))
    e = b.expect(is_msg("error"))
    assert e.get("id") == "approve" and err_cond(e) == ("auth", "forbidden")
    a.expect_nothing(lambda e: is_pres(rj + "/carol")(e) and item(e).get("role") != "visitor", 0.5)


# --- multi-session nick (§7.2.9) ----------------------------------------------------------


def test_multi_session_nick(server, clients):
    acct = make_account(server)
    s1 = user(server, clients, "one", acct)
    s2 = user(server, clients, "two", acct)
    a, other = user(server, clients), user(server, clients)
    room = unique("ms")
    rj = "%s@%s" % (room, SERVICE)
    sam = rj + "/sam"
    instant(a, room, "alice")
    join(s1, room, "sam")
    a.expect(is_pres(sam))
    # A second resource of the same bare JID enters with the same nick:
    # no conflict, it gets its own presence with 110 ...
    own, _ = join(s2, room, "sam")
    assert item(own).get("role") == "participant"
    # ... and alice's presence, but not a second copy of its own nick.
    s2.expect(is_pres(rj + "/alice"))
    # The first session sees the occupant (its own nick) updated with 110.
    p = s1.expect(lambda e: is_pres(sam)(e) and "110" in codes(e))
    # Someone else still cannot take the nick.
    e = join(other, room, "sam", expect_ok=False)
    assert err_cond(e) == ("cancel", "conflict")
    # disco#items lists the nick once.
    r = a.iq("get", "<query xmlns='http://jabber.org/protocol/disco#items'/>", to=rj)
    jids = [i.get("jid") for i in r.iter("{http://jabber.org/protocol/disco#items}item")]
    assert jids.count(sam) == 1
    # Room traffic reaches both sessions; both may talk.
    a.send("<message to='%s' type='groupchat'><body>to all</body></message>" % rj)
    s1.expect(body_is("to all"))
    s2.expect(body_is("to all"))
    s2.send("<message to='%s' type='groupchat'><body>from two</body></message>" % rj)
    m = a.expect(body_is("from two"))
    assert m.get("from") == sam
    s1.expect(body_is("from two"))
    # Private messages to the nick go to every resource.
    a.send("<message to='%s' type='chat' id='pm'><body>private</body></message>" % sam)
    for s in (s1, s2):
        m = s.expect(body_is("private"))
        assert m.get("from") == rj + "/alice" and m.get("to") == s.jid
    # Self-ping answers for either session (XEP-0410).
    assert s2.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to=sam).get("type") == "result"
    # The first resource leaves: it gets its unavailable presence, the
    # occupant stays: nobody sees sam leave.
    s1.send("<presence to='%s' type='unavailable'/>" % sam)
    p = s1.expect(is_pres(sam, "unavailable"))
    assert "110" in codes(p)
    a.expect_nothing(is_pres(sam, "unavailable"), 0.7)
    s2.expect_nothing(is_pres(sam, "unavailable"), 0.1)
    a.send("<message to='%s' type='groupchat'><body>still there</body></message>" % rj)
    s2.expect(body_is("still there"))
    s1.expect_nothing(body_is("still there"), 0.3)
    # The last one leaves: now the occupant goes.
    s2.send("<presence to='%s' type='unavailable'/>" % sam)
    s2.expect(is_pres(sam, "unavailable"))
    a.expect(is_pres(sam, "unavailable"))


def test_multi_session_kick_and_voice(server, clients):
    acct = make_account(server)
    s1 = user(server, clients, "one", acct)
    s2 = user(server, clients, "two", acct)
    a = user(server, clients)
    room = unique("msk")
    rj = "%s@%s" % (room, SERVICE)
    sam = rj + "/sam"
    instant(a, room, "alice")
    assert configure(a, room, {"muc#roomconfig_moderatedroom": "1"}).get("type") == "result"
    join(s1, room, "sam")
    join(s2, room, "sam")
    # Voice granted to the nick is the occupant's: both sessions talk.
    r = a.iq("set", "<query xmlns='%s'><item nick='sam' role='participant'/></query>" % ADMIN, to=rj)
    assert r.get("type") == "result"
    for s in (s1, s2):
        s.expect(lambda e: is_pres(sam)(e) and item(e).get("role") == "participant")
    for i, s in enumerate((s1, s2)):
        s.send("<message to='%s' type='groupchat'><body>voiced%d</body></message>" % (rj, i))
        a.expect(body_is("voiced%d" % i))
    # The role list names the occupant once.
    r = a.iq("get", "<query xmlns='%s'><item role='participant'/></query>" % ADMIN, to=rj)
    assert [i.get("nick") for i in r.iter(q(ADMIN, "item"))] == ["sam"]
    # A kick removes every session of the nick (§8.2: 307, each with 110).
    r = a.iq("set", "<query xmlns='%s'><item nick='sam' role='none'/></query>" % ADMIN, to=rj)
    assert r.get("type") == "result"
    for s in (s1, s2):
        p = s.expect(is_pres(sam, "unavailable"))
        assert {"307", "110"} <= codes(p)
    p = a.expect(is_pres(sam, "unavailable"))
    assert "307" in codes(p) and "110" not in codes(p)
    r = a.iq("get", "<query xmlns='http://jabber.org/protocol/disco#items'/>", to=rj)
    assert sam not in {i.get("jid") for i in r.iter("{http://jabber.org/protocol/disco#items}item")}
    # Both can come back, and leave one by one.
    join(s1, room, "sam")
    join(s2, room, "sam")
