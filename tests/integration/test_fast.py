"""FAST (XEP-0484) against a real parleyd, raw XML: a token requested in
SASL2 <authenticate/> comes in <success/>; logging in with it over
HT-SHA-256-NONE / -ENDP (draft-schmaus-kitten-sasl-ht: authcid NUL
HMAC(token, "Initiator" || cb), the server proving itself with
HMAC(token, "Responder" || cb)); tokens are bound to the mechanism and to
the user-agent id; invalidation by the client; and a password change
(parleyctl change_password, XEP-0077) invalidates every token with
<credentials-expired/>."""

import hashlib
import hmac
import subprocess
import time

import pytest

from conftest import PASSWORD, make_account
from harness import sasl as saslmod
from harness import server as srv
from harness.xmpp import q, tostr
from test_sasl2 import (NS_FAST, NS_SASL2, UA, authenticate, failure, identity, scram2)

MODULES = tuple(srv.ALL_MODULES)
OTHER_UA = "0b7f6e0c-2a54-4f5e-9d0e-2f6b1c1e8a11"


@pytest.fixture(scope="module")
def server(request, cert):
    s = srv.ParleyServer("test_fast", cert, modules=MODULES)
    s.start()
    yield s
    s.check_stop()


def get_token(clients, server, user, mech="HT-SHA-256-NONE", ua=UA):
    c = clients(server.c2s_port)
    c.negotiate_tls()
    el = scram2(c, user, PASSWORD, ua=ua,
                inline="<request-token xmlns='%s' mechanism='%s'/>" % (NS_FAST, mech))
    tok = el.find(q(NS_FAST, "token"))
    assert tok is not None, tostr(el)
    assert tok.get("expiry", "").endswith("Z")
    return tok.get("token")


def ht(token, label, cb=b""):
    return hmac.new(token.encode(), label + cb, hashlib.sha256).digest()


def fast_login(clients, server, user, token, mech="HT-SHA-256-NONE", ua=UA, fast_attrs="",
               inline="", cb_of=None):
    c = clients(server.c2s_port)
    c.negotiate_tls()
    cb = cb_of(c.sock) if cb_of else b""
    initial = user.encode() + b"\0" + ht(token, b"Initiator", cb)
    el = authenticate(c, mech, initial, inline="<fast xmlns='%s'%s/>%s"
                      % (NS_FAST, fast_attrs, inline), ua=ua)
    if el.tag == q(NS_SASL2, "success"):
        ad = el.find(q(NS_SASL2, "additional-data"))
        assert saslmod.unb64(ad.text) == ht(token, b"Responder", cb), "server proof"
    return c, el


def test_token_request_then_login(server, clients):
    user, _ = make_account(server)
    token = get_token(clients, server, user)
    c, el = fast_login(clients, server, user, token, fast_attrs=" count='1'")
    assert identity(el) == "%s@localhost" % user
    c.read_features()
    # Usable again (not one-shot), with a higher count.
    _, el = fast_login(clients, server, user, token, fast_attrs=" count='2'")
    assert identity(el) == "%s@localhost" % user
    # A replayed count is refused.
    _, el = fast_login(clients, server, user, token, fast_attrs=" count='2'")
    assert failure(el)[0] == "not-authorized"


def test_wrong_token_and_other_client(server, clients):
    user, _ = make_account(server)
    token = get_token(clients, server, user)
    _, el = fast_login(clients, server, user, token[:-2] + "xx")
    assert failure(el) == ("not-authorized", "invalid token")
    # Tokens are per user-agent id.
    _, el = fast_login(clients, server, user, token, ua=OTHER_UA)
    assert failure(el)[0] == "not-authorized"
    # And per account: another user cannot use it.
    other, _ = make_account(server)
    _, el = fast_login(clients, server, other, token)
    assert failure(el)[0] == "not-authorized"


def test_token_bound_to_mechanism_and_endp(server, clients):
    user, _ = make_account(server)
    token = get_token(clients, server, user, mech="HT-SHA-256-ENDP")
    _, el = fast_login(clients, server, user, token)   # -NONE: refused (§3.4)
    assert failure(el)[0] == "not-authorized"
    _, el = fast_login(clients, server, user, token, mech="HT-SHA-256-ENDP",
                       cb_of=saslmod.tls_server_end_point)
    assert identity(el) == "%s@localhost" % user


