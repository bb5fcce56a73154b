"""XEP-0049 Private XML Storage against a real parleyd: store and read back
by (element, namespace), only for the account's own resources, the errors
of §2.3 and §3, the server's reserved urn:xmpp:parley: namespaces, the
size limit, and removal with the account."""

import os
import sqlite3
import time

import pytest

from conftest import PASSWORD, make_account
from harness.server import ParleyServer
from harness.xmpp import NS_CLIENT, NS_DISCO_INFO, q, stanza_error, tostr

NS_PRIVATE = "jabber:iq:private"
MODULES = ("disco", "private")


@pytest.fixture(scope="module")
def server(request, cert):
    s = ParleyServer("test_private", cert, modules=MODULES)
    s.start()
    yield s
    s.check_stop()


def login(server, clients, user=None, resource=None):
    if user is None:
        user, _ = make_account(server)
    c = clients(server.c2s_port)
    c.login(user, PASSWORD, resource=resource)
    return c


def priv(c, type_, inner, to=None):
    return c.iq(type_, "<query xmlns='%s'>%s</query>" % (NS_PRIVATE, inner), to=to)


def stored(el):
    qy = el.find(q(NS_PRIVATE, "query"))
    assert qy is not None, tostr(el)
    return list(qy)


def kv_rows(server, user, area):
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(server.dir, "parley.db"), uri=True)
    try:
        return db.execute("SELECT key FROM kv WHERE user=? AND area=?",
                          (user, area)).fetchall()
    finally:
        db.close()


def test_xep0049_disco_feature(server, clients):
    c = login(server, clients)
    el = c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to=c.jid.split("/")[0])
    assert NS_PRIVATE in {f.get("var") for f in el.iter(q(NS_DISCO_INFO, "feature"))}, tostr(el)


def test_xep0049_s2_3_store_and_retrieve(server, clients):
    user, _ = make_account(server)
    c = login(server, clients, user, "one")
    # Nothing stored: the element asked for comes back empty.
    el = priv(c, "get", "<exodus xmlns='exodus:prefs'/>")
    assert el.get("type") == "result", tostr(el)
    (got,) = stored(el)
    assert got.tag == "{exodus:prefs}exodus" and len(got) == 0, tostr(el)
    el = priv(c, "set", "<exodus xmlns='exodus:prefs'><defaultnick>Hamlet</defaultnick>"
                        "<x xmlns='urn:other' a='1'/></exodus>")
    assert el.get("type") == "result", tostr(el)
    # Read back from another resource (storage, not the session).
    c2 = login(server, clients, user, "two")
    (got,) = stored(priv(c2, "get", "<exodus xmlns='exodus:prefs'/>"))
    assert got.find("{exodus:prefs}defaultnick").text == "Hamlet"
    assert got.find("{urn:other}x").get("a") == "1"
    # Same namespace, another element name: a separate item.
    (other,) = stored(priv(c2, "get", "<other xmlns='exodus:prefs'/>"))
    assert len(other) == 0
    # Replaced by a new set; several elements in one set.
    el = priv(c, "set", "<exodus xmlns='exodus:prefs'><defaultnick>Ophelia</defaultnick></exodus>"
                        "<storage xmlns='storage:bookmarks'><conference jid='r@muc'/></storage>")
    assert el.get("type") == "result", tostr(el)
    (got,) = stored(priv(c, "get", "<exodus xmlns='exodus:prefs'/>"))
    assert got.find("{exodus:prefs}defaultnick").text == "Ophelia"
    (bm,) = stored(priv(c, "get", "<storage xmlns='storage:bookmarks'/>"))
    assert bm.find("{storage:bookmarks}conference").get("jid") == "r@muc"
    # With 'to' set to the own bare JID: the same.
    el = priv(c, "get", "<storage xmlns='storage:bookmarks'/>", to=user + "@localhost")
    assert el.get("type") == "result", tostr(el)


def test_xep0049_s2_3_errors(server, clients):
    c = login(server, clients)
    cases = [
        ("set", "", "modify", "not-acceptable"),                   # nothing to store
        ("get", "", "modify", "bad-request"),                      # "Bad Format"
        ("get", "<a xmlns='x:a'/><b xmlns='x:b'/>", "modify", "bad-request"),
        ("set", "<vCard xmlns='vcard-temp'><FN>H</FN></vCard>", "modify", "not-acceptable"),
        ("get", "<query xmlns='jabber:iq:roster'/>", "modify", "not-acceptable"),
        ("set", "<x xmlns='http://jabber.org/protocol/muc'/>", "modify", "not-acceptable"),
        ("set", "<x xmlns=''/>", "modify", "bad-request"),
    ]
    for type_, inner, etype, cond in cases:
        el = priv(c, type_, inner)
        err = stanza_error(el)
        assert err is not None and err[:2] == (etype, cond), "%s %r: %s" % (type_, inner, tostr(el))
        assert err[2], "no <text/>: %s" % tostr(el)


def test_xep0049_s3_other_users_data_forbidden(server, clients):
    owner, _ = make_account(server)
    c_owner = login(server, clients, owner)
    assert priv(c_owner, "set", "<n xmlns='urn:n'>secret</n>").get("type") == "result"
    c = login(server, clients)
    for type_, inner in (("get", "<n xmlns='urn:n'/>"), ("set", "<n xmlns='urn:n'>mine</n>")):
        el = priv(c, type_, inner, to=owner + "@localhost")
        assert stanza_error(el)[:2] == ("cancel", "forbidden"), tostr(el)
    (got,) = stored(priv(c_owner, "get", "<n xmlns='urn:n'/>"))
    assert got.text == "secret"


def test_parley_reserved_namespace_refused(server, clients):
    """urn:xmpp:parley:* belongs to the server (ban records, issue 5)."""
    user, _ = make_account(server)
    c = login(server, clients, user)
    for type_, inner in (("get", "<ban xmlns='urn:xmpp:parley:ban:0'/>"),
                         ("set", "<ban xmlns='urn:xmpp:parley:ban:0'>x</ban>"),
                         ("set", "<ok xmlns='urn:ok'/><ban xmlns='urn:xmpp:parley:x'/>")):
        el = priv(c, type_, inner)
        err = stanza_error(el)
        assert err is not None and err[1] == "not-acceptable", tostr(el)
        assert "reserved" in (err[2] or ""), tostr(el)
    # Nothing of the refused set was stored, not even its allowed part.
    assert kv_rows(server, user, "private") == []


def test_xep0049_size_limit_and_unregister(server_factory, clients):
    s = server_factory(modules=MODULES, start=False)
    s.write_config(s.config_text().replace("private: {}", "private: {max_size: 512}"))
    s.start()
    user, _ = make_account(s)
    c = login(s, clients, user)
    el = priv(c, "set", "<big xmlns='urn:big'>%s</big>" % ("x" * 600))
    err = stanza_error(el)
    assert err[:2] == ("modify", "not-acceptable") and "512" in err[2], tostr(el)
    assert priv(c, "set", "<small xmlns='urn:big'>%s</small>" % ("x" * 300)).get("type") == "result"
    assert kv_rows(s, user, "private") == [("{urn:big}small",)]
    c.close()
    assert s.ctl("unregister", user, "localhost").returncode == 0
    deadline = time.monotonic() + 5
    while kv_rows(s, user, "private") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert kv_rows(s, user, "private") == []
