"""XEP-0045 audit: the use cases of §6 (entity), §7 (occupant), §8
(moderator), §9 (admin) and §10 (owner) that test_muc.py,
test_muc_rules_it.py, test_muc_slixmpp.py, test_muc_fanout.py and
test_muc_disco.py leave uncovered, plus persistence of a room's lists and
configuration across a restart and access control of the room archive.
docs/muc-coverage.md maps every use case to the test that covers it.

Raw XML (harness/xmpp.py RawClient) where the exact error condition, error
type or status code is what the XEP specifies; slixmpp (plugin xep_0045)
where several parties interact through a real client library.

The audit's deviations (§6.6 disco by non-occupants, §7.9 <continue/>,
§8.4 equal affiliation, §9.1 self-ban, §10.4/§10.7 admins editing the
owner and admin lists) were strict-xfail tests; src/muc now does what the
XEP requires and they are plain tests.  A new deviation gets
xfail(strict=True, reason="BUG: ...") until it is fixed."""

import asyncio

import pytest

from conftest import make_account
from harness import server as srv
from harness.xmpp import q, stanza_error, unique
from test_muc import (ADMIN, CLIENT, MUC, OWNER, SERVICE, USER, XDATA, codes, configure,
                      instant, is_pres, item, join)

MODULES = srv.ALL_MODULES + ("muc",)
INFO = "http://jabber.org/protocol/disco#info"
ITEMS = "http://jabber.org/protocol/disco#items"
DELAY = "urn:xmpp:delay"
MAM = "urn:xmpp:mam:2"


@pytest.fixture(scope="module")
def server(cert):
    s = srv.ParleyServer("test_muc_xep45", cert, modules=MODULES)
    s.start()
    yield s
    s.check_stop()


# --- helpers ---------------------------------------------------------------------------


def user(server, clients, resource="r", account=None):
    u, p = account or make_account(server)
    c = clients(server.c2s_port)
    c.login(u, p, resource=resource, presence=True)
    return c


def err_cond(el):
    """(type, condition) of a stanza error; None when el is no error (so
    that an accepted forbidden action fails the comparison plainly)."""
    e = stanza_error(el)
    return None if e is None else e[:2]


def bare(c):
    return c.jid.split("/")[0]


def rj_of(room):
    return "%s@%s" % (room, SERVICE)


def admin_items(c, rj, items):
    return c.iq("set", "<query xmlns='%s'>%s</query>" % (ADMIN, items), to=rj)


def set_affil(c, rj, jid, affil, reason=None):
    r = "<reason>%s</reason>" % reason if reason else ""
    return admin_items(c, rj, "<item jid='%s' affiliation='%s'>%s</item>" % (jid, affil, r))


def set_role(c, rj, nick, role, reason=None):
    r = "<reason>%s</reason>" % reason if reason else ""
    return admin_items(c, rj, "<item nick='%s' role='%s'>%s</item>" % (nick, role, r))


def get_list(c, rj, attr, value):
    return c.iq("get", "<query xmlns='%s'><item %s='%s'/></query>" % (ADMIN, attr, value), to=rj)


def list_jids(r):
    assert r.get("type") == "result"
    return {i.get("jid") for i in r.iter(q(ADMIN, "item"))}


def ok(r):
    assert r.get("type") == "result", err_cond(r)
    return r


def pres_with(frm, pred=lambda it: True, type_=None):
    """A presence from 'frm' whose muc#user <item/> satisfies pred."""
    return lambda e: is_pres(frm, type_)(e) and item(e) is not None and pred(item(e))


def room_with(owner, clients_, server, nicks, cfg=None):
    """An instant room owned by 'owner' (nick 'owner'), configured with cfg,
    and one new occupant per nick; returns (rj, {nick: client})."""
    room = unique("x45")
    rj = rj_of(room)
    instant(owner, room, "owner")
    if cfg:
        ok(configure(owner, room, cfg))
    got = {}
    for n in nicks:
        c = user(server, clients_)
        join(c, room, n)
        owner.expect(is_pres(rj + "/" + n))
        got[n] = c
    return rj, got


def is_msg_from(frm, type_=None):
    return lambda e: (e.tag == q(CLIENT, "message") and e.get("from") == frm
                      and (type_ is None or e.get("type") == type_))


def is_subject(e):
    return e.tag == q(CLIENT, "message") and e.find(q(CLIENT, "subject")) is not None


def status_message(c, rj):
    """§10.2.1: a message from the room itself with status codes."""
    m = c.expect(lambda e: is_msg_from(rj)(e) and e.find(q(USER, "x")) is not None
                 and codes(e))
    return codes(m)


# === §6 Entity use cases ==================================================================


def test_6_2_service_features(server, clients):
    c = user(server, clients)
    r = ok(c.iq("get", "<query xmlns='%s'/>" % INFO, to=SERVICE))
    ident = r.find("%s/%s" % (q(INFO, "query"), q(INFO, "identity")))
    assert (ident.get("category"), ident.get("type")) == ("conference", "text")
    feats = {f.get("var") for f in r.iter(q(INFO, "feature"))}
    assert MUC in feats


def test_6_4_room_info_features_follow_config(server, clients):
    a, c = user(server, clients), user(server, clients)
    room = unique("info")
    rj = rj_of(room)
    instant(a, room, "owner")
    ok(configure(a, room, {"muc#roomconfig_roomname": "Coven",
                           "muc#roomconfig_roomdesc": "witches",
                           "muc#roomconfig_membersonly": "1",
                           "muc#roomconfig_moderatedroom": "1",
                           "muc#roomconfig_passwordprotectedroom": "1",
                           "muc#roomconfig_roomsecret": "pw",
                           "muc#roomconfig_whois": "anyone",
                           "muc#roomconfig_persistentroom": "1"}))
    r = ok(c.iq("get", "<query xmlns='%s'/>" % INFO, to=rj))
    ident = r.find("%s/%s" % (q(INFO, "query"), q(INFO, "identity")))
    assert (ident.get("category"), ident.get("type"), ident.get("name")) == \
        ("conference", "text", "Coven")
    feats = {f.get("var") for f in r.iter(q(INFO, "feature"))}
    assert {MUC, "muc_membersonly", "muc_moderated", "muc_passwordprotected",
            "muc_nonanonymous", "muc_persistent"} <= feats
    assert not feats & {"muc_open", "muc_unmoderated", "muc_unsecured",
                        "muc_semianonymous", "muc_temporary"}
    # §6.4 extended information: the muc#roominfo form.
    form = r.find("%s/%s" % (q(INFO, "query"), q(XDATA, "x")))
    vals = {f.get("var"): f.findtext(q(XDATA, "value")) for f in form.findall(q(XDATA, "field"))}
    assert vals["FORM_TYPE"] == "http://jabber.org/protocol/muc#roominfo"
    assert vals["muc#roominfo_description"] == "witches"
    assert vals["muc#roominfo_occupants"] == "1"
    # Not persistent again, so that the module's teardown has nothing stored.
    ok(a.iq("set", "<query xmlns='%s'><destroy/></query>" % OWNER, to=rj))


