"""Stream set-up: headers, features, STARTTLS, direct TLS, SNI
(RFC 6120 §4, §5; RFC 7590; XEP-0368; XEP-0440)."""

import ssl

import pytest

from conftest import PASSWORD
from harness.xmpp import (NS_BIND, NS_SASL, NS_SASL_CB, NS_SESSION, NS_STREAM,
                          NS_TLS, RawClient, client_tls_context, q, tostr)

ALL_MECHS = {"SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512",
             "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-512-PLUS",
             "PLAIN"}


def test_rfc6120_4_7_server_stream_header(server, clients):
    c = clients(server.c2s_port).connect()
    hdr = c.open_stream(to="localhost")
    assert hdr.tag == q(NS_STREAM, "stream")
    assert hdr.get("from") == "localhost"
    assert hdr.get("version") == "1.0"
    assert hdr.get("id"), "stream header without id (RFC 6120 §4.7.3)"


def test_rfc6120_4_7_stream_to_second_host(server, clients):
    c = clients(server.c2s_port).connect()
    hdr = c.open_stream(to="example.test")
    assert hdr.get("from") == "example.test"
    c.read_features()


def test_rfc6120_4_7_stream_ids_unique(server, clients):
    ids = set()
    for _ in range(3):
        c = clients(server.c2s_port).connect()
        ids.add(c.open_stream().get("id"))
    assert len(ids) == 3


def test_rfc6120_5_3_1_features_before_tls_require_starttls(server, clients):
    c = clients(server.c2s_port).connect()
    c.open_stream()
    f = c.read_features()
    st = f.find(q(NS_TLS, "starttls"))
    assert st is not None, tostr(f)
    assert st.find(q(NS_TLS, "required")) is not None, tostr(f)
    assert f.find(q(NS_SASL, "mechanisms")) is None, tostr(f)
    assert f.find(q(NS_BIND, "bind")) is None, tostr(f)


def _check_post_tls_features(c, f):
    assert f.find(q(NS_TLS, "starttls")) is None, tostr(f)
    mechs = set(c.mechanisms(f))
    assert ALL_MECHS <= mechs, "missing %s in %s" % (ALL_MECHS - mechs, tostr(f))
    cb = c.cb_types(f)
    assert cb, "no <sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'> (XEP-0440): %s" % tostr(f)
    assert "tls-server-end-point" in cb, cb
    if c.sock.version() == "TLSv1.3":
        assert "tls-exporter" in cb, cb
    assert f.find(q(NS_BIND, "bind")) is None, tostr(f)


def test_rfc6120_6_3_3_features_after_starttls(server, clients):
    c = clients(server.c2s_port).connect()
    f = c.negotiate_tls()
    assert c.sock.version() == "TLSv1.3"
    _check_post_tls_features(c, f)


def test_xep0368_direct_tls_features(server, clients):
    c = clients(server.tls_port).connect(tls=True)
    f = c.negotiate_tls(tls=True)
    _check_post_tls_features(c, f)


def test_rfc6120_7_features_after_auth(server, clients, account):
    user, pw = account
    c = clients(server.c2s_port).connect()
    c.negotiate_tls()
    f = c.authenticate(user, pw)
    assert f.find(q(NS_BIND, "bind")) is not None, tostr(f)
    sess = f.find(q(NS_SESSION, "session"))
    assert sess is not None, tostr(f)
    assert sess.find(q(NS_SESSION, "optional")) is not None, tostr(f)
    assert f.find(q(NS_SASL, "mechanisms")) is None, tostr(f)
    assert f.find(q(NS_TLS, "starttls")) is None, tostr(f)


def test_rfc6120_5_4_3_3_starttls_twice_is_an_error(server, clients):
    """After TLS, <starttls/> is no longer offered; sending it anyway must
    not be answered with <proceed/>."""
    c = clients(server.c2s_port).connect()
    c.negotiate_tls()
    c.send("<starttls xmlns='%s'/>" % NS_TLS)
    try:
        el = c.next()
    except Exception:
        return
    assert el.tag != q(NS_TLS, "proceed"), tostr(el)


def _old_tls_context():
    try:
        ctx = client_tls_context()
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        return ctx
    except (ValueError, ssl.SSLError) as e:
        pytest.skip("local OpenSSL cannot build a TLS 1.1 client: %s" % e)


@pytest.mark.parametrize("direct", [False, True], ids=["starttls", "direct"])
def test_rfc7590_3_1_tls_below_1_2_refused(server, clients, direct):
    ctx = _old_tls_context()
    c = clients(server.tls_port if direct else server.c2s_port)
    if direct:
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            c.connect(tls=True, context=ctx)
            c.open_stream()
    else:
        c.connect()
        c.open_stream()
        c.read_features()
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            c.starttls(context=ctx)


def test_rfc7590_tls_1_2_accepted_with_endpoint_binding(server, clients, account):
    user, pw = account
    ctx = client_tls_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    c = clients(server.c2s_port).connect()
    c.open_stream()
    c.read_features()
    f = c.starttls(context=ctx)
    assert c.sock.version() == "TLSv1.2"
    assert "tls-server-end-point" in c.cb_types(f)
    el = c.auth_scram("SCRAM-SHA-256-PLUS", user, pw, cb_type="tls-server-end-point")
    assert el.tag == q(NS_SASL, "success"), tostr(el)


SNI_NAMES = ["localhost", "example.test", "nonexistent.test", "127.0.0.1", None]


@pytest.mark.parametrize("name", SNI_NAMES, ids=[str(n) for n in SNI_NAMES])
@pytest.mark.parametrize("direct", [False, True], ids=["starttls", "direct"])
def test_sni_any_name_completes_handshake(server, clients, name, direct):
    """tls.h: no SNI, an IP address or an unknown name gets the default
    certificate instead of an aborted handshake."""
    c = clients(server.tls_port if direct else server.c2s_port)
    if direct:
        c.connect(tls=True, server_hostname=name)
        f = c.negotiate_tls(tls=True)
    else:
        c.connect()
        c.open_stream()
        c.read_features()
        f = c.starttls(server_hostname=name)
    assert c.mechanisms(f), tostr(f)
    assert c.sock.getpeercert(binary_form=True)


def test_sni_example_test_gets_matching_certificate(server, clients):
    c = clients(server.tls_port).connect(tls=True, server_hostname="example.test")
    der = c.sock.getpeercert(binary_form=True)
    assert der and b"example.test" in der


def test_rfc6120_4_4_client_close_is_answered(server, clients):
    c = clients(server.c2s_port).connect()
    c.open_stream()
    c.read_features()
    c.send("</stream:stream>")
    c.expect_nothing(timeout=3)
    assert c.closed, "server did not close its stream after ours (RFC 6120 §4.4)"
    c.wait_eof(5)


def test_rfc7622_3_2_stream_to_is_prepared(server, clients):
    """The domain in 'to' is case-insensitive: 'LocalHost' is localhost."""
    c = clients(server.c2s_port).connect()
    hdr = c.open_stream(to="LocalHost")
    assert hdr.get("from") == "localhost"
    c.read_features()
