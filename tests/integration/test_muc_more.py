"""XEP-0045 behaviour beyond test_muc.py, driven with raw XML:

- §7.2.9 max users counts occupants, not sessions (multi-session nicks,
  §7.2.8): a second resource takes no slot and gets into a full room;
- §17.4 / XEP-0410 IQs to occupant JIDs with multi-session nicks: one
  session asked, the answer back to the session that asked, an error when
  the asked session leaves, errors for non-occupants (disco: §6.6
  <bad-request/>; pings and others: XEP-0410 §3.2 <not-acceptable/>) and
  unknown nicks;
- §7.10 registering with a room, §7.12 the reserved nickname
  (x-roomuser-item), §7.2.8 conflict on a nick registered by another;
- XEP-0313 §4.1.1 the room archive's query form and the room's disco#info;
- §15.5.3 muc#roomconfig_presencebroadcast applied to presence;
- §9.1 / §10.4 / §10.7 owners and admins changing their own affiliation
  (self-ban and the last owner: <conflict/>);
- ARCHITECTURE.md principle 5: a XEP-0198 ack of a configuration or
  subject change of a persistent room means the change survives SIGKILL.
"""

import pytest

from conftest import make_account
from harness import server as srv
from harness.xmpp import q, unique
from test_muc import (ADMIN, CLIENT, MUC, OWNER, SERVICE, USER, XDATA, codes, configure,
                      err_cond, instant, is_pres, item, join)

MODULES = srv.ALL_MODULES + ("muc",)
PING = "urn:xmpp:ping"
VERSION = "jabber:iq:version"
REGISTER = "jabber:iq:register"
DISCO_INFO = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
MAM = "urn:xmpp:mam:2"


@pytest.fixture(scope="module")
def server(request, cert):
    s = srv.ParleyServer("test_muc_more", cert, modules=MODULES)
    s.start()
    yield s
    s.check_stop()


def login(server, clients, user, password, resource):
    c = clients(server.c2s_port)
    c.login(user, password, resource=resource, presence=True)
    return c


def new_user(server, clients, resource="r"):
    u, p = make_account(server)
    return login(server, clients, u, p, resource)


def two_sessions(server, clients):
    u, p = make_account(server)
    return (login(server, clients, u, p, "one"), login(server, clients, u, p, "two"),
            (u, p))


def leave(c, room, nick):
    c.send("<presence to='%s@%s/%s' type='unavailable'/>" % (room, SERVICE, nick))
    p = c.expect(is_pres("%s@%s/%s" % (room, SERVICE, nick), "unavailable"))
    assert "110" in codes(p)


def is_iq(frm=None, type_=None, id_=None):
    def pred(e):
        return (e.tag == q(CLIENT, "iq") and (frm is None or e.get("from") == frm)
                and (type_ is None or e.get("type") == type_)
                and (id_ is None or e.get("id") == id_))
    return pred


def roominfo(c, room, var):
    r = c.iq("get", "<query xmlns='%s'/>" % DISCO_INFO, to="%s@%s" % (room, SERVICE))
    assert r.get("type") == "result"
    for f in r.iter("{%s}field" % XDATA):
        if f.get("var") == var:
            return f.find("{%s}value" % XDATA).text
    return None


# --- §7.2.9 max users and multi-session nicks ---------------------------------

def test_max_users_counts_occupants_not_sessions(server, clients):
    a = new_user(server, clients)
    b1, b2, (ub, pb) = two_sessions(server, clients)
    c, d = new_user(server, clients), new_user(server, clients)
    room = unique("full")
    instant(a, room, "alice")
    assert configure(a, room, {"muc#roomconfig_maxusers": "3"}).get("type") == "result"
    join(b1, room, "bob")
    join(b2, room, "bob")              # the same occupant: no second slot
    assert roominfo(a, room, "muc#roominfo_occupants") == "2"
    join(c, room, "carol")             # the third occupant
    e = join(d, room, "dave", expect_ok=False)
    assert err_cond(e) == ("wait", "service-unavailable")
    # Full because of others: bob's third resource is still bob.
    b3 = login(server, clients, ub, pb, "three")
    join(b3, room, "bob")
    # Leaving with one of bob's sessions frees no slot ...
    leave(b2, room, "bob")
    e = join(d, room, "dave", expect_ok=False)
    assert err_cond(e) == ("wait", "service-unavailable")
    # ... his last session does.
    leave(b1, room, "bob")
    leave(b3, room, "bob")
    a.expect(is_pres("%s@%s/bob" % (room, SERVICE), "unavailable"))
    join(d, room, "dave")
    assert roominfo(a, room, "muc#roominfo_occupants") == "3"