def test_6_5_room_items(server, clients):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["bob"])
    outsider = user(server, clients)
    # An occupant gets the occupants as disco items (room JIDs, no roles).
    r = ok(occ["bob"].iq("get", "<query xmlns='%s'/>" % ITEMS, to=rj))
    its = list(r.iter(q(ITEMS, "item")))
    assert {i.get("jid") for i in its} == {rj + "/owner", rj + "/bob"}
    assert all(i.get("role") is None and i.get("affiliation") is None for i in its)
    # The list is private to others: an empty <query/> (§6.5), no error.
    r = ok(outsider.iq("get", "<query xmlns='%s'/>" % ITEMS, to=rj))
    assert r.find(q(ITEMS, "query")) is not None
    assert list(r.iter(q(ITEMS, "item"))) == []


def test_6_6_occupant_query_passed_through(server, clients):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["bob"])
    b = occ["bob"]
    # §6.6: an occupant's disco request MAY be passed through: the target
    # receives it from the asker's room JID and its answer goes back.
    b.send("<iq type='get' id='d1' to='%s/owner'><query xmlns='%s'/></iq>" % (rj, INFO))
    fwd = a.expect(lambda e: e.tag == q(CLIENT, "iq") and e.get("type") == "get")
    assert fwd.get("from") == rj + "/bob"
    assert fwd.find(q(INFO, "query")) is not None
    a.send("<iq type='result' id='%s' to='%s/bob'><query xmlns='%s'/></iq>"
           % (fwd.get("id"), rj, INFO))
    r = b.expect(lambda e: e.tag == q(CLIENT, "iq") and e.get("id") == "d1")
    assert r.get("type") == "result" and r.get("from") == rj + "/owner"


def test_6_6_occupant_query_by_non_occupant_bad_request(server, clients):
    a = user(server, clients)
    rj, _ = room_with(a, clients, server, [])
    outsider = user(server, clients)
    r = outsider.iq("get", "<query xmlns='%s'/>" % INFO, to=rj + "/owner")
    assert (err_cond(r) or (None, None))[1] == "bad-request"
    a.expect_nothing(lambda e: e.tag == q(CLIENT, "iq"), 0.3)


# === §7 Occupant use cases ================================================================


def test_7_1_order_of_events(server, clients):
    a, b = user(server, clients), user(server, clients)
    room = unique("order")
    rj = rj_of(room)
    instant(a, room, "owner")
    a.send("<message to='%s' type='groupchat'><body>before</body></message>" % rj)
    a.expect_message("before")
    a.send("<message to='%s' type='groupchat'><subject>Topic</subject></message>" % rj)
    a.expect(is_subject)
    b.send("<presence to='%s/bob'><x xmlns='%s'/></presence>" % (rj, MUC))
    seen = []
    while True:
        e = b.expect(lambda e: e.get("from", "").startswith(rj))
        seen.append(e)
        if is_subject(e):
            break
    kinds = []
    for e in seen:
        if e.tag == q(CLIENT, "presence"):
            kinds.append("self" if "110" in codes(e) else "other:" + e.get("from"))
        elif e.find(q(DELAY, "delay")) is not None:
            kinds.append("history")
        else:
            kinds.append("subject" if is_subject(e) else "?")
    # 1. others' presence, 2. self-presence, 3. history, 4. subject.
    assert kinds == ["other:%s/owner" % rj, "self", "history", "subject"], kinds
    assert seen[2].findtext(q(CLIENT, "body")) == "before"
    assert seen[3].findtext(q(CLIENT, "subject")) == "Topic"
    # 5. live messages.
    a.send("<message to='%s' type='groupchat'><body>live</body></message>" % rj)
    m = b.expect_message("live")
    assert m.find(q(DELAY, "delay")) is None


def test_7_2_2_and_7_2_4_presence_broadcast_semi_anonymous(server, clients):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["bob"])
    c = user(server, clients)
    own, _ = join(c, rj.split("@")[0], "carol")
    # §7.2.4: a semi-anonymous room: no 100, occupants other than
    # moderators see no real JID.
    assert "100" not in codes(own)
    p = occ["bob"].expect(is_pres(rj + "/carol"))
    assert item(p).get("jid") is None
    assert (item(p).get("affiliation"), item(p).get("role")) == ("none", "participant")
    p = a.expect(is_pres(rj + "/carol"))
    assert item(p).get("jid") == c.jid           # moderators do


def test_7_2_3_non_anonymous_room(server, clients):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["bob"])
    b = occ["bob"]
    ok(configure(a, rj.split("@")[0], {"muc#roomconfig_whois": "anyone"}))
    # §10.2.1: 172 tells the occupants that the room is now non-anonymous.
    assert "172" in status_message(b, rj)
    c = user(server, clients)
    own, _ = join(c, rj.split("@")[0], "carol")
    assert "100" in codes(own)                   # §7.2.3
    p = b.expect(is_pres(rj + "/carol"))
    assert item(p).get("jid") == c.jid
    ok(configure(a, rj.split("@")[0], {"muc#roomconfig_whois": "moderators"}))
    assert "173" in status_message(b, rj)


def test_7_2_9_max_users(server, clients):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["bob"], {"muc#roomconfig_maxusers": "2"})
    room = rj.split("@")[0]
    c = user(server, clients)
    e = join(c, room, "carol", expect_ok=False)
    assert err_cond(e) == ("wait", "service-unavailable")
    assert e.get("from") == rj + "/carol"
    # "the room MUST allow the admin or owner to join"
    d = user(server, clients)
    ok(set_affil(a, rj, bare(d), "admin"))
    own, _ = join(d, room, "dave")
    assert item(own).get("affiliation") == "admin"


def test_7_2_11_nonexistent_room(server, clients):
    c = user(server, clients)
    rj = rj_of(unique("none"))
    r = c.iq("get", "<query xmlns='%s'/>" % INFO, to=rj)
    assert err_cond(r) == ("cancel", "item-not-found")
    c.send("<message to='%s' type='groupchat' id='g'><body>x</body></message>" % rj)
    assert err_cond(c.expect_message(type_="error")) == ("cancel", "item-not-found")


