"""SASL authentication (RFC 6120 §6; RFC 4616 PLAIN; RFC 5802/7677 SCRAM;
RFC 5929/9266 channel binding) with an independent client implementation."""

import base64
import time

import pytest

from conftest import PASSWORD, make_account
from harness import sasl as saslmod
from harness.xmpp import (NS_CLIENT, NS_SASL, RawClient, StreamClosed, q,
                          tostr, unique)


def failure_condition(el):
    assert el.tag == q(NS_SASL, "failure"), "expected <failure/>, got %s" % tostr(el)
    conds = [c.tag for c in el if c.tag != q(NS_SASL, "text")]
    assert len(conds) == 1, tostr(el)
    assert conds[0].startswith("{%s}" % NS_SASL), tostr(el)
    text = el.find(q(NS_SASL, "text"))
    return conds[0].split("}")[1], (text.text if text is not None else None)


@pytest.fixture
def tls_client(server, clients):
    c = clients(server.c2s_port).connect()
    c.negotiate_tls()
    return c


MECHS = ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512"]


@pytest.mark.parametrize("mech", MECHS)
def test_rfc6120_6_4_login_with_mechanism(server, clients, account, mech):
    user, pw = account
    c = clients(server.c2s_port)
    jid = c.login(user, pw, mech=mech, resource="m")
    assert jid == "%s@localhost/m" % user
    assert c.ping().get("type") == "result"


@pytest.mark.parametrize("mech", MECHS)
def test_xep0368_login_over_direct_tls(server, clients, account, mech):
    user, pw = account
    c = clients(server.tls_port)
    c.connect(tls=True)
    assert c.login(user, pw, mech=mech, tls=True).startswith(user + "@localhost/")