# --- §17.4 / XEP-0410 IQs to occupants ------------------------------------------

def test_iq_to_multi_session_occupant(server, clients):
    a = new_user(server, clients)
    b1, b2, _ = two_sessions(server, clients)
    outsider = new_user(server, clients)
    room = unique("iq")
    rj = "%s@%s" % (room, SERVICE)
    instant(a, room, "alice")
    join(b1, room, "bob")
    join(b2, room, "bob")

    # alice asks bob: exactly one of bob's sessions is asked, under an id
    # of the room's, and the answer reaches alice with her id.
    a.send("<iq type='get' id='v1' to='%s/bob'><query xmlns='%s'/></iq>" % (rj, VERSION))
    fwd = b1.expect(is_iq(rj + "/alice", "get"))
    assert fwd.get("id") != "v1"
    assert fwd.get("to") == b1.jid
    b2.expect_nothing(is_iq(type_="get"), timeout=0.5)
    b1.send("<iq type='result' id='%s' to='%s/alice'><query xmlns='%s'><name>x</name>"
            "</query></iq>" % (fwd.get("id"), rj, VERSION))
    r = a.expect(is_iq(id_="v1"))
    assert r.get("type") == "result" and r.get("from") == rj + "/bob"
    assert r.find("{%s}query/{%s}name" % (VERSION, VERSION)).text == "x"

    # bob's SECOND session asks alice: the answer comes back to that
    # session, not to the nick's first one.
    b2.send("<iq type='get' id='v2' to='%s/alice'><query xmlns='%s'/></iq>" % (rj, VERSION))
    fwd = a.expect(is_iq(rj + "/bob", "get"))
    a.send("<iq type='result' id='%s' to='%s/bob'/>" % (fwd.get("id"), rj))
    r = b2.expect(is_iq(id_="v2"))
    assert r.get("type") == "result" and r.get("from") == rj + "/alice"
    b1.expect_nothing(is_iq(id_="v2"), timeout=0.5)

    # Only the session asked may answer: alice cannot forge bob's answer.
    a.send("<iq type='get' id='v3' to='%s/bob'><query xmlns='%s'/></iq>" % (rj, VERSION))
    fwd = b1.expect(is_iq(rj + "/alice", "get"))
    b2.send("<iq type='result' id='%s' to='%s/alice'/>" % (fwd.get("id"), rj))
    a.expect_nothing(is_iq(id_="v3"), timeout=0.5)

    # The asked session leaves without answering: alice is told, not left
    # waiting (bob stays in the room with his other session).
    leave(b1, room, "bob")
    r = a.expect(is_iq(id_="v3"))
    assert err_cond(r) == ("cancel", "item-not-found")
    assert r.get("from") == rj + "/bob"

    # Now the remaining session is asked.
    a.send("<iq type='get' id='v4' to='%s/bob'><query xmlns='%s'/></iq>" % (rj, VERSION))
    fwd = b2.expect(is_iq(rj + "/alice", "get"))
    b2.send("<iq type='error' id='%s' to='%s/alice'><query xmlns='%s'/>"
            "<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
            "</error></iq>" % (fwd.get("id"), rj, VERSION))
    r = a.expect(is_iq(id_="v4"))
    assert err_cond(r) == ("cancel", "service-unavailable")

    # XEP-0410 §3.3: self-ping is answered by the room, for any session.
    r = b2.iq("get", "<ping xmlns='%s'/>" % PING, to=rj + "/bob")
    assert r.get("type") == "result"
    r = b1.iq("get", "<ping xmlns='%s'/>" % PING, to=rj + "/bob")
    assert err_cond(r) == ("cancel", "not-acceptable")      # b1 left
    # Non-occupants and unknown nicks.  Any IQ but disco from a
    # non-occupant: <not-acceptable/> (XEP-0410 §3.2, pings in particular,
    # so that a client that dropped out rejoins) ...
    r = outsider.iq("get", "<query xmlns='%s'/>" % VERSION, to=rj + "/alice")
    assert err_cond(r) == ("cancel", "not-acceptable")
    r = outsider.iq("get", "<ping xmlns='%s'/>" % PING, to=rj + "/alice")
    assert err_cond(r) == ("cancel", "not-acceptable")
    # ... disco: <bad-request/> (XEP-0045 §6.6), and nothing reaches alice.
    for ns in (DISCO_INFO, DISCO_ITEMS):
        r = outsider.iq("get", "<query xmlns='%s'/>" % ns, to=rj + "/alice")
        assert err_cond(r) == ("modify", "bad-request")
    a.expect_nothing(is_iq(type_="get"), timeout=0.3)
    # An occupant's disco of an occupant is passed through (§6.6 MAY).
    b2.send("<iq type='get' id='d1' to='%s/alice'><query xmlns='%s'/></iq>" % (rj, DISCO_ITEMS))
    fwd = a.expect(is_iq(rj + "/bob", "get"))
    assert fwd.find("{%s}query" % DISCO_ITEMS) is not None
    a.send("<iq type='result' id='%s' to='%s/bob'/>" % (fwd.get("id"), rj))
    assert b2.expect(is_iq(id_="d1")).get("type") == "result"
    r = a.iq("get", "<query xmlns='%s'/>" % VERSION, to=rj + "/nobody")
    assert err_cond(r) == ("cancel", "item-not-found")
    r = a.iq("get", "<query xmlns='%s'/>" % DISCO_INFO, to=rj)
    feats = {f.get("var") for f in r.iter("{%s}feature" % DISCO_INFO)}
    assert "http://jabber.org/protocol/muc#self-ping-optimization" in feats