def test_7_2_12_room_logging_status(server, clients):
    a, b = user(server, clients), user(server, clients)
    room = unique("log")
    rj = rj_of(room)
    instant(a, room, "owner")
    own, _ = join(b, room, "bob")
    assert "170" in codes(own)                   # archived by default
    ok(configure(a, room, {"muc#roomconfig_enablelogging": "0"}))
    assert "171" in status_message(b, rj)        # §10.2.1
    c = user(server, clients)
    own, _ = join(c, room, "carol")
    assert "170" not in codes(own)
    ok(configure(a, room, {"muc#roomconfig_enablelogging": "1"}))
    assert "170" in status_message(b, rj)


def history_on_join(c, room, nick, hist):
    c.send("<presence to='%s/%s'><x xmlns='%s'>%s</x></presence>" % (rj_of(room), nick, MUC, hist))
    got = []
    while True:
        e = c.expect(lambda e: e.tag == q(CLIENT, "message"))
        if is_subject(e):
            return got
        got.append(e.findtext(q(CLIENT, "body")))


def test_7_2_14_managing_history(server, clients):
    a = user(server, clients)
    room = unique("hist")
    instant(a, room, "owner")
    for i in range(3):
        a.send("<message to='%s' type='groupchat'><body>h%d</body></message>" % (rj_of(room), i))
        a.expect_message("h%d" % i)
    assert history_on_join(user(server, clients), room, "z", "<history maxchars='0'/>") == []
    assert history_on_join(user(server, clients), room, "y",
                           "<history since='2999-01-01T00:00:00Z'/>") == []
    assert history_on_join(user(server, clients), room, "x",
                           "<history since='1970-01-01T00:00:00Z'/>") == ["h0", "h1", "h2"]
    assert history_on_join(user(server, clients), room, "w", "<history seconds='3600'/>") == \
        ["h0", "h1", "h2"]
    assert history_on_join(user(server, clients), room, "v",
                           "<history seconds='3600' maxstanzas='1'/>") == ["h2"]


def test_7_2_18_groupchat_1_0_creates_instant_room(server, clients):
    a, b = user(server, clients), user(server, clients)
    room = unique("gc10")
    rj = rj_of(room)
    # No <x xmlns=muc/>: an old client gets an instant room, not a
    # locked one (§10.1.1), so that others can enter at once.
    a.send("<presence to='%s/old'/>" % rj)
    p = a.expect(lambda e: is_pres(rj + "/old")(e) and "110" in codes(e))
    assert item(p).get("affiliation") == "owner"
    own, _ = join(b, room, "bob")
    assert item(own).get("role") == "participant"


def test_7_3_occupant_changes_subject_when_allowed(server, clients):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["bob"], {"muc#roomconfig_changesubject": "1"})
    b = occ["bob"]
    b.send("<message to='%s' type='groupchat'><subject>by bob</subject></message>" % rj)
    for c in (a, b):
        m = c.expect(is_subject)
        assert m.get("from") == rj + "/bob" and m.findtext(q(CLIENT, "subject")) == "by bob"
    r = ok(b.iq("get", "<query xmlns='%s'/>" % INFO, to=rj))
    vals = {f.get("var"): f.findtext(q(XDATA, "value")) for f in r.iter(q(XDATA, "field"))}
    assert vals["muc#roominfo_subject"] == "by bob"


def test_7_5_private_message_errors(server, clients):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["bob"])
    outsider = user(server, clients)
    # §7.5: a non-occupant gets <not-acceptable/>, the recipient nothing.
    outsider.send("<message to='%s/bob' type='chat' id='p'><body>hi</body></message>" % rj)
    assert err_cond(outsider.expect_message(type_="error"))[1] == "not-acceptable"
    occ["bob"].expect_nothing(lambda e: e.tag == q(CLIENT, "message")
                              and e.findtext(q(CLIENT, "body")) == "hi", 0.3)
    # The delivered private message carries <x xmlns=muc#user/>.
    a.send("<message to='%s/bob' type='chat' id='p2'><body>pm</body></message>" % rj)
    m = occ["bob"].expect_message("pm", type_="chat")
    assert m.get("from") == rj + "/owner" and m.find(q(USER, "x")) is not None


def test_7_6_nickname_change(server, clients):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["bob", "carol"])
    b = occ["bob"]
    # §7.6: the nick in use by someone else: <conflict/>, type cancel,
    # from the requested room JID.
    b.send("<presence to='%s/carol'/>" % rj)
    e = b.expect(is_pres(rj + "/carol", "error"))
    assert err_cond(e) == ("cancel", "conflict")
    # A successful change: unavailable with 303 (and 110 for oneself) and
    # the new nick, then available presence under the new nick.
    b.send("<presence to='%s/bobby'/>" % rj)
    p = b.expect(is_pres(rj + "/bob", "unavailable"))
    assert {"303", "110"} <= codes(p) and item(p).get("nick") == "bobby"
    p = b.expect(is_pres(rj + "/bobby"))
    assert "110" in codes(p)
    p = occ["carol"].expect(is_pres(rj + "/bob", "unavailable"))
    assert "303" in codes(p) and "110" not in codes(p)
    occ["carol"].expect(is_pres(rj + "/bobby"))
    # Messages now come from the new nick.
    b.send("<message to='%s' type='groupchat'><body>renamed</body></message>" % rj)
    assert occ["carol"].expect_message("renamed").get("from") == rj + "/bobby"


def test_7_7_changing_availability_status(server, clients):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["bob"])
    occ["bob"].send("<presence to='%s/bob'><show>away</show><status>brb</status></presence>" % rj)
    p = a.expect(is_pres(rj + "/bob"))
    assert p.findtext(q(CLIENT, "show")) == "away" and p.findtext(q(CLIENT, "status")) == "brb"
    assert item(p).get("role") == "participant"
    p = occ["bob"].expect(is_pres(rj + "/bob"))
    assert "110" in codes(p) and p.findtext(q(CLIENT, "show")) == "away"


def test_7_9_invitation_with_continue(server, clients):
    a, c = user(server, clients), user(server, clients)
    rj, _ = room_with(a, clients, server, [])
    a.send("<message to='%s'><x xmlns='%s'><invite to='%s'><reason>join</reason>"
           "<continue thread='t123'/></invite></x></message>" % (rj, USER, c.jid))
    m = c.expect(lambda e: e.tag == q(CLIENT, "message") and e.find(q(USER, "x")) is not None)
    inv = m.find("%s/%s" % (q(USER, "x"), q(USER, "invite")))
    assert inv.get("from") == bare(a)
    cont = inv.find(q(USER, "continue"))
    assert cont is not None and cont.get("thread") == "t123"


