"""XEP-0054 vcard-temp against a real parleyd: own vCard set/get (§3.1,
§3.2), other users' vCards answered by the server at the bare JID (§3.3),
the disco feature (§4), the size limit, and removal with the account."""

import os
import sqlite3
import time

import pytest

from conftest import PASSWORD, make_account
from harness.server import ParleyServer
from harness.xmpp import NS_DISCO_INFO, q, stanza_error, tostr

NS_VCARD = "vcard-temp"
MODULES = ("disco", "vcard")
CARD = ("<vCard xmlns='vcard-temp'><FN>Peter Saint-Andre</FN><N><FAMILY>Saint-Andre</FAMILY>"
        "<GIVEN>Peter</GIVEN><MIDDLE/></N><NICKNAME>stpeter</NICKNAME></vCard>")


@pytest.fixture(scope="module")
def server(request, cert):
    s = ParleyServer("test_vcard", cert, modules=MODULES)
    s.start()
    yield s
    s.check_stop()


def login(server, clients, user=None):
    if user is None:
        user, _ = make_account(server)
    c = clients(server.c2s_port)
    c.login(user, PASSWORD)
    return c


def card(el):
    v = el.find(q(NS_VCARD, "vCard"))
    assert v is not None, tostr(el)
    return v


def kv_rows(server, user, area):
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(server.dir, "parley.db"), uri=True)
    try:
        return db.execute("SELECT key FROM kv WHERE user=? AND area=?", (user, area)).fetchall()
    finally:
        db.close()


def test_xep0054_s4_disco_feature(server, clients):
    c = login(server, clients)
    for to in ("localhost", c.jid.split("/")[0]):
        el = c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to=to)
        assert NS_VCARD in {f.get("var") for f in el.iter(q(NS_DISCO_INFO, "feature"))}, tostr(el)


def test_xep0054_s3_1_s3_2_own_vcard(server, clients):
    user, _ = make_account(server)
    c = login(server, clients, user)
    # §3.1: none yet: an empty <vCard/>.
    el = c.iq("get", "<vCard xmlns='vcard-temp'/>")
    assert el.get("type") == "result" and len(card(el)) == 0, tostr(el)
    el = c.iq("set", CARD)
    assert el.get("type") == "result", tostr(el)
    el = c.iq("get", "<vCard xmlns='vcard-temp'/>")
    v = card(el)
    assert v.find(q(NS_VCARD, "FN")).text == "Peter Saint-Andre"
    assert v.find("%s/%s" % (q(NS_VCARD, "N"), q(NS_VCARD, "GIVEN"))).text == "Peter"
    # A set replaces the whole vCard (§3.2: no partial update).
    assert c.iq("set", "<vCard xmlns='vcard-temp'><FN>Other</FN></vCard>").get("type") == "result"
    v = card(c.iq("get", "<vCard xmlns='vcard-temp'/>", to=user + "@localhost"))
    assert [x.tag for x in v] == [q(NS_VCARD, "FN")] and v[0].text == "Other"


def test_xep0054_s3_3_other_users(server, clients):
    owner, _ = make_account(server)
    c_owner = login(server, clients, owner)
    c = login(server, clients)
    el = c.iq("get", "<vCard xmlns='vcard-temp'/>", to=owner + "@localhost")
    # No vCard, and no such account: the same <service-unavailable/>.
    assert stanza_error(el)[:2] == ("cancel", "service-unavailable"), tostr(el)
    el2 = c.iq("get", "<vCard xmlns='vcard-temp'/>", to="nobody-here@localhost")
    assert stanza_error(el2)[1] == "service-unavailable", tostr(el2)
    assert c_owner.iq("set", CARD).get("type") == "result"
    el = c.iq("get", "<vCard xmlns='vcard-temp'/>", to=owner + "@localhost")
    assert el.get("type") == "result" and el.get("from") == owner + "@localhost", tostr(el)
    assert card(el).find(q(NS_VCARD, "NICKNAME")).text == "stpeter"
    # Answered by the server, not forwarded to the owner's client.
    c_owner.expect_nothing(lambda e: e.find(q(NS_VCARD, "vCard")) is not None, timeout=0.5)
    # §3.2: nobody sets another user's vCard.
    el = c.iq("set", "<vCard xmlns='vcard-temp'><FN>Mallory</FN></vCard>", to=owner + "@localhost")
    assert stanza_error(el)[:2] == ("auth", "forbidden"), tostr(el)
    assert stanza_error(el)[2], tostr(el)
    v = card(c.iq("get", "<vCard xmlns='vcard-temp'/>", to=owner + "@localhost"))
    assert v.find(q(NS_VCARD, "FN")).text == "Peter Saint-Andre"


def test_xep0054_size_limit_and_unregister(server_factory, clients):
    s = server_factory(modules=MODULES, start=False)
    s.write_config(s.config_text().replace("vcard: {}", "vcard: {max_size: 1024}"))
    s.start()
    user, _ = make_account(s)
    c = login(s, clients, user)
    big = "<vCard xmlns='vcard-temp'><DESC>%s</DESC></vCard>" % ("x" * 1100)
    el = c.iq("set", big)
    err = stanza_error(el)
    assert err[:2] == ("modify", "not-acceptable") and "1024" in err[2], tostr(el)
    assert len(card(c.iq("get", "<vCard xmlns='vcard-temp'/>"))) == 0   # unchanged
    assert c.iq("set", CARD).get("type") == "result"
    assert kv_rows(s, user, "vcard") == [("vcard",)]
    c.close()
    assert s.ctl("unregister", user, "localhost").returncode == 0
    deadline = time.monotonic() + 5
    while kv_rows(s, user, "vcard") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert kv_rows(s, user, "vcard") == []


def test_xep0054_default_limit_is_64k(server, clients):
    c = login(server, clients)
    el = c.iq("set", "<vCard xmlns='vcard-temp'><DESC>%s</DESC></vCard>" % ("y" * 40000))
    assert el.get("type") == "result", tostr(el)
