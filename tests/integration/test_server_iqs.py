"""IQs answered by the server: XEP-0030 disco, XEP-0199 ping, XEP-0092
version, XEP-0202 time (XEP-0082 formats); unknown namespaces get
<service-unavailable/> (RFC 6120 §8.4)."""

import datetime
import re

import pytest

from harness.xmpp import (NS_CLIENT, NS_DISCO_INFO, NS_DISCO_ITEMS, NS_TIME,
                          NS_VERSION, q, stanza_error, tostr)


@pytest.fixture(scope="module")
def c(server, request):
    from conftest import make_account
    from harness.xmpp import RawClient
    user, pw = make_account(server)
    cl = RawClient(server.c2s_port)
    cl.login(user, pw, resource="iq", presence=True)
    yield cl
    cl.close()


def test_xep0030_disco_info_server(c):
    el = c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to="localhost")
    assert el.get("type") == "result", tostr(el)
    assert el.get("from") == "localhost"
    qy = el.find(q(NS_DISCO_INFO, "query"))
    ids = [(i.get("category"), i.get("type")) for i in qy.findall(q(NS_DISCO_INFO, "identity"))]
    assert ("server", "im") in ids, tostr(el)
    feats = {f.get("var") for f in qy.findall(q(NS_DISCO_INFO, "feature"))}
    need = {NS_DISCO_INFO, NS_DISCO_ITEMS, "urn:xmpp:ping", NS_VERSION, NS_TIME}
    assert need <= feats, "missing %s" % (need - feats)


def test_xep0030_disco_info_second_host(c):
    el = c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to="example.test")
    assert el.get("type") == "result", tostr(el)
    assert el.get("from") == "example.test"


def test_xep0030_disco_items_server(c):
    el = c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_ITEMS, to="localhost")
    assert el.get("type") == "result", tostr(el)
    assert el.find(q(NS_DISCO_ITEMS, "query")) is not None, tostr(el)


def test_xep0030_disco_info_unknown_node(c):
    el = c.iq("get", "<query xmlns='%s' node='no-such-node'/>" % NS_DISCO_INFO, to="localhost")
    assert el.get("type") == "error", tostr(el)
    assert stanza_error(el)[1] == "item-not-found", tostr(el)


def test_xep0030_disco_info_own_account(c):
    bare = c.jid.split("/")[0]
    el = c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to=bare)
    assert el.get("type") == "result", tostr(el)
    qy = el.find(q(NS_DISCO_INFO, "query"))
    ids = [(i.get("category"), i.get("type")) for i in qy.findall(q(NS_DISCO_INFO, "identity"))]
    assert ("account", "registered") in ids, tostr(el)


def test_xep0199_ping_server(c):
    el = c.ping("localhost")
    assert el.get("type") == "result", tostr(el)
    assert el.get("from") == "localhost"
    assert len(list(el)) == 0


def test_xep0199_ping_without_to(c):
    """An IQ without 'to' is handled by the server on behalf of the
    account (RFC 6120 §10.3.3)."""
    assert c.ping(to=None).get("type") == "result"


def test_xep0092_version(c):
    el = c.iq("get", "<query xmlns='%s'/>" % NS_VERSION, to="localhost")
    assert el.get("type") == "result", tostr(el)
    qy = el.find(q(NS_VERSION, "query"))
    assert qy.findtext(q(NS_VERSION, "name")) == "Parley"
    assert qy.findtext(q(NS_VERSION, "version")), tostr(el)


def test_xep0202_time(c):
    el = c.iq("get", "<time xmlns='%s'/>" % NS_TIME, to="localhost")
    assert el.get("type") == "result", tostr(el)
    t = el.find(q(NS_TIME, "time"))
    tzo = t.findtext(q(NS_TIME, "tzo"))
    utc = t.findtext(q(NS_TIME, "utc"))
    assert tzo and re.fullmatch(r"[+-]\d\d:\d\d|Z", tzo), tzo
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z", utc or "")
    assert m, utc
    when = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - when).total_seconds()) < 60


@pytest.mark.parametrize("payload", ["<query xmlns='urn:example:nothing'/>",
                                     "<query xmlns='jabber:iq:nonexistent'/>"])
def test_rfc6120_8_4_unknown_namespace_service_unavailable(c, payload):
    el = c.iq("get", payload, to="localhost")
    assert el.get("type") == "error", tostr(el)
    err = stanza_error(el)
    assert err[:2] == ("cancel", "service-unavailable"), tostr(el)
    assert el.get("id")


@pytest.mark.parametrize("payload", ["<ping xmlns='urn:xmpp:ping'/>",
                                     "<query xmlns='jabber:iq:version'/>"])
def test_rfc6120_8_3_3_set_on_get_only_namespace(c, payload):
    """A 'set' on a get-only service is an error (not a result)."""
    el = c.iq("set", payload, to="localhost")
    assert el.get("type") == "error", tostr(el)