def test_7_14_exit_with_status(server, clients):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["bob"])
    b = occ["bob"]
    b.send("<presence to='%s/bob' type='unavailable'><status>gone fishing</status></presence>" % rj)
    p = b.expect(is_pres(rj + "/bob", "unavailable"))
    assert "110" in codes(p) and item(p).get("role") == "none"
    p = a.expect(is_pres(rj + "/bob", "unavailable"))
    assert p.findtext(q(CLIENT, "status")) == "gone fishing"
    assert item(p).get("role") == "none"
    # Gone: groupchat is refused now.
    b.send("<message to='%s' type='groupchat' id='g'><body>x</body></message>" % rj)
    assert err_cond(b.expect_message(type_="error"))[1] == "not-acceptable"


# === §8 Moderator use cases ===============================================================


def test_8_1_participant_may_not_change_subject(server, clients):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["bob"])
    b = occ["bob"]
    b.send("<message to='%s' type='groupchat' id='s'><subject>nope</subject></message>" % rj)
    e = b.expect_message(type_="error")
    assert e.get("id") == "s" and err_cond(e) == ("auth", "forbidden")
    a.expect_nothing(is_subject, 0.3)
    # A moderator who is no admin (granted the role) may.
    ok(set_role(a, rj, "bob", "moderator"))
    b.send("<message to='%s' type='groupchat'><subject>mod topic</subject></message>" % rj)
    assert a.expect(is_subject).findtext(q(CLIENT, "subject")) == "mod topic"


def test_8_2_kick_errors(server, clients):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["mem", "adm", "vis"])
    ok(set_affil(a, rj, bare(occ["mem"]), "member"))
    ok(set_affil(a, rj, bare(occ["adm"]), "admin"))
    ok(set_role(a, rj, "mem", "moderator"))
    # A moderator who is a member cannot kick an admin; an admin cannot
    # kick an owner (§8.2: <not-allowed/>, type cancel).
    assert err_cond(set_role(occ["mem"], rj, "adm", "none")) == ("cancel", "not-allowed")
    assert err_cond(set_role(occ["adm"], rj, "owner", "none")) == ("cancel", "not-allowed")
    # A participant cannot kick at all (§8 <forbidden/>).
    assert err_cond(set_role(occ["vis"], rj, "mem", "none")) == ("auth", "forbidden")
    # An admin kicks a member-moderator: 307 to everyone, 110 to the kicked.
    ok(set_role(occ["adm"], rj, "mem", "none", "out"))
    p = occ["mem"].expect(is_pres(rj + "/mem", "unavailable"))
    assert {"307", "110"} <= codes(p) and item(p).get("role") == "none"
    p = occ["vis"].expect(is_pres(rj + "/mem", "unavailable"))
    assert "307" in codes(p) and item(p).findtext(q(USER, "reason")) == "out"


def test_8_3_8_4_grant_and_revoke_voice(server, clients):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["bob", "adm"], {"muc#roomconfig_moderatedroom": "1"})
    b = occ["bob"]
    ok(set_affil(a, rj, bare(occ["adm"]), "admin"))
    ok(set_role(a, rj, "bob", "participant"))
    b.expect(pres_with(rj + "/bob", lambda i: i.get("role") == "participant"))
    # §8.4: revoke voice: everyone sees the visitor role.
    ok(set_role(a, rj, "bob", "visitor", "quiet"))
    occ["adm"].expect(pres_with(rj + "/bob", lambda i: i.get("role") == "visitor"))
    p = b.expect(pres_with(rj + "/bob", lambda i: i.get("role") == "visitor"))
    assert "110" in codes(p)
    b.send("<message to='%s' type='groupchat' id='v'><body>x</body></message>" % rj)
    assert err_cond(b.expect_message(type_="error")) == ("auth", "forbidden")
    # Voice of an admin or owner cannot be removed by anyone.
    assert err_cond(set_role(a, rj, "adm", "visitor")) == ("cancel", "not-allowed")
    assert err_cond(set_role(occ["adm"], rj, "owner", "visitor")) == ("cancel", "not-allowed")
    # A visitor cannot grant voice.
    assert err_cond(set_role(b, rj, "bob", "participant")) == ("auth", "forbidden")


def test_8_4_revoke_voice_same_affiliation_not_allowed(server, clients):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["m1", "m2"], {"muc#roomconfig_moderatedroom": "1"})
    for n in ("m1", "m2"):
        ok(set_affil(a, rj, bare(occ[n]), "member"))
    ok(set_role(a, rj, "m1", "moderator"))
    assert err_cond(set_role(occ["m1"], rj, "m2", "visitor")) == ("cancel", "not-allowed")


def test_8_5_modify_voice_list(server, clients):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["bob", "carol", "adm"],
                        {"muc#roomconfig_moderatedroom": "1"})
    ok(set_affil(a, rj, bare(occ["adm"]), "admin"))
    ok(set_role(a, rj, "bob", "participant"))
    r = ok(get_list(a, rj, "role", "participant"))
    assert {i.get("nick") for i in r.iter(q(ADMIN, "item"))} == {"bob"}
    # One request with several items: bob loses voice, carol gains it.
    ok(admin_items(a, rj, "<item nick='bob' role='visitor'/><item nick='carol' role='participant'/>"))
    occ["adm"].expect(pres_with(rj + "/bob", lambda i: i.get("role") == "visitor"))
    occ["adm"].expect(pres_with(rj + "/carol", lambda i: i.get("role") == "participant"))
    r = ok(get_list(a, rj, "role", "participant"))
    assert {i.get("nick") for i in r.iter(q(ADMIN, "item"))} == {"carol"}
    # A participant may not read the voice list (§8 <forbidden/>).
    assert err_cond(get_list(occ["carol"], rj, "role", "participant")) == ("auth", "forbidden")
    # A request with one prohibited item (an admin's voice) is refused
    # whole with <not-allowed/>: bob keeps his role.
    r = admin_items(a, rj, "<item nick='bob' role='participant'/><item nick='adm' role='visitor'/>")
    assert err_cond(r) == ("cancel", "not-allowed")
    r = ok(get_list(a, rj, "role", "visitor"))
    assert {i.get("nick") for i in r.iter(q(ADMIN, "item"))} == {"bob"}