# --- §7.10 registration, §7.12 reserved nick, §7.2.8 conflict ---------------------

def register_form(nick, form_type="http://jabber.org/protocol/muc#register"):
    return ("<query xmlns='%s'><x xmlns='%s' type='submit'>"
            "<field var='FORM_TYPE'><value>%s</value></field>"
            "<field var='muc#register_roomnick'><value>%s</value></field>"
            "</x></query>" % (REGISTER, XDATA, form_type, nick))


def reserved_nick(c, rj):
    r = c.iq("get", "<query xmlns='%s' node='x-roomuser-item'/>" % DISCO_INFO, to=rj)
    assert r.get("type") == "result"
    qn = r.find("{%s}query" % DISCO_INFO)
    assert qn.get("node") == "x-roomuser-item"
    ids = qn.findall("{%s}identity" % DISCO_INFO)
    if not ids:
        return None
    assert ids[0].get("category") == "conference" and ids[0].get("type") == "text"
    return ids[0].get("name")


def test_register_with_room_and_reserved_nick(server, clients):
    a, b, c, d = (new_user(server, clients) for _ in range(4))
    room = unique("reg")
    rj = "%s@%s" % (room, SERVICE)
    instant(a, room, "alice")
    # Registration is the room's choice: off by default.
    r = b.iq("get", "<query xmlns='%s'/>" % REGISTER, to=rj)
    assert err_cond(r) == ("cancel", "not-allowed")
    r = b.iq("set", register_form("bobby"), to=rj)
    assert err_cond(r) == ("cancel", "not-allowed")
    r = b.iq("get", "<query xmlns='%s'/>" % REGISTER, to="nosuch-%s@%s" % (room, SERVICE))
    assert err_cond(r) == ("cancel", "item-not-found")
    assert configure(a, room, {"muc#roomconfig_membersonly": "1",
                               "x-parley#roomconfig_allowregister": "1"}).get("type") == "result"
    r = a.iq("get", "<query xmlns='%s'/>" % DISCO_INFO, to=rj)
    assert REGISTER in {f.get("var") for f in r.iter("{%s}feature" % DISCO_INFO)}
    e = join(b, room, "bobby", expect_ok=False)
    assert err_cond(e) == ("auth", "registration-required")
    # The form, then the submission.
    r = b.iq("get", "<query xmlns='%s'/>" % REGISTER, to=rj)
    assert r.get("type") == "result"
    fields = {f.get("var"): f for f in r.iter("{%s}field" % XDATA)}
    assert fields["FORM_TYPE"].find("{%s}value" % XDATA).text == \
        "http://jabber.org/protocol/muc#register"
    assert fields["muc#register_roomnick"].find("{%s}required" % XDATA) is not None
    assert reserved_nick(b, rj) is None
    for bad in ("<query xmlns='%s'/>" % REGISTER, register_form("bobby", "urn:other"),
                register_form("")):
        r = b.iq("set", bad, to=rj)
        assert err_cond(r) == ("modify", "bad-request")
    r = b.iq("set", register_form("bobby"), to=rj)
    assert r.get("type") == "result"
    r = b.iq("get", "<query xmlns='%s'/>" % REGISTER, to=rj)
    qn = r.find("{%s}query" % REGISTER)
    assert qn.find("{%s}registered" % REGISTER) is not None
    assert qn.find("{%s}username" % REGISTER).text == "bobby"
    assert reserved_nick(b, rj) == "bobby"
    assert reserved_nick(d, rj) is None
    # Members-only: the registrant is a member now.
    own, _ = join(b, room, "bobby")
    assert item(own).get("affiliation") == "member"
    # Someone else cannot register a reserved nick.
    r = c.iq("set", register_form("bobby"), to=rj)
    assert err_cond(r) == ("cancel", "conflict")
    r = c.iq("set", register_form("carl"), to=rj)
    assert r.get("type") == "result"
    # §7.2.8: entering with a nick reserved by another user is a conflict,
    # even while its owner is away.
    leave(b, room, "bobby")
    e = join(c, room, "bobby", expect_ok=False)
    assert err_cond(e) == ("cancel", "conflict")
    join(c, room, "carl")
    # So is changing to it (§7.6).
    c.send("<presence to='%s/bobby'/>" % rj)
    e = c.expect(is_pres(type_="error"))
    assert err_cond(e) == ("cancel", "conflict")
    # The registrant may enter under another nick too (§7.12 SHOULD allow).
    join(b, room, "bob-laptop")
    # Losing membership drops the reservation.
    r = a.iq("set", "<query xmlns='http://jabber.org/protocol/muc#admin'><item jid='%s' "
             "affiliation='none'/></query>" % b.jid.split("/")[0], to=rj)
    assert r.get("type") == "result"
    assert configure(a, room, {"muc#roomconfig_membersonly": "0"}).get("type") == "result"
    join(d, room, "bobby")