@pytest.mark.parametrize("mech", ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-512-PLUS"])
def test_rfc5929_scram_plus_tls_server_end_point(server, tls_client, account, mech):
    user, pw = account
    el = tls_client.auth_scram(mech, user, pw, cb_type="tls-server-end-point")
    assert el.tag == q(NS_SASL, "success"), tostr(el)


@pytest.mark.parametrize("mech", ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-512-PLUS"])
def test_rfc9266_scram_plus_tls_exporter(server, tls_client, account, mech):
    user, pw = account
    data = saslmod.tls_exporter(tls_client.sock)
    if data is None:
        pytest.skip("no TLS keying-material exporter reachable from this Python")
    el = tls_client.auth_scram(mech, user, pw, cb_type="tls-exporter", cb_data=data)
    assert el.tag == q(NS_SASL, "success"), tostr(el)


def test_rfc5802_scram_plus_wrong_binding_fails(server, tls_client, account):
    user, pw = account
    el = tls_client.auth_scram("SCRAM-SHA-256-PLUS", user, pw,
                               cb_type="tls-server-end-point", cb_data=b"\0" * 32)
    assert failure_condition(el)[0] == "not-authorized"


def test_rfc5802_6_downgrade_y_flag_refused(server, tls_client, account):
    """RFC 5802 §6: gs2 flag 'y' while the server advertised -PLUS means a
    downgrade attack; the server must fail the authentication."""
    user, pw = account
    el = tls_client.auth_scram("SCRAM-SHA-256", user, pw, cb_flag_y=True)
    assert el.tag == q(NS_SASL, "failure"), tostr(el)


def test_rfc6120_6_4_7_wrong_password_not_authorized(tls_client, account):
    user, _ = account
    cond, text = failure_condition(tls_client.auth_plain(user, "wrong"))
    assert cond == "not-authorized"
    assert text, "no <text/> in the failure"


def test_rfc6120_6_5_10_scram_wrong_password_not_authorized(tls_client, account):
    user, _ = account
    el = tls_client.auth_scram("SCRAM-SHA-256", user, "wrong")
    assert failure_condition(el)[0] == "not-authorized"


def test_rfc6120_6_5_10_unknown_user_not_authorized(tls_client):
    cond, _ = failure_condition(tls_client.auth_plain(unique("ghost"), "pw"))
    assert cond == "not-authorized"
    # SCRAM: no account enumeration, it fails at the end.
    el = tls_client.auth_scram("SCRAM-SHA-1", unique("ghost"), "pw")
    assert failure_condition(el)[0] == "not-authorized"


def test_rfc6120_6_4_5_retry_after_failure(server, tls_client, account):
    user, pw = account
    assert failure_condition(tls_client.auth_plain(user, "wrong"))[0] == "not-authorized"
    el = tls_client.auth_plain(user, pw)
    assert el.tag == q(NS_SASL, "success"), tostr(el)


def test_rfc6120_6_5_6_invalid_mechanism(tls_client):
    cond, _ = failure_condition(tls_client.sasl_auth("X-NOT-A-MECH", b"x"))
    assert cond == "invalid-mechanism"


def test_rfc6120_6_5_5_incorrect_encoding(tls_client):
    cond, _ = failure_condition(tls_client.sasl_auth("PLAIN", raw_initial="!!!not base64$$"))
    assert cond == "incorrect-encoding"


def test_rfc6120_6_4_4_abort(tls_client, account):
    user, pw = account
    sc = saslmod.ScramClient("SCRAM-SHA-256", user, pw)
    el = tls_client.sasl_auth("SCRAM-SHA-256", sc.first())
    assert el.tag == q(NS_SASL, "challenge"), tostr(el)
    tls_client.send("<abort xmlns='%s'/>" % NS_SASL)
    el = tls_client.expect(lambda e: e.tag.startswith("{%s}" % NS_SASL))
    assert failure_condition(el)[0] == "aborted"
    # A new attempt works after the abort.
    el = tls_client.auth_plain(user, pw)
    assert el.tag == q(NS_SASL, "success"), tostr(el)


def test_rfc6120_6_5_7_plain_authzid_of_other_account(server, tls_client, account):
    user, pw = account
    other, _ = make_account(server)
    el = tls_client.auth_plain(user, pw, authzid="%s@localhost" % other)
    assert failure_condition(el)[0] == "invalid-authzid"


def test_rfc6120_6_3_8_plain_own_bare_jid_authzid(server, clients, account):
    user, pw = account
    c = clients(server.c2s_port).connect()
    c.negotiate_tls()
    el = c.auth_plain(user, pw, authzid="%s@localhost" % user)
    assert el.tag == q(NS_SASL, "success"), tostr(el)
    c.restart()
    assert c.bind_ok().startswith(user + "@localhost/")


def test_rfc6120_6_5_8_malformed_plain(tls_client):
    cond, _ = failure_condition(tls_client.sasl_auth("PLAIN", b"no-nul-bytes-here"))
    assert cond == "malformed-request"


def test_rfc6120_6_4_5_five_failures_close_stream(tls_client, account):
    """After 5 failed attempts on one stream the server closes it with
    <policy-violation/>.  Each of the 5 gets its <failure/>; the stream
    error may follow the 5th at once or replace the answer to a 6th."""
    user, _ = account
    results = []
    for i in range(6):
        try:
            tls_client.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (
                NS_SASL, saslmod.b64(saslmod.plain_message(user, "wrong%d" % i))))
        except OSError:
            break
        el = tls_client.next()
        if el.tag == q("http://etherx.jabber.org/streams", "error"):
            tls_client.pending.insert(0, el)
            break
        results.append(failure_condition(el)[0])
    # Five <failure/>s, then the stream error (right after the 5th or in
    # answer to a 6th attempt).
    assert results == ["not-authorized"] * 5, results
    cond, _ = tls_client.expect_stream_error()
    assert cond == "policy-violation"


def test_rfc6120_5_3_1_auth_before_starttls_encryption_required(server, clients, account):
    user, pw = account
    c = clients(server.c2s_port).connect()
    c.open_stream()
    c.read_features()
    el = c.auth_plain(user, pw)
    assert failure_condition(el)[0] == "encryption-required"


def test_rfc6120_4_9_3_12_stanza_before_auth_not_authorized(server, clients):
    c = clients(server.c2s_port).connect()
    c.negotiate_tls()
    c.send("<message to='someone@localhost'><body>hi</body></message>")
    cond, _ = c.expect_stream_error()
    assert cond == "not-authorized"


def test_rfc6120_4_9_3_12_stanza_before_tls_not_authorized(server, clients):
    c = clients(server.c2s_port).connect()
    c.open_stream()
    c.read_features()
    c.send("<iq type='get' id='x'><query xmlns='jabber:iq:roster'/></iq>")
    cond, _ = c.expect_stream_error()
    assert cond == "not-authorized"


def test_auth_lockout_temporary_auth_failure(server_factory, clients):
    """auth.max_failures failures from one address within failure_window
    lock the address out: even a correct login then gets
    <temporary-auth-failure/> with a <text/>."""
    s = server_factory(auth={"max_failures": 3, "failure_window": 60, "lockout": 300})
    user, pw = make_account(s)
    for i in range(3):
        c = clients(s.c2s_port).connect()
        c.negotiate_tls()
        assert failure_condition(c.auth_plain(user, "bad%d" % i))[0] == "not-authorized"
        c.close()
    c = clients(s.c2s_port).connect()
    c.negotiate_tls()
    cond, text = failure_condition(c.auth_plain(user, pw))
    assert cond == "temporary-auth-failure"
    assert text, "no <text/> explaining the lockout"
    c2 = clients(s.c2s_port).connect()
    c2.negotiate_tls()
    el = c2.auth_scram("SCRAM-SHA-256", user, pw)
    assert failure_condition(el)[0] == "temporary-auth-failure"


def test_rfc5802_5_1_wrong_nonce_in_final_fails(tls_client, account):
    user, pw = account
    sc = saslmod.ScramClient("SCRAM-SHA-256", user, pw)
    el = tls_client.sasl_auth("SCRAM-SHA-256", sc.first())
    assert el.tag == q(NS_SASL, "challenge"), tostr(el)
    final = sc.final(saslmod.unb64(el.text)).decode()
    attrs = final.split(",")
    attrs[1] = "r=" + attrs[1][2:] + "tampered"
    el = tls_client.sasl_response(",".join(attrs).encode())
    assert el.tag == q(NS_SASL, "failure"), tostr(el)


def test_rfc5802_5_1_cbind_input_must_match_gs2_header(tls_client, account):
    """c= must be base64 of the gs2 header sent in client-first ('n,,')."""
    user, pw = account
    sc = saslmod.ScramClient("SCRAM-SHA-1", user, pw)
    el = tls_client.sasl_auth("SCRAM-SHA-1", sc.first())
    assert el.tag == q(NS_SASL, "challenge"), tostr(el)
    sc.gs2 = "y,,"      # the proof is computed over the altered c= value
    el = tls_client.sasl_response(sc.final(saslmod.unb64(el.text)))
    assert el.tag == q(NS_SASL, "failure"), tostr(el)


@pytest.mark.parametrize("mech", ["PLAIN", "SCRAM-SHA-256"])
def test_rfc6120_6_3_7_authcid_is_prepared(server, clients, mech):
    """The authentication identity is a localpart prepared like a JID's
    (RFC 7622 §3.3 UsernameCaseMapped): 'ALICE' logs in as alice."""
    user, pw = make_account(server)
    c = clients(server.c2s_port).connect()
    c.negotiate_tls()
    c.authenticate(user.upper(), pw, mech=mech)
    assert c.bind_ok("up") == "%s@localhost/up" % user


@pytest.mark.parametrize("mech", ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-512"])
def test_rfc4013_non_ascii_password(server, clients, mech):
    user = unique("nap")
    pw = "p\u00e4ssw\u00f6rd-\u4e16\u754c"
    server.register(user, pw)
    c = clients(server.c2s_port)
    assert c.login(user, pw, mech=mech).startswith(user)


def test_rfc7622_3_3_non_ascii_localpart(server, clients):
    user = "\u00fcn\u00efcode" + unique("")
    server.register(user, PASSWORD)
    c = clients(server.c2s_port)
    jid = c.login(user, PASSWORD, mech="SCRAM-SHA-256", resource="r")
    assert jid == "%s@localhost/r" % user