# === §9 Admin use cases ===================================================================


def test_9_1_ban_errors_and_ban_of_absent_user(server, clients):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["adm", "bob"])
    ok(set_affil(a, rj, bare(occ["adm"]), "admin"))
    # §9.1: an admin cannot ban an owner (<not-allowed/>, cancel).
    assert err_cond(set_affil(occ["adm"], rj, bare(a), "outcast")) == ("cancel", "not-allowed")
    # A participant cannot ban (§9 <forbidden/>, auth).
    assert err_cond(set_affil(occ["bob"], rj, bare(occ["adm"]), "outcast")) == ("auth", "forbidden")
    # A user who is not in the room can be banned, with a reason.
    ok(set_affil(occ["adm"], rj, "absent@localhost", "outcast", "troll"))
    r = ok(get_list(a, rj, "affiliation", "outcast"))
    its = {i.get("jid"): i.findtext(q(ADMIN, "reason")) for i in r.iter(q(ADMIN, "item"))}
    assert its == {"absent@localhost": "troll"}
    # An admin bans an occupant: 301 to everyone, actor and reason.
    ok(set_affil(occ["adm"], rj, bare(occ["bob"]), "outcast", "bye"))
    p = occ["bob"].expect(is_pres(rj + "/bob", "unavailable"))
    assert {"301", "110"} <= codes(p) and item(p).get("affiliation") == "outcast"
    p = a.expect(is_pres(rj + "/bob", "unavailable"))
    assert "301" in codes(p) and item(p).findtext(q(USER, "reason")) == "bye"
    assert item(p).find(q(USER, "actor")).get("nick") == "adm"


def test_9_1_admin_cannot_ban_himself(server, clients):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["adm"])
    ok(set_affil(a, rj, bare(occ["adm"]), "admin"))
    assert err_cond(set_affil(occ["adm"], rj, bare(occ["adm"]), "outcast")) == ("cancel", "conflict")


def test_9_1_owner_cannot_ban_himself(server, clients):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["own2"])
    ok(set_affil(a, rj, bare(occ["own2"]), "owner"))
    r = set_affil(a, rj, bare(a), "outcast")
    assert err_cond(r) == ("cancel", "conflict")


def test_9_2_modify_ban_list(server, clients):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["adm", "bob"])
    ok(set_affil(a, rj, bare(occ["adm"]), "admin"))
    ok(set_affil(a, rj, "old@localhost", "outcast"))
    # Several items at once: two bans, one lifted.
    ok(admin_items(occ["adm"], rj,
                   "<item jid='x1@localhost' affiliation='outcast'><reason>r1</reason></item>"
                   "<item jid='%s' affiliation='outcast'/>"
                   "<item jid='old@localhost' affiliation='none'/>" % bare(occ["bob"])))
    occ["bob"].expect(lambda e: is_pres(rj + "/bob", "unavailable")(e) and "301" in codes(e))
    assert list_jids(get_list(a, rj, "affiliation", "outcast")) == {"x1@localhost", bare(occ["bob"])}
    # §9.2: a list change with one prohibited item (an admin banning the
    # owner) applies none of them and is refused.
    r = admin_items(occ["adm"], rj, "<item jid='x2@localhost' affiliation='outcast'/>"
                    "<item jid='%s' affiliation='outcast'/>" % bare(a))
    assert (err_cond(r) or (None, None))[1] in ("not-allowed", "conflict")
    assert "x2@localhost" not in list_jids(get_list(a, rj, "affiliation", "outcast"))
    # Non-admins may neither read nor change the ban list.
    c = user(server, clients)
    join(c, rj.split("@")[0], "carol")
    assert err_cond(get_list(c, rj, "affiliation", "outcast")) == ("auth", "forbidden")
    assert err_cond(set_affil(c, rj, "x3@localhost", "outcast")) == ("auth", "forbidden")


def test_9_3_9_4_grant_and_revoke_membership(server, clients):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["bob", "carol"])
    b, c = occ["bob"], occ["carol"]
    # §9.3: everyone sees bob's new affiliation.
    ok(set_affil(a, rj, bare(b), "member", "welcome"))
    p = c.expect(pres_with(rj + "/bob", lambda i: i.get("affiliation") == "member"))
    assert item(p).get("role") == "participant"
    p = b.expect(pres_with(rj + "/bob", lambda i: i.get("affiliation") == "member"))
    assert "110" in codes(p)
    # A mere member may not grant membership (§9 <forbidden/>).
    assert err_cond(set_affil(b, rj, bare(c), "member")) == ("auth", "forbidden")
    # §9.4 in an open room: affiliation none, the user stays.
    ok(set_affil(a, rj, bare(b), "none"))
    c.expect(pres_with(rj + "/bob", lambda i: i.get("affiliation") == "none"))
    # §9.4 in a members-only room: the user is removed with 321.
    ok(set_affil(a, rj, bare(c), "member"))
    ok(configure(a, rj.split("@")[0], {"muc#roomconfig_membersonly": "1"}))
    b.expect(lambda e: is_pres(rj + "/bob", "unavailable")(e) and "322" in codes(e))
    ok(set_affil(a, rj, bare(c), "none"))
    p = c.expect(is_pres(rj + "/carol", "unavailable"))
    assert {"321", "110"} <= codes(p)
    p = a.expect(is_pres(rj + "/carol", "unavailable"))
    assert "321" in codes(p)


def test_9_5_modify_member_list(server, clients):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["adm", "bob"])
    ok(set_affil(a, rj, bare(occ["adm"]), "admin"))
    ok(admin_items(occ["adm"], rj, "<item jid='m1@localhost' affiliation='member'/>"
                   "<item jid='m2@localhost' affiliation='member' nick='two'/>"))
    assert list_jids(get_list(occ["adm"], rj, "affiliation", "member")) == \
        {"m1@localhost", "m2@localhost"}
    ok(admin_items(occ["adm"], rj, "<item jid='m1@localhost' affiliation='none'/>"))
    assert list_jids(get_list(a, rj, "affiliation", "member")) == {"m2@localhost"}
    # A participant who is no member: <forbidden/> for read and write.
    assert err_cond(get_list(occ["bob"], rj, "affiliation", "member")) == ("auth", "forbidden")
    r = admin_items(occ["bob"], rj, "<item jid='m3@localhost' affiliation='member'/>")
    assert err_cond(r) == ("auth", "forbidden")
    # An admin may not make someone an admin through the member list.
    r = admin_items(occ["adm"], rj, "<item jid='m4@localhost' affiliation='admin'/>")
    assert err_cond(r) == ("auth", "forbidden")