def test_registration_in_open_room_sends_membership(server, clients):
    a, b = new_user(server, clients), new_user(server, clients)
    room = unique("reg")
    rj = "%s@%s" % (room, SERVICE)
    instant(a, room, "alice")
    assert configure(a, room, {"x-parley#roomconfig_allowregister": "1"}).get("type") == "result"
    join(b, room, "bob")
    a.expect(is_pres(rj + "/bob"))
    r = b.iq("set", register_form("bob"), to=rj)
    assert r.get("type") == "result"
    # §7.10: the new affiliation is announced to all occupants.
    p = a.expect(is_pres(rj + "/bob"))
    assert item(p).get("affiliation") == "member"
    p = b.expect(is_pres(rj + "/bob"))
    assert item(p).get("affiliation") == "member" and "110" in codes(p)


# --- XEP-0313 on rooms ----------------------------------------------------------------

def test_room_mam_form_and_disco(server, clients):
    a, b = new_user(server, clients), new_user(server, clients)
    room = unique("mam")
    rj = "%s@%s" % (room, SERVICE)
    instant(a, room, "alice")
    r = b.iq("get", "<query xmlns='%s'/>" % MAM, to=rj)
    assert r.get("type") == "result", r
    x = r.find("{%s}query/{%s}x" % (MAM, XDATA))
    assert x is not None and x.get("type") == "form"
    fields = {f.get("var"): f for f in x.findall("{%s}field" % XDATA)}
    assert fields["FORM_TYPE"].find("{%s}value" % XDATA).text == MAM
    assert fields["FORM_TYPE"].get("type") == "hidden"
    assert {"with", "start", "end", "before-id", "after-id", "ids"} <= set(fields)
    assert fields["with"].get("type") == "jid-single"
    r = b.iq("get", "<query xmlns='%s'/>" % DISCO_INFO, to=rj)
    assert MAM in {f.get("var") for f in r.iter("{%s}feature" % DISCO_INFO)}
    assert configure(a, room, {"muc#roomconfig_enablelogging": "0"}).get("type") == "result"
    r = b.iq("get", "<query xmlns='%s'/>" % DISCO_INFO, to=rj)
    assert MAM not in {f.get("var") for f in r.iter("{%s}feature" % DISCO_INFO)}
    # Members-only: outsiders get neither the archive nor its form.
    assert configure(a, room, {"muc#roomconfig_enablelogging": "1",
                               "muc#roomconfig_membersonly": "1"}).get("type") == "result"
    r = b.iq("get", "<query xmlns='%s'/>" % MAM, to=rj)
    assert err_cond(r) == ("auth", "forbidden")


