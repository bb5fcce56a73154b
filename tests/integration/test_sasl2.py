"""SASL2 (XEP-0388) against a real parleyd, with raw XML: the stream
feature and its inline offers, SCRAM and PLAIN exchanges with
<additional-data/> and <authorization-identifier/>, failures with the SASL
condition and a <text/>, no stream restart after <success/> (the
post-authentication features follow at once), and the ban check
(<account-disabled/> with the reason, only after a correct password).

The helpers here are shared by test_bind2.py and test_fast.py."""

import pytest

from conftest import PASSWORD, make_account
from harness import sasl as saslmod
from harness import server as srv
from harness.xmpp import NS_BIND, NS_SASL, NS_STREAM, ns_of, q, tostr

NS_SASL2 = "urn:xmpp:sasl:2"
NS_BIND2 = "urn:xmpp:bind:0"
NS_FAST = "urn:xmpp:fast:0"
NS_SM = "urn:xmpp:sm:3"
NS_CARBONS = "urn:xmpp:carbons:2"
UA = "d4565fa7-4d72-4749-b3d3-740edbf87770"
MODULES = tuple(srv.ALL_MODULES) + ("adhoc",)


@pytest.fixture(scope="module")
def server(request, cert):
    s = srv.ParleyServer("test_sasl2", cert, modules=MODULES)
    s.start()
    yield s
    s.check_stop()


def sasl2_answer(c, timeout=None):
    return c.expect(lambda e: ns_of(e.tag) == NS_SASL2, timeout, what="a SASL2 answer")


def authenticate(c, mech, initial=None, inline="", ua=UA):
    ir = "<initial-response>%s</initial-response>" % saslmod.b64(initial) \
        if initial is not None else ""
    uael = ("<user-agent id='%s'><software>pytest</software><device>ci</device>"
            "</user-agent>" % ua) if ua else ""
    c.send("<authenticate xmlns='%s' mechanism='%s'>%s%s%s</authenticate>"
           % (NS_SASL2, mech, ir, uael, inline))
    return sasl2_answer(c)


def scram2(c, user, password, mech="SCRAM-SHA-256", inline="", ua=UA, **kw):
    """A full SCRAM exchange over SASL2; returns the final element, the
    server signature verified on <success/>."""
    sc = saslmod.ScramClient(mech, user, password, **kw)
    el = authenticate(c, mech, sc.first(), inline, ua)
    if el.tag != q(NS_SASL2, "challenge"):
        return el
    c.send("<response xmlns='%s'>%s</response>"
           % (NS_SASL2, saslmod.b64(sc.final(saslmod.unb64(el.text)))))
    el = sasl2_answer(c)
    if el.tag == q(NS_SASL2, "success"):
        ad = el.find(q(NS_SASL2, "additional-data"))
        assert ad is not None, tostr(el)
        sc.verify(saslmod.unb64(ad.text))
    return el


def failure(el):
    """(condition, text) of a SASL2 <failure/>."""
    assert el.tag == q(NS_SASL2, "failure"), "expected <failure/>, got %s" % tostr(el)
    conds = [ch.tag for ch in el if ns_of(ch.tag) == NS_SASL]
    text = el.find(q(NS_SASL2, "text"))
    return (conds[0].split("}")[1] if conds else None), (text.text if text is not None else None)


def identity(el):
    assert el.tag == q(NS_SASL2, "success"), "expected <success/>, got %s" % tostr(el)
    return el.find(q(NS_SASL2, "authorization-identifier")).text


def login2(clients, server, user, inline="", mech="SCRAM-SHA-256", password=PASSWORD, ua=UA):
    """TLS, SASL2 and the features after <success/>; returns (client,
    success element, features)."""
    c = clients(server.c2s_port)
    c.negotiate_tls()
    el = scram2(c, user, password, mech=mech, inline=inline, ua=ua)
    assert el.tag == q(NS_SASL2, "success"), tostr(el)
    feats = c.read_features()
    return c, el, feats