def test_9_6_9_7_grant_and_revoke_moderator(server, clients):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["adm", "adm2", "bob", "carol"])
    for n in ("adm", "adm2"):
        ok(set_affil(a, rj, bare(occ[n]), "admin"))
    # §9.6: an admin grants moderator status; everyone sees it.
    ok(set_role(occ["adm"], rj, "bob", "moderator"))
    p = occ["carol"].expect(pres_with(rj + "/bob", lambda i: i.get("role") == "moderator"))
    # A moderator who is no admin may not grant it (<forbidden/>).
    assert err_cond(set_role(occ["bob"], rj, "carol", "moderator")) == ("auth", "forbidden")
    # §9.7: revoke.
    ok(set_role(occ["adm"], rj, "bob", "participant"))
    occ["carol"].expect(pres_with(rj + "/bob", lambda i: i.get("role") == "participant"))
    # An admin cannot revoke moderator status from an admin or owner.
    assert err_cond(set_role(occ["adm"], rj, "adm2", "participant")) == ("cancel", "not-allowed")
    assert err_cond(set_role(occ["adm"], rj, "owner", "participant")) == ("cancel", "not-allowed")


def test_9_8_modify_moderator_list(server, clients):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["adm", "bob", "carol"])
    ok(set_affil(a, rj, bare(occ["adm"]), "admin"))
    r = ok(get_list(occ["adm"], rj, "role", "moderator"))
    assert {i.get("nick") for i in r.iter(q(ADMIN, "item"))} == {"owner", "adm"}
    ok(admin_items(occ["adm"], rj, "<item nick='bob' role='moderator'/>"
                   "<item nick='carol' role='moderator'/>"))
    r = ok(get_list(a, rj, "role", "moderator"))
    assert {i.get("nick") for i in r.iter(q(ADMIN, "item"))} == {"owner", "adm", "bob", "carol"}
    # A moderator who is no admin may not read the moderator list.
    assert err_cond(get_list(occ["bob"], rj, "role", "moderator")) == ("auth", "forbidden")
    # Revoking an owner's moderator status within a list is refused whole.
    r = admin_items(occ["adm"], rj, "<item nick='bob' role='participant'/>"
                    "<item nick='owner' role='participant'/>")
    assert err_cond(r) == ("cancel", "not-allowed")
    r = ok(get_list(a, rj, "role", "moderator"))
    assert "bob" in {i.get("nick") for i in r.iter(q(ADMIN, "item"))}


# === §10 Owner use cases ==================================================================


def test_10_1_3_reserved_room(server, clients):
    a, b = user(server, clients), user(server, clients)
    room = unique("resv")
    rj = rj_of(room)
    own, _ = join(a, room, "owner")
    assert "201" in codes(own)
    # The owner asks for the configuration form of the locked room.
    r = ok(a.iq("get", "<query xmlns='%s'/>" % OWNER, to=rj))
    form = r.find("%s/%s" % (q(OWNER, "query"), q(XDATA, "x")))
    assert form.get("type") == "form"
    vals = {f.get("var"): f.findtext(q(XDATA, "value")) for f in form.findall(q(XDATA, "field"))}
    assert vals["FORM_TYPE"] == "http://jabber.org/protocol/muc#roomconfig"
    assert "muc#roomconfig_membersonly" in vals
    # §10.1.3: a password-protected room with a blank password violates
    # the service's policy: <not-acceptable/>; the room stays locked.
    r = configure(a, room, {"muc#roomconfig_passwordprotectedroom": "1",
                            "muc#roomconfig_roomsecret": ""})
    assert err_cond(r) == ("modify", "not-acceptable")
    e = join(b, room, "bob", expect_ok=False)
    assert err_cond(e) == ("cancel", "item-not-found")
    ok(configure(a, room, {"muc#roomconfig_roomname": "Reserved"}))
    join(b, room, "bob")


def test_10_1_3_cancel_destroys_locked_room(server, clients):
    a, b = user(server, clients), user(server, clients)
    room = unique("cancel")
    rj = rj_of(room)
    join(a, room, "owner")
    ok(a.iq("set", "<query xmlns='%s'><x xmlns='%s' type='cancel'/></query>" % (OWNER, XDATA), to=rj))
    # The room is gone: whoever enters next creates it anew (201).
    own, _ = join(b, room, "bob")
    assert "201" in codes(own) and item(own).get("affiliation") == "owner"


def test_10_2_subsequent_configuration(server, clients):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["adm"])
    ok(set_affil(a, rj, bare(occ["adm"]), "admin"))
    # §10.2: only owners: an admin gets <forbidden/> for get and set.
    r = occ["adm"].iq("get", "<query xmlns='%s'/>" % OWNER, to=rj)
    assert err_cond(r) == ("auth", "forbidden")
    r = configure(occ["adm"], rj.split("@")[0], {"muc#roomconfig_roomname": "mine"})
    assert err_cond(r) == ("auth", "forbidden")
    # §10.2.1: a change an occupant does not see in presence is announced
    # with status 104.
    ok(configure(a, rj.split("@")[0], {"muc#roomconfig_roomname": "Renamed"}))
    assert "104" in status_message(occ["adm"], rj)
    r = ok(a.iq("get", "<query xmlns='%s'/>" % OWNER, to=rj))
    vals = {f.get("var"): f.findtext(q(XDATA, "value")) for f in r.iter(q(XDATA, "field"))}
    assert vals["muc#roomconfig_roomname"] == "Renamed"


def test_10_3_10_4_grant_and_revoke_owner(server, clients):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["adm", "bob"])
    ok(set_affil(a, rj, bare(occ["adm"]), "admin"))
    # §10.3: an admin may not grant owner status (<forbidden/>).
    assert err_cond(set_affil(occ["adm"], rj, bare(occ["bob"]), "owner")) == ("auth", "forbidden")
    ok(set_affil(a, rj, bare(occ["bob"]), "owner"))
    p = occ["adm"].expect(pres_with(rj + "/bob", lambda i: i.get("affiliation") == "owner"))
    assert item(p).get("role") == "moderator"
    # §10.4: an admin may not revoke it either (only owners edit the owner
    # list; more cases: test_10_4_10_7_admin_revokes_owner_or_admin_forbidden).
    assert err_cond(set_affil(occ["adm"], rj, bare(occ["bob"]), "admin")) == ("auth", "forbidden")
    assert bare(occ["bob"]) in list_jids(get_list(a, rj, "affiliation", "owner"))
    # An owner may step down while another owner remains ...
    ok(set_affil(a, rj, bare(a), "admin"))
    occ["bob"].expect(pres_with(rj + "/owner", lambda i: i.get("affiliation") == "admin"))
    # ... but the last owner may not (<conflict/>).
    assert err_cond(set_affil(occ["bob"], rj, bare(occ["bob"]), "admin")) == ("cancel", "conflict")