# --- §15.5.3 muc#roomconfig_presencebroadcast --------------------------------------

def test_presence_broadcast_roles(server, clients):
    a, b, c = (new_user(server, clients) for _ in range(3))
    room = unique("pb")
    rj = "%s@%s" % (room, SERVICE)
    instant(a, room, "alice")
    r = a.iq("get", "<query xmlns='%s'/>" % OWNER, to=rj)
    f = [f for f in r.iter("{%s}field" % XDATA)
         if f.get("var") == "muc#roomconfig_presencebroadcast"][0]
    assert f.get("type") == "list-multi"
    assert {v.text for v in f.findall("{%s}value" % XDATA)} == {"moderator", "participant", "visitor"}
    assert configure(a, room, {"muc#roomconfig_moderatedroom": "1",
                               "muc#roomconfig_presencebroadcast": ["moderator", "participant"]}
                     ).get("type") == "result"
    r = configure(a, room, {"muc#roomconfig_presencebroadcast": ["owner"]})
    assert err_cond(r) == ("modify", "not-acceptable")
    # bob enters as a visitor: he gets his own presence (110), nobody else does.
    own, _ = join(b, room, "bob")
    assert item(own).get("role") == "visitor"
    a.expect_nothing(is_pres(rj + "/bob"), timeout=1.0)
    # carol (a visitor too) is not shown bob, but sees alice.
    own, _ = join(c, room, "carol")
    c.expect(is_pres(rj + "/alice"))
    c.expect_nothing(is_pres(rj + "/bob"), timeout=0.5)
    b.expect_nothing(is_pres(rj + "/carol"), timeout=0.5)
    # A status change of a visitor stays private too.
    b.send("<presence to='%s/bob'><show>away</show></presence>" % rj)
    p = b.expect(is_pres(rj + "/bob"))
    assert "110" in codes(p)
    a.expect_nothing(is_pres(rj + "/bob"), timeout=0.5)
    # Voice makes bob a participant: now everyone sees him.
    r = a.iq("set", "<query xmlns='http://jabber.org/protocol/muc#admin'>"
             "<item nick='bob' role='participant'/></query>", to=rj)
    assert r.get("type") == "result"
    p = a.expect(is_pres(rj + "/bob"))
    assert item(p).get("role") == "participant"
    c.expect(is_pres(rj + "/bob"))
    # And the list a newcomer gets leaves carol (a visitor) out.
    d = new_user(server, clients)
    join(d, room, "dave")
    d.expect(is_pres(rj + "/bob"))
    d.expect_nothing(is_pres(rj + "/carol"), timeout=0.5)