def test_feature_and_inline_offers(server, clients):
    c = clients(server.c2s_port)
    feats = c.negotiate_tls()
    auth = feats.find(q(NS_SASL2, "authentication"))
    assert auth is not None, tostr(feats)
    mechs2 = [m.text for m in auth.findall(q(NS_SASL2, "mechanism"))]
    assert mechs2 == c.mechanisms(feats)
    assert "SCRAM-SHA-256" in mechs2 and "PLAIN" in mechs2
    assert any(m.endswith("-PLUS") for m in mechs2)
    inline = auth.find(q(NS_SASL2, "inline"))
    assert inline.find(q(NS_SM, "sm")) is not None
    bind = inline.find(q(NS_BIND2, "bind"))
    vars_ = [f.get("var") for f in bind.find(q(NS_BIND2, "inline"))]
    assert sorted(vars_) == [NS_CARBONS, NS_SM]
    fast = [m.text for m in inline.find(q(NS_FAST, "fast"))]
    assert "HT-SHA-256-NONE" in fast and "HT-SHA-256-ENDP" in fast


def test_scram_success_no_restart(server, clients):
    user, _ = make_account(server)
    c, el, feats = login2(clients, server, user)
    assert identity(el) == "%s@localhost" % user
    # §2.6.1: the features follow <success/> on the same stream.
    assert feats.find(q(NS_BIND, "bind")) is not None, tostr(feats)
    assert feats.find(q(NS_SASL2, "authentication")) is None
    jid = c.bind_ok("r1")
    assert jid == "%s@localhost/r1" % user
    assert c.ping().get("type") == "result"


@pytest.mark.parametrize("mech", ["SCRAM-SHA-1", "SCRAM-SHA-512"])
def test_other_scram_hashes(server, clients, mech):
    user, _ = make_account(server)
    c, el, _ = login2(clients, server, user, mech=mech)
    assert identity(el) == "%s@localhost" % user


def test_scram_plus(server, clients):
    user, _ = make_account(server)
    c = clients(server.c2s_port)
    c.negotiate_tls()
    el = scram2(c, user, PASSWORD, mech="SCRAM-SHA-256-PLUS",
                cb_type="tls-server-end-point",
                cb_data=saslmod.tls_server_end_point(c.sock))
    assert identity(el) == "%s@localhost" % user


def test_plain_success(server, clients):
    user, _ = make_account(server)
    c = clients(server.c2s_port)
    c.negotiate_tls()
    el = authenticate(c, "PLAIN", saslmod.plain_message(user, PASSWORD))
    assert identity(el) == "%s@localhost" % user
    assert el.find(q(NS_SASL2, "additional-data")) is None
    c.read_features()


def test_wrong_password(server, clients):
    user, _ = make_account(server)
    c = clients(server.c2s_port)
    c.negotiate_tls()
    el = scram2(c, user, "wrong")
    assert failure(el) == ("not-authorized", "invalid credentials")
    # The stream stays usable: a second attempt succeeds.
    el = scram2(c, user, PASSWORD)
    assert identity(el) == "%s@localhost" % user


def test_unknown_mechanism(server, clients):
    c = clients(server.c2s_port)
    c.negotiate_tls()
    el = authenticate(c, "X-UNKNOWN", b"x")
    assert failure(el) == ("invalid-mechanism", "that mechanism is not offered here")


def test_abort(server, clients):
    user, _ = make_account(server)
    c = clients(server.c2s_port)
    c.negotiate_tls()
    sc = saslmod.ScramClient("SCRAM-SHA-256", user, PASSWORD)
    el = authenticate(c, "SCRAM-SHA-256", sc.first())
    assert el.tag == q(NS_SASL2, "challenge")
    c.send("<abort xmlns='%s'/>" % NS_SASL2)
    assert failure(sasl2_answer(c))[0] == "aborted"