def test_10_5_modify_owner_list(server, clients):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["adm"])
    ok(set_affil(a, rj, bare(occ["adm"]), "admin"))
    assert list_jids(get_list(a, rj, "affiliation", "owner")) == {bare(a)}
    # Semi-anonymous room: a non-owner reading the list gets <forbidden/>.
    assert err_cond(get_list(occ["adm"], rj, "affiliation", "owner")) == ("auth", "forbidden")
    # Only owners modify it.
    r = admin_items(occ["adm"], rj, "<item jid='o2@localhost' affiliation='owner'/>")
    assert err_cond(r) == ("auth", "forbidden")
    ok(admin_items(a, rj, "<item jid='o2@localhost' affiliation='owner'/>"
                   "<item jid='o3@localhost' affiliation='owner'/>"))
    assert list_jids(get_list(a, rj, "affiliation", "owner")) == \
        {bare(a), "o2@localhost", "o3@localhost"}
    ok(admin_items(a, rj, "<item jid='o3@localhost' affiliation='none'/>"))
    assert list_jids(get_list(a, rj, "affiliation", "owner")) == {bare(a), "o2@localhost"}


def test_10_6_10_7_grant_and_revoke_admin(server, clients):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["bob", "carol"])
    b, c = occ["bob"], occ["carol"]
    ok(set_affil(a, rj, bare(b), "admin"))
    p = c.expect(pres_with(rj + "/bob", lambda i: i.get("affiliation") == "admin"))
    assert item(p).get("role") == "moderator"         # §5.1.2
    # An admin may not make another admin (§10.6: owners only).
    assert err_cond(set_affil(b, rj, bare(c), "admin")) == ("auth", "forbidden")
    # §10.7: revoked to member: moderator role goes with it.
    ok(set_affil(a, rj, bare(b), "member"))
    p = c.expect(pres_with(rj + "/bob", lambda i: i.get("affiliation") == "member"))
    assert item(p).get("role") == "participant"


def test_10_8_modify_admin_list(server, clients):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["adm"])
    ok(admin_items(a, rj, "<item jid='%s' affiliation='admin'/>"
                   "<item jid='a2@localhost' affiliation='admin'/>" % bare(occ["adm"])))
    assert list_jids(get_list(a, rj, "affiliation", "admin")) == {bare(occ["adm"]), "a2@localhost"}
    assert err_cond(get_list(occ["adm"], rj, "affiliation", "admin")) == ("auth", "forbidden")
    r = admin_items(occ["adm"], rj, "<item jid='a2@localhost' affiliation='none'/>")
    assert err_cond(r) == ("auth", "forbidden")     # §10.8: only owners
    assert "a2@localhost" in list_jids(get_list(a, rj, "affiliation", "admin"))
    ok(admin_items(a, rj, "<item jid='a2@localhost' affiliation='none'/>"))
    assert list_jids(get_list(a, rj, "affiliation", "admin")) == {bare(occ["adm"])}


@pytest.mark.parametrize("target,new", [("owner", "admin"), ("owner", "member"),
                                        ("admin", "member"), ("admin", "none")])
def test_10_4_10_7_admin_revokes_owner_or_admin_forbidden(server, clients, target, new):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["adm", "other"])
    ok(set_affil(a, rj, bare(occ["adm"]), "admin"))
    ok(set_affil(a, rj, bare(occ["other"]), target))
    assert err_cond(set_affil(occ["adm"], rj, bare(occ["other"]), new)) == ("auth", "forbidden")


def test_10_9_destroy_by_admin_forbidden(server, clients):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["adm"])
    ok(set_affil(a, rj, bare(occ["adm"]), "admin"))
    r = occ["adm"].iq("set", "<query xmlns='%s'><destroy/></query>" % OWNER, to=rj)
    assert err_cond(r) == ("auth", "forbidden")
    ok(occ["adm"].iq("get", "<query xmlns='%s'/>" % INFO, to=rj))   # still there
    ok(a.iq("set", "<query xmlns='%s'><destroy><reason>done</reason></destroy></query>"
            % OWNER, to=rj))
    for c, nick in ((a, "owner"), (occ["adm"], "adm")):
        p = c.expect(is_pres(rj + "/" + nick, "unavailable"))
        d = p.find("%s/%s" % (q(USER, "x"), q(USER, "destroy")))
        assert d is not None and d.findtext(q(USER, "reason")) == "done"


# === persistence across a restart ==========================================================


def test_persistent_lists_and_config_survive_restart_and_destroy_too(server_factory, clients):
    s = server_factory(modules=MODULES)
    accts = {n: make_account(s) for n in ("own", "adm", "mem", "out")}

    def login(n):
        c = clients(s.c2s_port)
        c.login(*accts[n], resource="r", presence=True)
        return c

    def jid(n):
        return "%s@localhost" % accts[n][0]

    a = login("own")
    room = unique("keep")
    rj = rj_of(room)
    instant(a, room, "owner")
    ok(configure(a, room, {"muc#roomconfig_persistentroom": "1",
                           "muc#roomconfig_membersonly": "1",
                           "muc#roomconfig_moderatedroom": "1",
                           "muc#roomconfig_whois": "anyone",
                           "muc#roomconfig_roomdesc": "kept"}))
    ok(admin_items(a, rj, "<item jid='%s' affiliation='admin'/>"
                   "<item jid='%s' affiliation='member'/>"
                   "<item jid='%s' affiliation='outcast'><reason>no</reason></item>"
                   % (jid("adm"), jid("mem"), jid("out"))))
    a.close()
    s.stop()
    s.start()
    a = login("own")
    r = ok(a.iq("get", "<query xmlns='%s'/>" % OWNER, to=rj))
    vals = {f.get("var"): f.findtext(q(XDATA, "value")) for f in r.iter(q(XDATA, "field"))}
    assert vals["muc#roomconfig_membersonly"] == "1" and vals["muc#roomconfig_moderatedroom"] == "1"
    assert vals["muc#roomconfig_whois"] == "anyone" and vals["muc#roomconfig_roomdesc"] == "kept"
    r = ok(get_list(a, rj, "affiliation", "outcast"))
    assert {i.get("jid"): i.findtext(q(ADMIN, "reason")) for i in r.iter(q(ADMIN, "item"))} == \
        {jid("out"): "no"}
    assert list_jids(get_list(a, rj, "affiliation", "admin")) == {jid("adm")}
    e = join(login("out"), room, "out", expect_ok=False)
    assert err_cond(e) == ("auth", "forbidden")
    own, _ = join(login("mem"), room, "mem")
    assert (item(own).get("affiliation"), item(own).get("role")) == ("member", "participant")
    assert "100" in codes(own)
    own, _ = join(login("adm"), room, "adm")
    assert (item(own).get("affiliation"), item(own).get("role")) == ("admin", "moderator")
    # Destroying a persistent room is persistent too.
    ok(a.iq("set", "<query xmlns='%s'><destroy/></query>" % OWNER, to=rj))
    a.close()
    s.stop()
    s.start()
    c = login("mem")
    r = c.iq("get", "<query xmlns='%s'/>" % INFO, to=rj)
    assert err_cond(r) == ("cancel", "item-not-found")