# --- §9.1 / §10.4 / §10.7 changing one's own affiliation ------------------------------

def set_affil(c, rj, jid, affil):
    return c.iq("set", "<query xmlns='%s'><item jid='%s' affiliation='%s'/></query>"
                % (ADMIN, jid, affil), to=rj)


def affil_list(c, rj, affil):
    r = c.iq("get", "<query xmlns='%s'><item affiliation='%s'/></query>" % (ADMIN, affil), to=rj)
    assert r.get("type") == "result"
    return {i.get("jid") for i in r.iter("{%s}item" % ADMIN)}


def test_own_affiliation_changes(server, clients):
    a, b, c = new_user(server, clients), new_user(server, clients), new_user(server, clients)
    ja, jb, jc = (x.jid.split("/")[0] for x in (a, b, c))
    room = unique("self")
    rj = "%s@%s" % (room, SERVICE)
    instant(a, room, "alice")
    join(c, room, "carol")      # keeps the room alive when alice is banned
    # The only owner: neither stepping down to any affiliation (§10.4
    # <conflict/>) nor banning himself (§9.1 <conflict/>).
    for new in ("admin", "member", "none", "outcast"):
        assert err_cond(set_affil(a, rj, ja, new)) == ("cancel", "conflict"), new
    assert affil_list(a, rj, "owner") == {ja}
    # An admin: a ban of himself is a <conflict/> (§9.1); stepping down
    # edits the admin list, an owner's business (§10.7/§10.8 <forbidden/>).
    assert set_affil(a, rj, jb, "admin").get("type") == "result"
    assert err_cond(set_affil(b, rj, jb, "outcast")) == ("cancel", "conflict")
    assert err_cond(set_affil(b, rj, jb, "member")) == ("auth", "forbidden")
    assert affil_list(a, rj, "admin") == {jb}
    # With a second owner, an owner still cannot ban himself (§9.1) ...
    assert set_affil(a, rj, jc, "owner").get("type") == "result"
    assert err_cond(set_affil(a, rj, ja, "outcast")) == ("cancel", "conflict")
    assert affil_list(a, rj, "outcast") == set()
    # ... but may step down (§10.4 SHOULD allow), here to nothing; the
    # remaining owner is then the last one.
    assert set_affil(a, rj, ja, "none").get("type") == "result"
    assert affil_list(c, rj, "owner") == {jc}
    assert err_cond(set_affil(c, rj, jc, "member")) == ("cancel", "conflict")
    # An owner may ban another owner (no self-ban, not the last owner).
    assert set_affil(c, rj, ja, "owner").get("type") == "result"
    assert set_affil(c, rj, ja, "outcast").get("type") == "result"
    p = a.expect(is_pres(rj + "/alice", "unavailable"))
    assert {"301", "110"} <= codes(p)
    assert affil_list(c, rj, "outcast") == {ja}


# --- durability: XEP-0198 acks of room changes --------------------------------------