def test_failed_login_limit(server, clients):
    """The same per-stream limit as SASL1 (RFC 6120 §6.4.5)."""
    user, _ = make_account(server)
    c = clients(server.c2s_port)
    c.negotiate_tls()
    for _ in range(4):
        assert failure(scram2(c, user, "wrong"))[0] == "not-authorized"
    c.send("<authenticate xmlns='%s' mechanism='PLAIN'><initial-response>%s"
           "</initial-response></authenticate>"
           % (NS_SASL2, saslmod.b64(saslmod.plain_message(user, "wrong"))))
    assert failure(sasl2_answer(c))[0] == "not-authorized"
    cond, _ = c.expect_stream_error()
    assert cond == "policy-violation"


def test_banned_login(server, clients):
    user, _ = make_account(server)
    cp = server.ctl("ban_account", user, "localhost", "spam runs")
    assert cp.returncode == 0, cp.stderr + cp.stdout
    c = clients(server.c2s_port)
    c.negotiate_tls()
    assert failure(scram2(c, user, "wrong")) == ("not-authorized", "invalid credentials")
    assert failure(scram2(c, user, PASSWORD)) == ("account-disabled", "spam runs")
    el = authenticate(c, "PLAIN", saslmod.plain_message(user, PASSWORD))
    assert failure(el) == ("account-disabled", "spam runs")
    assert server.ctl("unban_account", user, "localhost").returncode == 0
    assert identity(scram2(c, user, PASSWORD)) == "%s@localhost" % user


def test_bind_pipelined_behind_authenticate(server, clients):
    """SASL2 has no restart: what a client pipelines behind <authenticate/>
    waits for the outcome (the answer is asynchronous) and is then handled
    on the authenticated stream, in order: here a resource bind, then a
    ping (XEP-0388 §2.6: after <success/> the stream is authenticated)."""
    user, _ = make_account(server)
    c = clients(server.c2s_port)
    c.negotiate_tls()
    c.send("<authenticate xmlns='%s' mechanism='PLAIN'><initial-response>%s"
           "</initial-response></authenticate>"
           "<iq type='set' id='pb'><bind xmlns='%s'/></iq>"
           "<iq type='get' id='pp'><ping xmlns='urn:xmpp:ping'/></iq>"
           % (NS_SASL2, saslmod.b64(saslmod.plain_message(user, PASSWORD)), NS_BIND))
    assert identity(sasl2_answer(c)) == "%s@localhost" % user
    bound = c.expect(lambda e: e.get("id") == "pb", what="bind result")
    assert bound.get("type") == "result", tostr(bound)
    pong = c.expect(lambda e: e.get("id") == "pp", what="ping result")
    assert pong.get("type") == "result", tostr(pong)


def _tls_stream_from(server, clients, frm):
    """Direct TLS, then a stream header with from=frm (None: no 'from')."""
    c = clients(server.tls_port)
    c.connect(tls=True)
    c.open_stream(extra=" from='%s'" % frm if frm else "")
    c.read_features()
    return c


def test_authzid_must_match_stream_from(server, clients):
    """XEP-0388 §4.4: a non-empty authorization string, normalized as a JID
    (RFC 7622), MUST be an error if the stream's 'from' (when present) does
    not match it; and it may only name the account itself (RFC 6120
    §6.3.8)."""
    user, _ = make_account(server)
    other, _ = make_account(server)
    me = "%s@localhost" % user
    cases = [
        (None, me, None),                       # no 'from': nothing to match
        (me, me, None),
        (me.upper(), me, None),                 # normalized on both sides
        (me, me.upper(), None),
        ("%s@localhost" % other, me, "invalid-authzid"),   # from does not match
        (me, "%s@localhost" % other, "invalid-authzid"),   # not the account
    ]
    for frm, authzid, want in cases:
        c = _tls_stream_from(server, clients, frm)
        el = authenticate(c, "PLAIN", saslmod.plain_message(user, PASSWORD, authzid))
        if want:
            assert failure(el)[0] == want, (frm, authzid, tostr(el))
        else:
            assert identity(el) == me, (frm, authzid, tostr(el))
        c.close()