# === MAM on rooms (XEP-0313 §5 with XEP-0045 access rules) ==================================


def mam_count(c, rj):
    r = c.iq("set", "<query xmlns='%s'/>" % MAM, to=rj)
    return r


def test_room_archive_access_and_logging_switch(server, clients):
    a = user(server, clients)
    rj, occ = room_with(a, clients, server, ["bob"])
    room = rj.split("@")[0]
    a.send("<message to='%s' type='groupchat'><body>one</body></message>" % rj)
    a.expect_message("one")
    # Logging off: not archived.
    ok(configure(a, room, {"muc#roomconfig_enablelogging": "0"}))
    a.send("<message to='%s' type='groupchat'><body>off the record</body></message>" % rj)
    a.expect_message("off the record")
    ok(configure(a, room, {"muc#roomconfig_enablelogging": "1"}))
    r = ok(mam_count(occ["bob"], rj))
    fin = r.find(q(MAM, "fin"))
    assert fin.find("{http://jabber.org/protocol/rsm}set/{http://jabber.org/protocol/rsm}count").text == "1"
    res = occ["bob"].expect(lambda e: e.tag == q(CLIENT, "message") and e.find(q(MAM, "result")) is not None)
    fwd = res.find("%s/{urn:xmpp:forward:0}forwarded" % q(MAM, "result"))
    m = fwd.find(q(CLIENT, "message"))
    assert m.findtext(q(CLIENT, "body")) == "one" and m.get("from") == rj + "/owner"
    # An outcast may not read the archive; in a members-only room,
    # neither may a non-member.
    out, non = user(server, clients), user(server, clients)
    ok(set_affil(a, rj, bare(out), "outcast"))
    assert err_cond(mam_count(out, rj)) == ("auth", "forbidden")
    ok(set_affil(a, rj, bare(occ["bob"]), "member"))
    ok(configure(a, room, {"muc#roomconfig_membersonly": "1"}))
    assert err_cond(mam_count(non, rj)) == ("auth", "forbidden")
    ok(mam_count(occ["bob"], rj))


# === several slixmpp clients ================================================================


slixmpp = pytest.importorskip("slixmpp")
from harness.slix import Client, disconnect, run, wait_for  # noqa: E402
from slixmpp.exceptions import IqError  # noqa: E402


async def slix_user(server, room=None, nick=None):
    u, p = make_account(server)
    c = Client("%s@localhost/s" % u, p, "SCRAM-SHA-1", plugins=("xep_0045",))
    c.connect(("127.0.0.1", server.c2s_port))
    await asyncio.wait_for(asyncio.shield(c.started), 10)
    if room:
        await c.plugin["xep_0045"].join_muc_wait(room, nick, maxstanzas=0)
    return c


async def iq_error(coro):
    try:
        await coro
    except IqError as e:
        return e.iq["error"]["type"], e.iq["error"]["condition"]
    raise AssertionError("expected an IQ error")


def test_slixmpp_admin_and_owner_use_cases(server):
    """§9.1/§9.2/§9.3/§10.6/§10.9 with four slixmpp clients."""
    room = "%s@%s" % (unique("slx"), SERVICE)

    async def scenario():
        owner = await slix_user(server, room, "owner")
        m = owner.plugin["xep_0045"]
        await m.set_room_config(room, await m.get_room_config(room))
        adm = await slix_user(server, room, "adm")
        bob = await slix_user(server, room, "bob")
        carol = await slix_user(server, room, "carol")
        await m.set_affiliation(room, "admin", jid=adm.boundjid.bare)
        ma = adm.plugin["xep_0045"]
        # §9.1 admin bans the owner: not-allowed; a participant bans: forbidden.
        assert await iq_error(ma.set_affiliation(room, "outcast", jid=owner.boundjid.bare)) == \
            ("cancel", "not-allowed")
        assert await iq_error(bob.plugin["xep_0045"].set_affiliation(
            room, "outcast", jid=carol.boundjid.bare)) == ("auth", "forbidden")
        # §9.3 membership for bob, seen by carol's client.
        await ma.set_affiliation(room, "member", jid=bob.boundjid.bare)
        await wait_for(lambda: carol.plugin["xep_0045"].get_jid_property(
            room, "bob", "affiliation") == "member", what="bob's affiliation at carol")
        assert await ma.get_affiliation_list(room, "member") == [bob.boundjid.bare]
        # §9.1 the admin bans carol: she leaves everyone's roster.
        await ma.set_affiliation(room, "outcast", jid=carol.boundjid.bare, reason="bye")
        await wait_for(lambda: "carol" not in m.get_roster(room), what="carol banned")
        await wait_for(lambda: "carol" not in bob.plugin["xep_0045"].get_roster(room))
        assert await ma.get_affiliation_list(room, "outcast") == [carol.boundjid.bare]
        # §10.6: only the owner reads the admin list.
        assert await iq_error(ma.get_affiliation_list(room, "admin")) == ("auth", "forbidden")
        assert await m.get_affiliation_list(room, "admin") == [adm.boundjid.bare]
        # §10.9: the admin may not destroy; the owner does, everyone leaves.
        assert await iq_error(ma.destroy(room)) == ("auth", "forbidden")
        await m.destroy(room, reason="end")
        await wait_for(lambda: room not in bob.plugin["xep_0045"].get_joined_rooms()
                       or "bob" not in bob.plugin["xep_0045"].get_roster(room),
                       what="bob out of the destroyed room")
        await disconnect(owner, adm, bob, carol)
    run(scenario(), deadline=40)