def test_acked_room_changes_survive_sigkill(server_factory, clients):
    from test_sm import NS_SM, sm_login
    s = server_factory(modules=MODULES)
    ua, pa = make_account(s)
    ub, pb = make_account(s)
    a = sm_login(s, ua, pa, resource="r", presence=True)
    room = unique("dur")
    rj = "%s@%s" % (room, SERVICE)
    instant(a, room, "alice")
    assert configure(a, room, {"muc#roomconfig_persistentroom": "1",
                               "x-parley#roomconfig_allowregister": "1"}).get("type") == "result"
    h0 = a.request_ack()
    # Three changes, none waited for: the configuration, the subject and a
    # registration; the ack covering them must mean they are stored.
    form = ("<x xmlns='%s' type='submit'><field var='FORM_TYPE'><value>"
            "http://jabber.org/protocol/muc#roomconfig</value></field>"
            "<field var='muc#roomconfig_roomname'><value>Durable</value></field></x>" % XDATA)
    a.send("<iq type='set' id='cfg' to='%s'><query xmlns='%s'>%s</query></iq>" % (rj, OWNER, form))
    a.send("<message to='%s' type='groupchat'><subject>Kept subject</subject></message>" % rj)
    a.send("<iq type='set' id='reg' to='%s'>%s</iq>" % (rj, register_form("boss")))
    a.send("<r xmlns='%s'/>" % NS_SM)
    h = h0
    while h < h0 + 3:
        el = a.expect(lambda e: e.tag == q(NS_SM, "a"), timeout=10)
        h = int(el.get("h"))
    s.proc.kill()
    s.proc.wait()
    s.kill()
    s.start()
    b = clients(s.c2s_port)
    b.login(ub, pb, resource="r", presence=True)
    r = b.iq("get", "<query xmlns='%s'/>" % DISCO_INFO, to=rj)
    assert r.get("type") == "result"
    ident = r.find("{%s}query/{%s}identity" % (DISCO_INFO, DISCO_INFO))
    assert ident.get("name") == "Durable"
    e = join(b, room, "boss", expect_ok=False)
    assert err_cond(e) == ("cancel", "conflict")
    _, subj = join(b, room, "bob")
    assert subj.find(q(CLIENT, "subject")).text == "Kept subject"
    a2 = clients(s.c2s_port)
    a2.login(ua, pa, resource="r2", presence=True)
    assert reserved_nick(a2, rj) == "boss"


# --- §7.11 / §9.5 / §15.5.3 muc#roomconfig_getmemberlist ----------------------------

def member_list_req(c, rj):
    return c.iq("get", "<query xmlns='%s'><item affiliation='member'/></query>" % ADMIN, to=rj)


