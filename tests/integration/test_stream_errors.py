"""Stream errors (RFC 6120 §4.9): each is triggered by a raw client; the
client must see a stream header, <stream:error/> with the condition in
urn:ietf:params:xml:ns:xmpp-streams, </stream:stream> and the TCP close;
and a second client, logged in before the error, must keep working."""

import time

import pytest

from conftest import PASSWORD, make_account
from harness.xmpp import NS_CLIENT, NS_STREAM, NS_STREAMS, RawClient, q, tostr

HDR = ("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
       "to='localhost' version='1.0'>")


@pytest.fixture
def witness(logged_in):
    """Logged in before the error; must still answer pings after it."""
    c = logged_in(resource="witness", presence=True)
    return c


def assert_alive(server, witness):
    assert witness.ping().get("type") == "result", "witness client lost its session"
    assert server.running(), "parleyd died\n" + server.log_tail()


def pre_header(server, clients, data):
    """Sends data as the very first bytes (no stream header from us yet)."""
    c = clients(server.c2s_port).connect()
    c.send(data)
    return c


def after_features(server, clients, data):
    c = clients(server.c2s_port).connect()
    c.open_stream()
    c.read_features()
    c.send(data)
    return c


def after_login(server, clients, data):
    user, pw = make_account(server)
    c = clients(server.c2s_port)
    c.login(user, pw, resource="victim")
    c.send(data)
    return c


CASES = [
    # id, how, payload, condition
    ("comment_4_9_3_14", after_features, "<!-- a comment -->", "restricted-xml"),
    ("processing_instruction_4_9_3_14", after_features, "<?foo bar?>", "restricted-xml"),
    ("comment_after_auth_4_9_3_14", after_login, "<message><!-- x --></message>", "restricted-xml"),
    ("doctype_4_9_3_14", pre_header,
     "<?xml version='1.0'?><!DOCTYPE stream:stream [<!ENTITY x 'y'>]>" + HDR, "restricted-xml"),
    ("internal_entity_4_9_3_14", after_features, "<message><body>&amp;&foo;</body></message>",
     None),  # either restricted-xml or not-well-formed (undefined entity)
    ("not_well_formed_4_9_3_13", after_features, "<foo><bar></foo>", "not-well-formed"),
    ("not_well_formed_header_4_9_3_13", pre_header,
     "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
     "to=localhost version='1.0'>", "not-well-formed"),
    ("invalid_namespace_4_9_3_10", pre_header,
     "<stream:stream xmlns='jabber:client' xmlns:stream='urn:wrong' to='localhost' version='1.0'>",
     "invalid-namespace"),
    ("host_unknown_4_9_3_6", pre_header, HDR.replace("'localhost'", "'unknown.host'"),
     "host-unknown"),
    ("stanza_too_large_13_12", after_login,
     "<message to='nobody@localhost'><body>" + "x" * 70000 + "</body></message>",
     "policy-violation"),
    ("too_deep_13_12", after_login,
     "<message to='nobody@localhost'>" + "<a>" * 70 + "</a>" * 70 + "</message>",
     "policy-violation"),
    ("unsupported_stanza_type_4_9_3_24", after_login, "<foo xmlns='jabber:client'/>",
     "unsupported-stanza-type"),
]


@pytest.mark.parametrize("how,payload,cond", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_stream_error(server, clients, witness, how, payload, cond):
    c = how(server, clients, payload)
    got, text = c.expect_stream_error(timeout=10)
    if cond is None:
        assert got in ("restricted-xml", "not-well-formed", "bad-format"), got
    else:
        assert got == cond, "expected <%s/>, got <%s/> (%s)" % (cond, got, text)
    assert_alive(server, witness)


def test_rfc6120_4_9_1_2_error_in_header_still_sends_header(server, clients, witness):
    """The error element must be a child of a proper stream element in
    the jabber:client / streams namespaces even when our header was bad."""
    c = pre_header(server, clients,
                   "<stream:stream xmlns='jabber:client' xmlns:stream='urn:wrong' "
                   "to='localhost' version='1.0'>")
    cond, _ = c.expect_stream_error()
    assert c.header.tag == q(NS_STREAM, "stream")
    assert cond == "invalid-namespace"
    assert_alive(server, witness)


def test_rfc6120_4_9_3_stream_error_format(server, clients, witness):
    """<stream:error><COND xmlns='...xmpp-streams'/>[<text/>]</stream:error>,
    nothing else inside."""
    c = after_features(server, clients, "<foo><bar></foo>")
    err = c.expect(lambda e: True, timeout=5)
    assert err.tag == q(NS_STREAM, "error"), tostr(err)
    children = list(err)
    assert children, tostr(err)
    assert children[0].tag == q(NS_STREAMS, "not-well-formed"), tostr(err)
    for ch in children[1:]:
        assert ch.tag == q(NS_STREAMS, "text"), tostr(err)
    assert_alive(server, witness)


def test_rfc6120_4_9_3_12_message_before_auth(server, clients, witness):
    c = after_features(server, clients, "<message to='x@localhost'><body>hi</body></message>")
    cond, _ = c.expect_stream_error()
    assert cond == "not-authorized"
    assert_alive(server, witness)


def test_abrupt_disconnect_mid_stanza(server, clients, witness):
    """A client vanishing in the middle of a stanza (no closing tags, TCP
    reset) affects nobody else."""
    c = after_login(server, clients, "<message to='nobody@localhost'><body>half")
    c.sock.close()
    c.sock = None
    time.sleep(0.3)
    assert_alive(server, witness)


def test_garbage_bytes_before_header(server, clients, witness):
    c = pre_header(server, clients, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40)
    # Looks like a TLS ClientHello on the plain port: must be rejected
    # with a stream error or a close, never crash the server.
    try:
        c.expect_stream_error(timeout=5)
    except AssertionError:
        pass
    assert_alive(server, witness)


def test_negotiation_timeout_connection_timeout(server_factory, clients):
    """limits.negotiation_timeout: a connection that never authenticates
    is closed with <connection-timeout/> (RFC 6120 §4.9.3.4)."""
    s = server_factory(limits={"negotiation_timeout": 2})
    user, pw = make_account(s)
    w = clients(s.c2s_port)
    w.login(user, pw, resource="w")     # bound in time: not affected
    c = clients(s.c2s_port).connect()
    c.open_stream()
    c.read_features()
    t0 = time.monotonic()
    cond, _ = c.expect_stream_error(timeout=8)
    assert cond == "connection-timeout"
    assert 1.5 <= time.monotonic() - t0 <= 6
    # A client that stays silent from the first byte is timed out too.
    c2 = clients(s.c2s_port).connect()
    cond, _ = c2.expect_stream_error(timeout=8)
    assert cond == "connection-timeout"
    time.sleep(1)
    assert w.ping().get("type") == "result", "bound session was timed out"


def test_limits_allow_stanza_within_bounds(server, logged_in, witness):
    """Stanzas under max_stanza_size (64 KiB) and max_depth (64) pass."""
    a = logged_in(resource="big", presence=True)
    body = "y" * 60000
    a.send_message(a.jid, body=body)
    m = a.expect_message(body, timeout=10)
    deep = "<x xmlns='urn:example:deep'>" + "<a>" * 40 + "</a>" * 40 + "</x>"
    a.send_message(a.jid, body="deep", extra=deep)
    m = a.expect_message("deep")
    assert m.find("{urn:example:deep}x") is not None
    assert_alive(server, witness)