def test_new_token_replaces_unused_one(server, clients):
    user, _ = make_account(server)
    t1 = get_token(clients, server, user)
    _, el = fast_login(clients, server, user, t1)      # t1 now 'current'
    assert identity(el)
    t2 = get_token(clients, server, user)              # 'new'
    assert t2 != t1
    _, el = fast_login(clients, server, user, t1)      # still valid until t2 is used
    assert identity(el)
    _, el = fast_login(clients, server, user, t2)      # t2 used: t1 dies (§3.5)
    assert identity(el)
    _, el = fast_login(clients, server, user, t1)
    assert failure(el)[0] == "not-authorized"


def test_client_invalidation(server, clients):
    user, _ = make_account(server)
    token = get_token(clients, server, user)
    _, el = fast_login(clients, server, user, token, fast_attrs=" invalidate='true'")
    assert identity(el)
    assert el.find(q(NS_FAST, "token")) is None        # §3.6
    _, el = fast_login(clients, server, user, token)
    assert failure(el)[0] == "not-authorized"


def test_password_change_invalidates(server, clients):
    user, _ = make_account(server)
    token = get_token(clients, server, user)
    cp = server.ctl("change_password", user, "localhost", "n3w-pass-word")
    assert cp.returncode == 0, cp.stderr + cp.stdout
    _, el = fast_login(clients, server, user, token)
    assert failure(el)[0] == "credentials-expired", tostr(el)


def test_inband_password_change_invalidates(server, clients):
    user, _ = make_account(server)
    token = get_token(clients, server, user)
    c = clients(server.c2s_port)
    c.login(user, PASSWORD)
    el = c.iq("set", "<query xmlns='jabber:iq:register'><username>%s</username>"
              "<password>an0ther-pass</password></query>" % user, to="localhost")
    assert el.get("type") == "result", tostr(el)
    _, el = fast_login(clients, server, user, token)
    assert failure(el)[0] == "credentials-expired", tostr(el)


def test_no_token_without_user_agent(server, clients):
    user, _ = make_account(server)
    c = clients(server.c2s_port)
    c.negotiate_tls()
    el = scram2(c, user, PASSWORD, ua=None,
                inline="<request-token xmlns='%s' mechanism='HT-SHA-256-NONE'/>" % NS_FAST)
    assert identity(el) and el.find(q(NS_FAST, "token")) is None


def test_configured_lifetime_rotation_and_expiry(server_factory, clients):
    """auth.fast_lifetime (XEP-0484 §4.2 leaves it to policy): a token used
    once less than half of its life remains is replaced by a new one in
    <success/> (§3.5), and an expired one is refused with
    <credentials-expired/> so that the client falls back to its password.
    Lifetime 6 s: times are whole seconds, and the margins below hold
    whatever fraction of a second the token was issued at."""
    s = server_factory(modules=MODULES, auth={"fast_lifetime": "6s"})
    user, _ = make_account(s)
    t1 = get_token(clients, s, user)
    issued = time.monotonic()
    _, el = fast_login(clients, s, user, t1, fast_attrs=" count='1'")
    assert identity(el)
    assert el.find(q(NS_FAST, "token")) is None, "rotated while young: " + tostr(el)

    time.sleep(max(0, issued + 4.2 - time.monotonic()))   # 2..3 s left of 6
    _, el = fast_login(clients, s, user, t1, fast_attrs=" count='2'")
    assert identity(el)
    tok = el.find(q(NS_FAST, "token"))
    assert tok is not None, "not rotated past half its life: " + tostr(el)
    t2 = tok.get("token")
    assert t2 and t2 != t1

    time.sleep(max(0, issued + 7.2 - time.monotonic()))   # t1 has expired
    _, el = fast_login(clients, s, user, t1, fast_attrs=" count='3'")
    assert failure(el)[0] == "credentials-expired", tostr(el)
    _, el = fast_login(clients, s, user, t2)              # the new one lives on
    assert identity(el)


def test_lifetime_option_is_validated(server_factory):
    s = server_factory(start=False, auth={"fast_lifetime": "1s"})
    cp = subprocess.run([srv.binary("parleyd"), "--check-config", "-c", s.config],
                        capture_output=True, text=True, cwd=s.dir)
    assert cp.returncode != 0
    assert "auth.fast_lifetime" in cp.stderr + cp.stdout, cp.stderr + cp.stdout
