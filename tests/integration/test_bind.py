"""Resource binding (RFC 6120 §7), the legacy session IQ (RFC 3921 §3 /
RFC 6121 Appendix E) and stanza addressing by the server (RFC 6120 §8.1)."""

import unicodedata

import pytest

from conftest import PASSWORD, make_account
from harness.xmpp import (NS_BIND, NS_CLIENT, NS_SESSION, NS_STREAM, RawClient,
                          q, stanza_error, tostr)


def authed(server, clients, user, pw):
    c = clients(server.c2s_port).connect()
    c.negotiate_tls()
    c.authenticate(user, pw)
    return c


def test_rfc6120_7_7_client_chosen_resource(server, clients, account):
    user, pw = account
    c = authed(server, clients, user, pw)
    assert c.bind_ok("Balcony") == "%s@localhost/Balcony" % user


def test_rfc7622_3_4_resource_is_prepared(server, clients, account):
    """The resourcepart is normalized (NFC at least): 'e' + U+0301 -> U+00E9."""
    user, pw = account
    c = authed(server, clients, user, pw)
    jid = c.bind_ok("Cafe\u0301")
    assert jid == "%s@localhost/Caf\u00e9" % user, ascii(jid)


def test_rfc6120_7_6_server_generated_resource(server, clients, account):
    user, pw = account
    c = authed(server, clients, user, pw)
    jid = c.bind_ok(None)
    bare, _, res = jid.partition("/")
    assert bare == "%s@localhost" % user
    assert res, "empty server-generated resource"
    # Two sessions get distinct generated resources.
    c2 = authed(server, clients, user, pw)
    assert c2.bind_ok(None) != jid


def test_rfc6120_7_7_2_conflict_replaces_older_session(server, clients, account):
    user, pw = account
    old = authed(server, clients, user, pw)
    old.bind_ok("same")
    new = authed(server, clients, user, pw)
    assert new.bind_ok("same") == "%s@localhost/same" % user
    cond, _ = old.expect_stream_error()
    assert cond == "conflict"
    assert new.ping().get("type") == "result"


def test_rfc6120_7_7_2_replaced_session_gets_the_traffic(server, clients, logged_in, account):
    user, pw = account
    old = authed(server, clients, user, pw)
    old.bind_ok("same")
    new = authed(server, clients, user, pw)
    new.bind_ok("same")
    old.expect_stream_error()
    new.send_presence(priority=0)
    new.ping()
    other = logged_in(presence=True)
    other.send_message("%s@localhost/same" % user, body="to-new")
    assert new.expect_message("to-new").get("from") == other.jid


@pytest.mark.parametrize("resource", ["bad\u007fchar", "x" * 1024, "\u0085nel"],
                         ids=["control_char", "too_long", "c1_control"])
def test_rfc6120_7_7_2_1_bad_resource_bad_request_and_retry(server, clients, account, resource):
    user, pw = account
    c = authed(server, clients, user, pw)
    el = c.bind(resource)
    assert el.get("type") == "error", tostr(el)
    err = stanza_error(el)
    assert err and err[:2] == ("modify", "bad-request"), tostr(el)
    assert c.bind_ok("good") == "%s@localhost/good" % user


def test_rfc6120_7_resource_of_1023_bytes_ok(server, clients, account):
    user, pw = account
    c = authed(server, clients, user, pw)
    assert c.bind_ok("y" * 1023).endswith("/" + "y" * 1023)


def test_rfc6121_appendix_e_session_iq_empty_result(server, clients, account):
    user, pw = account
    c = authed(server, clients, user, pw)
    c.bind_ok("s")
    el = c.iq("set", "<session xmlns='%s'/>" % NS_SESSION)
    assert el.get("type") == "result", tostr(el)
    assert len(list(el)) == 0, tostr(el)


def test_rfc6120_7_stanza_before_bind_not_routed(server, clients, account, logged_in):
    """Before binding there is no full JID to stamp; a message must not be
    delivered (the server answers with an error or closes the stream)."""
    user, pw = account
    target = logged_in(presence=True)
    c = authed(server, clients, user, pw)
    c.send("<message to='%s' type='chat'><body>early</body></message>" % target.jid)
    target.expect_nothing(lambda e: e.tag == q(NS_CLIENT, "message"), timeout=1.5)


def test_rfc6120_8_1_2_1_server_stamps_from(server, logged_in):
    a = logged_in(resource="a", presence=True)
    b = logged_in(resource="b", presence=True)
    a.send_message(b.jid, body="spoof", frm="mallory@localhost/evil")
    m = b.expect_message("spoof")
    assert m.get("from") == a.jid
    a.send_message(b.jid, body="nofrom")
    assert b.expect_message("nofrom").get("from") == a.jid


def test_rfc6120_8_1_2_1_spoofed_bare_from_on_iq(server, logged_in):
    a = logged_in(resource="a")
    b = logged_in(resource="b", presence=True)
    a.send("<iq type='get' id='sp1' to='%s' from='other@localhost'>"
           "<query xmlns='jabber:iq:version'/></iq>" % b.jid)
    iq = b.expect(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == "sp1")
    assert iq.get("from") == a.jid


@pytest.mark.parametrize("to", ["a@b@c", "@x", "user@", "user@localhost/", "a@" + "x" * 1100])
def test_rfc6120_8_3_3_8_invalid_to_jid_malformed(server, logged_in, to):
    a = logged_in()
    mid = a.send_message(to, body="bad-to")
    el = a.expect(lambda e: e.tag == q(NS_CLIENT, "message") and e.get("id") == mid)
    assert el.get("type") == "error", tostr(el)
    assert stanza_error(el)[:2] == ("modify", "jid-malformed"), tostr(el)
    # Same for an IQ.
    el = a.iq("get", "<ping xmlns='urn:xmpp:ping'/>", to=to)
    assert el.get("type") == "error"
    assert stanza_error(el)[:2] == ("modify", "jid-malformed"), tostr(el)
    assert a.ping().get("type") == "result"