def test_getmemberlist_roles(server, clients):
    a, b, c, d = (new_user(server, clients) for _ in range(4))
    jb, jc, jd = (x.jid.split("/")[0] for x in (b, c, d))
    room = unique("gml")
    rj = "%s@%s" % (room, SERVICE)
    instant(a, room, "alice")
    # The form offers the field; by default only moderators may read the
    # list (the room is semi-anonymous: §5.2.1 note ***).
    r = a.iq("get", "<query xmlns='%s'/>" % OWNER, to=rj)
    f = [f for f in r.iter("{%s}field" % XDATA) if f.get("var") == "muc#roomconfig_getmemberlist"]
    assert len(f) == 1 and f[0].get("type") == "list-multi"
    assert [v.text for v in f[0].findall("{%s}value" % XDATA)] == ["moderator"]
    assert {o.find("{%s}value" % XDATA).text for o in f[0].findall("{%s}option" % XDATA)} == \
        {"moderator", "participant", "visitor"}
    assert configure(a, room, {"muc#roomconfig_membersonly": "1"}).get("type") == "result"
    for j in (jb, jc):
        assert set_affil(a, rj, j, "member").get("type") == "result"
    own, _ = join(b, room, "bob")
    assert item(own).get("role") == "participant"
    # Default: a participant member is refused, and so is a member who is
    # not in the room (no role at all).
    r = member_list_req(b, rj)
    assert err_cond(r) == ("auth", "forbidden")
    assert r.find("{%s}error/{urn:ietf:params:xml:ns:xmpp-stanzas}text" % CLIENT) is not None
    assert err_cond(member_list_req(c, rj)) == ("auth", "forbidden")
    # Unknown roles (or affiliations) in the field: <not-acceptable/>, and
    # the setting is unchanged.
    for bad in (["member"], ["participant", "owner"], ["none"]):
        r = configure(a, room, {"muc#roomconfig_getmemberlist": bad})
        assert err_cond(r) == ("modify", "not-acceptable"), bad
    assert err_cond(member_list_req(b, rj)) == ("auth", "forbidden")
    # The owner adds participants: bob (a participant) now gets the list.
    assert configure(a, room, {"muc#roomconfig_getmemberlist": ["moderator", "participant"]}
                     ).get("type") == "result"
    r = a.iq("get", "<query xmlns='%s'/>" % OWNER, to=rj)
    f = [f for f in r.iter("{%s}field" % XDATA) if f.get("var") == "muc#roomconfig_getmemberlist"]
    assert {v.text for v in f[0].findall("{%s}value" % XDATA)} == {"moderator", "participant"}
    r = member_list_req(b, rj)
    assert r.get("type") == "result"
    items = list(r.iter("{%s}item" % ADMIN))
    assert {i.get("jid") for i in items} == {jb, jc}
    assert {i.get("affiliation") for i in items} == {"member"}
    # Still not carol, who is no occupant (no role), nor other lists.
    assert err_cond(member_list_req(c, rj)) == ("auth", "forbidden")
    for affil in ("outcast", "admin", "owner"):
        r = b.iq("get", "<query xmlns='%s'><item affiliation='%s'/></query>" % (ADMIN, affil), to=rj)
        assert err_cond(r) == ("auth", "forbidden"), affil
    # Moderators only again: bob is refused; once made a moderator he may.
    assert configure(a, room, {"muc#roomconfig_getmemberlist": "moderator"}).get("type") == "result"
    assert err_cond(member_list_req(b, rj)) == ("auth", "forbidden")
    r = a.iq("set", "<query xmlns='%s'><item nick='bob' role='moderator'/></query>" % ADMIN, to=rj)
    assert r.get("type") == "result"
    assert member_list_req(b, rj).get("type") == "result"
    # An empty list leaves it to admins and owners (who always may, even
    # outside the room).
    assert configure(a, room, {"muc#roomconfig_getmemberlist": []}).get("type") == "result"
    assert err_cond(member_list_req(b, rj)) == ("auth", "forbidden")
    assert set_affil(a, rj, jd, "admin").get("type") == "result"
    assert affil_list(d, rj, "member") == {jb, jc}
    assert affil_list(a, rj, "member") == {jb, jc}


def test_member_list_in_non_anonymous_room(server, clients):
    """§9.5 notes: in a non-anonymous room a member gets the member list,
    in the room or not (to see whom to invite); semi-anonymous rooms keep
    the getmemberlist rule (moderators only by default); someone with no
    affiliation still does not get it."""
    a, b, c, d = (new_user(server, clients) for _ in range(4))
    jb, jc = (x.jid.split("/")[0] for x in (b, c))
    room = unique("nal")
    rj = "%s@%s" % (room, SERVICE)
    instant(a, room, "alice")
    assert configure(a, room, {"muc#roomconfig_membersonly": "1"}).get("type") == "result"
    for j in (jb, jc):
        assert set_affil(a, rj, j, "member").get("type") == "result"
    join(b, room, "bob")
    # Semi-anonymous (the default): refused, in the room or not.
    assert err_cond(member_list_req(b, rj)) == ("auth", "forbidden")
    assert err_cond(member_list_req(c, rj)) == ("auth", "forbidden")
    assert configure(a, room, {"muc#roomconfig_whois": "anyone"}).get("type") == "result"
    for who in (b, c):      # bob is in the room, carol is not
        r = member_list_req(who, rj)
        assert r.get("type") == "result", who.jid
        assert {i.get("jid") for i in r.iter("{%s}item" % ADMIN)} == {jb, jc}
    # Only the member list, and not for a stranger.
    r = b.iq("get", "<query xmlns='%s'><item affiliation='admin'/></query>" % ADMIN, to=rj)
    assert err_cond(r) == ("auth", "forbidden")
    assert err_cond(member_list_req(d, rj)) == ("auth", "forbidden")
