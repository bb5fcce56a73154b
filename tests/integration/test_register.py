"""In-band registration (XEP-0077) through the 'register' module.

Before authentication (only with allow_new, off by default): the stream
feature (§8), the fields (§3.1), account creation with SCRAM keys, the
errors of §3.1 (<conflict/>, <not-acceptable/>) and the per-address rate
limit (§3.1.1).  After authentication (whenever the module is loaded):
<registered/> (§3.1), password change (§3.3) and cancellation (§3.2, with
<not-authorized/> closing every session).  Disco feature (§10).
"""

import pytest

from conftest import PASSWORD, make_account
from harness import server as srv
from harness.xmpp import (NS_CLIENT, NS_DISCO_INFO, NS_STANZAS, RawClient,
                          StreamClosed, q, stanza_error, tostr, unique)
from xml.sax.saxutils import escape

NS_REGISTER = "jabber:iq:register"
NS_REGISTER_FEATURE = "http://jabber.org/features/iq-register"
NS_XDATA = "jabber:x:data"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"

MODULES = ("disco", "ping", "register")


def server_with(name, cert, options, **kw):
    """A parleyd whose register module has the given options (YAML flow
    text, e.g. "allow_new: true")."""
    s = srv.ParleyServer(name, cert, modules=MODULES, **kw)
    text = s.config_text().replace("register: {}", "register: {%s}" % options)
    assert "register: {%s}" % options in text
    s.write_config(text)
    return s


@pytest.fixture(scope="module")
def open_server(cert):
    # A high per-address limit: every test here comes from 127.0.0.1.
    s = server_with("register-open", cert,
                    "allow_new: true, min_password_length: 8, max_per_address: 1000")
    s.start()
    yield s
    s.check_stop()


@pytest.fixture(scope="module")
def closed_server(cert):
    """The module with its defaults: allow_new is false."""
    s = server_with("register-closed", cert, "")
    s.start()
    yield s
    s.check_stop()


def legacy(user, password):
    return "<query xmlns='%s'><username>%s</username><password>%s</password></query>" % (
        NS_REGISTER, escape(user), escape(password))


def form(user, password, form_type="jabber:iq:register"):
    return ("<query xmlns='%s'><x xmlns='%s' type='submit'>"
            "<field var='FORM_TYPE' type='hidden'><value>%s</value></field>"
            "<field var='username'><value>%s</value></field>"
            "<field var='password'><value>%s</value></field>"
            "</x></query>") % (NS_REGISTER, NS_XDATA, form_type, escape(user), escape(password))


def preauth(clients, server):
    """A stream after STARTTLS, not authenticated; returns (client, features)."""
    c = clients(server.c2s_port)
    feats = c.negotiate_tls()
    return c, feats


def has_register_feature(feats):
    return feats.find(q(NS_REGISTER_FEATURE, "register")) is not None


def assert_error(el, type_, cond):
    assert el.get("type") == "error", tostr(el)
    err = stanza_error(el)
    assert err is not None, tostr(el)
    assert (err[0], err[1]) == (type_, cond), tostr(el)
    assert err[2], "no <text/> in %s" % tostr(el)
    return err


def assert_no_password_echo(el, password):
    assert password not in tostr(el), "the error echoes the password: %s" % tostr(el)


def exists(server, user, host="localhost"):
    return server.ctl("check_account", user, host).returncode == 0


def login_result(server, clients, user, password, mech="SCRAM-SHA-256"):
    """The SASL answer element for user/password on a fresh stream."""
    c = clients(server.c2s_port)
    c.negotiate_tls()
    if mech == "PLAIN":
        return c.auth_plain(user, password)
    return c.auth_scram(mech, user, password)


def can_login(server, clients, user, password, mech="SCRAM-SHA-256"):
    return login_result(server, clients, user, password, mech).tag == q(NS_SASL, "success")


def register_inband(server, clients, user, password):
    c, _ = preauth(clients, server)
    return c.iq("set", legacy(user, password))


# --- disabled (the default) -------------------------------------------------------


def test_default_off_no_stream_feature(closed_server, clients):
    """XEP-0077 §8 feature only when registration is allowed."""
    _, feats = preauth(clients, closed_server)
    assert not has_register_feature(feats), tostr(feats)


def test_default_off_get_and_set_not_allowed_stream_stays(closed_server, clients):
    c, _ = preauth(clients, closed_server)
    el = c.iq("get", "<query xmlns='%s'/>" % NS_REGISTER)
    assert_error(el, "cancel", "not-allowed")
    user = unique("off")
    el = c.iq("set", legacy(user, "long-enough-pw"))
    assert_error(el, "cancel", "not-allowed")
    assert_no_password_echo(el, "long-enough-pw")
    assert not exists(closed_server, user)
    # A stanza error, not a stream close: authentication still works here.
    u2, pw = make_account(closed_server)
    assert c.auth_plain(u2, pw).tag == q(NS_SASL, "success")


def test_default_off_change_password_and_remove_work(closed_server, clients):
    """Password change and cancellation do not depend on allow_new."""
    user, pw = make_account(closed_server)
    c = clients(closed_server.c2s_port)
    c.login(user, pw)
    el = c.iq("set", legacy(user, "a-new-password"))
    assert el.get("type") == "result", tostr(el)
    assert can_login(closed_server, clients, user, "a-new-password")
    c.send("<iq type='set' id='rm1'><query xmlns='%s'><remove/></query></iq>" % NS_REGISTER)
    el = c.expect(lambda e: e.get("id") == "rm1")
    assert el.get("type") == "result", tostr(el)
    assert c.expect_stream_error()[0] == "not-authorized"
    assert not exists(closed_server, user)


def test_disco_feature(closed_server, clients):
    """XEP-0077 §10: jabber:iq:register on the server."""
    user, pw = make_account(closed_server)
    c = clients(closed_server.c2s_port)
    c.login(user, pw)
    el = c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to="localhost")
    feats = {f.get("var") for f in el.find(q(NS_DISCO_INFO, "query"))
             if f.tag == q(NS_DISCO_INFO, "feature")}
    assert NS_REGISTER in feats, tostr(el)


def test_module_not_loaded_preauth_iq_closes_stream(server_factory, clients):
    """Without the module nobody takes a pre-auth IQ: c2s refuses it."""
    s = server_factory(modules=("disco", "ping"))
    c, feats = preauth(clients, s)
    assert not has_register_feature(feats)
    c.send("<iq type='get' id='g'><query xmlns='%s'/></iq>" % NS_REGISTER)
    assert c.expect_stream_error()[0] == "not-authorized"


# --- enabled: before authentication ---------------------------------------------


def test_feature_offered_after_starttls_only(open_server, clients):
    c = clients(open_server.c2s_port)
    c.connect()
    c.open_stream()
    feats = c.read_features()
    # starttls_required: nothing but STARTTLS before TLS (RFC 6120 §5.3.1).
    assert not has_register_feature(feats), tostr(feats)
    feats = c.starttls()
    assert has_register_feature(feats), tostr(feats)


def test_feature_on_direct_tls(open_server, clients):
    c = clients(open_server.tls_port)
    c.connect(tls=True)
    c.open_stream()
    assert has_register_feature(c.read_features())


def test_get_fields(open_server, clients):
    c, _ = preauth(clients, open_server)
    el = c.iq("get", "<query xmlns='%s'/>" % NS_REGISTER, to="localhost")
    assert el.get("type") == "result", tostr(el)
    assert el.get("to") is None, tostr(el)
    qy = el.find(q(NS_REGISTER, "query"))
    assert qy is not None, tostr(el)
    assert qy.find(q(NS_REGISTER, "instructions")) is not None
    assert qy.find(q(NS_REGISTER, "username")) is not None
    assert qy.find(q(NS_REGISTER, "password")) is not None
    assert qy.find(q(NS_REGISTER, "registered")) is None
    x = qy.find(q(NS_XDATA, "x"))
    assert x is not None and x.get("type") == "form", tostr(el)
    vars_ = {f.get("var") for f in x.findall(q(NS_XDATA, "field"))}
    assert {"FORM_TYPE", "username", "password"} <= vars_


def test_register_then_login_scram(open_server, clients):
    user = unique("ibr")
    c, _ = preauth(clients, open_server)
    el = c.iq("set", legacy(user, "Calliope-1"))
    assert el.get("type") == "result", tostr(el)
    assert el.get("to") is None
    assert exists(open_server, user)
    # §3.1.1: the same stream then authenticates with the new identity.
    el = c.auth_scram("SCRAM-SHA-256", user, "Calliope-1")
    assert el.tag == q(NS_SASL, "success"), tostr(el)
    c.restart()
    c.bind_ok("r")
    # And a fresh stream, with another SCRAM hash: every key set is stored.
    assert can_login(open_server, clients, user, "Calliope-1", mech="SCRAM-SHA-1")
    assert not can_login(open_server, clients, user, "Calliope-2")


def test_register_data_form(open_server, clients):
    user = unique("form")
    c, _ = preauth(clients, open_server)
    el = c.iq("set", form(user, "form-password"))
    assert el.get("type") == "result", tostr(el)
    assert can_login(open_server, clients, user, "form-password")


def test_register_username_is_prepared(open_server, clients):
    base = unique("case")
    el = register_inband(open_server, clients, base.upper(), "Password-123")
    assert el.get("type") == "result", tostr(el)
    assert exists(open_server, base)
    assert can_login(open_server, clients, base, "Password-123")


def test_duplicate_conflict(open_server, clients):
    user = unique("dup")
    assert register_inband(open_server, clients, user, "first-password").get("type") == "result"
    el = register_inband(open_server, clients, user, "second-password")
    assert_error(el, "cancel", "conflict")
    assert_no_password_echo(el, "second-password")
    # The first password still holds.
    assert can_login(open_server, clients, user, "first-password")
    assert not can_login(open_server, clients, user, "second-password")


def test_conflict_with_admin_registered_account(open_server, clients):
    user, _ = make_account(open_server)
    el = register_inband(open_server, clients, user, "another-password")
    assert_error(el, "cancel", "conflict")


@pytest.mark.parametrize("username", ["a@b", "bad user", "o'brien", "", None])
def test_bad_username_not_acceptable(open_server, clients, username):
    c, _ = preauth(clients, open_server)
    if username is None:
        payload = "<query xmlns='%s'><password>long-enough</password></query>" % NS_REGISTER
    else:
        payload = legacy(username, "long-enough")
    assert_error(c.iq("set", payload), "modify", "not-acceptable")


# U+0085 is a C1 control: XML 1.0 lets it through, SASLprep prohibits it
# (RFC 4013 §2.3, RFC 3454 C.2.2).
@pytest.mark.parametrize("password", ["short", "", None, "bad\u0085password"])
def test_bad_password_not_acceptable(open_server, clients, password):
    user = unique("pw")
    c, _ = preauth(clients, open_server)
    if password is None:
        payload = "<query xmlns='%s'><username>%s</username></query>" % (NS_REGISTER, user)
    else:
        payload = legacy(user, password)
    el = c.iq("set", payload)
    assert_error(el, "modify", "not-acceptable")
    assert not exists(open_server, user)


def test_min_length_counts_characters(open_server, clients):
    """Eight characters of two bytes each pass; seven do not."""
    u1, u2 = unique("len"), unique("len")
    assert_error(register_inband(open_server, clients, u1, "\u00e4" * 7), "modify",
                 "not-acceptable")
    el = register_inband(open_server, clients, u2, "\u00e4" * 8)
    assert el.get("type") == "result", tostr(el)
    assert can_login(open_server, clients, u2, "\u00e4" * 8)


def test_form_and_fields_together_bad_request(open_server, clients):
    """XEP-0077 §4 rule 5: never both."""
    user = unique("both")
    c, _ = preauth(clients, open_server)
    payload = form(user, "long-enough").replace(
        "<x ", "<username>%s</username><x " % user, 1)
    assert_error(c.iq("set", payload), "modify", "bad-request")
    assert not exists(open_server, user)


def test_remove_before_auth_unexpected_request(open_server, clients):
    c, _ = preauth(clients, open_server)
    el = c.iq("set", "<query xmlns='%s'><remove/></query>" % NS_REGISTER)
    assert_error(el, "cancel", "unexpected-request")


def test_preauth_other_address_refused(open_server, clients):
    c, _ = preauth(clients, open_server)
    el = c.iq("get", "<query xmlns='%s'/>" % NS_REGISTER, to="someone@localhost")
    assert_error(el, "cancel", "service-unavailable")


def test_preauth_wrong_element_bad_request(open_server, clients):
    c, _ = preauth(clients, open_server)
    assert_error(c.iq("get", "<foo xmlns='%s'/>" % NS_REGISTER), "modify", "bad-request")


def test_pipelined_registrations_on_one_stream(open_server, clients):
    """Two requests before the first answer: both answered, by id."""
    u1, u2 = unique("pipe"), unique("pipe")
    c, _ = preauth(clients, open_server)
    c.send("<iq type='set' id='p1'>%s</iq><iq type='set' id='p2'>%s</iq>"
           % (legacy(u1, "pipelined-1"), legacy(u2, "pipelined-2")))
    a = c.expect(lambda e: e.get("id") == "p1")
    b = c.expect(lambda e: e.get("id") == "p2")
    assert a.get("type") == "result" and b.get("type") == "result", (tostr(a), tostr(b))
    assert exists(open_server, u1) and exists(open_server, u2)


def test_creations_in_flight_bounded_per_address(open_server, clients):
    """Ten pipelined creations in one read: four go to key derivation,
    the rest wait their turn with <resource-constraint/>."""
    users = [unique("burst") for _ in range(10)]
    c, _ = preauth(clients, open_server)
    c.send("".join("<iq type='set' id='b%d'>%s</iq>" % (i, legacy(u, "burst-password"))
                   for i, u in enumerate(users)))
    answers = [c.expect(lambda e, i=i: e.get("id") == "b%d" % i) for i in range(10)]
    ok = [users[i] for i, a in enumerate(answers) if a.get("type") == "result"]
    refused = [a for a in answers if a.get("type") == "error"]
    assert len(ok) == 4, [tostr(a) for a in answers]
    for a in refused:
        assert_error(a, "wait", "resource-constraint")
    assert all(exists(open_server, u) for u in ok)
    # Once answered, the address may register again.
    assert register_inband(open_server, clients, unique("burst"), "burst-password").get(
        "type") == "result"


def test_close_while_deriving_is_clean(open_server, clients):
    """The client leaves before the answer: nothing is written to a freed
    stream (ASan checks at shutdown), the account may or may not exist."""
    user = unique("gone")
    c, _ = preauth(clients, open_server)
    c.send("<iq type='set' id='g1'>%s</iq>" % legacy(user, "leaving-early"))
    c.close()
    # The server is still fine.
    assert register_inband(open_server, clients, unique("after"), "still-works").get(
        "type") == "result"


def test_rate_limit_per_address(server_factory, cert, clients):
    s = server_factory(start=False, modules=MODULES)
    text = s.config_text().replace(
        "register: {}", "register: {allow_new: true, max_per_address: 2, per_address_window: 1h}")
    s.write_config(text)
    s.start()
    users = [unique("rl") for _ in range(3)]
    assert register_inband(s, clients, users[0], "rate-limit-1").get("type") == "result"
    # A failed attempt (conflict) counts too: it cost a key derivation.
    assert_error(register_inband(s, clients, users[0], "rate-limit-1"), "cancel", "conflict")
    el = register_inband(s, clients, users[1], "rate-limit-2")
    typ, cond, text = assert_error(el, "wait", "resource-constraint")
    assert "seconds" in text
    assert not exists(s, users[1])
    # Authentication is not affected.
    assert can_login(s, clients, users[0], "rate-limit-1")


def test_reload_with_jobs_in_flight_and_policy_change(server_factory, clients):
    """Jobs started before a reload finish after it (the instance they came
    from is gone: ASan at shutdown checks nothing dangles); the reloaded
    configuration turns registration off."""
    s = server_factory(start=False, modules=MODULES)
    on = s.config_text().replace("register: {}", "register: {allow_new: true}")
    s.write_config(on)
    s.start()
    users = [unique("rel") for _ in range(4)]
    c, _ = preauth(clients, s)
    c.send("".join("<iq type='set' id='r%d'>%s</iq>" % (i, legacy(u, "reload-password"))
                   for i, u in enumerate(users)))
    s.write_config(on.replace("allow_new: true", "allow_new: false"))
    cp = s.ctl("reload")
    assert cp.returncode == 0, cp.stderr
    for i in range(4):
        el = c.expect(lambda e, i=i: e.get("id") == "r%d" % i)
        assert el.get("type") == "result", tostr(el)
    # The new policy: no feature, and not-allowed.
    c2, feats = preauth(clients, s)
    assert not has_register_feature(feats)
    assert_error(c2.iq("set", legacy(unique("rel"), "reload-password")), "cancel",
                 "not-allowed")


def test_rate_limit_option_documented():
    """The option reference names the shape of the limit."""
    import subprocess
    out = subprocess.run([srv.binary("parleyd"), "--config-reference"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    for opt in ("allow_new", "min_password_length", "max_per_address", "per_address_window"):
        assert opt in out.stdout, "%s missing from --config-reference" % opt


# --- enabled: after authentication ----------------------------------------------


def test_registered_get(open_server, clients):
    user, pw = make_account(open_server)
    c = clients(open_server.c2s_port)
    c.login(user, pw)
    el = c.iq("get", "<query xmlns='%s'/>" % NS_REGISTER)
    assert el.get("type") == "result", tostr(el)
    qy = el.find(q(NS_REGISTER, "query"))
    assert qy.find(q(NS_REGISTER, "registered")) is not None, tostr(el)
    assert qy.find(q(NS_REGISTER, "username")).text == user


def test_change_password_keeps_other_sessions(open_server, clients):
    user, pw = make_account(open_server)
    a = clients(open_server.c2s_port)
    a.login(user, pw, resource="a")
    b = clients(open_server.c2s_port)
    b.login(user, pw, resource="b")
    # §3.3's example addresses the server.
    el = a.iq("set", legacy(user, "brand-new-pass"), to="localhost")
    assert el.get("type") == "result", tostr(el)
    assert can_login(open_server, clients, user, "brand-new-pass")
    assert can_login(open_server, clients, user, "brand-new-pass", mech="PLAIN")
    r = login_result(open_server, clients, user, pw)
    assert r.tag == q(NS_SASL, "failure") and r.find(q(NS_SASL, "not-authorized")) is not None, \
        tostr(r)
    # Both streams go on.
    assert a.ping().get("type") == "result"
    assert b.ping().get("type") == "result"


def test_change_password_one_at_a_time(open_server, clients):
    """Two pipelined changes: the second waits for the first."""
    user, pw = make_account(open_server)
    c = clients(open_server.c2s_port)
    c.login(user, pw)
    c.send("<iq type='set' id='c1'>%s</iq><iq type='set' id='c2'>%s</iq>"
           % (legacy(user, "first-change"), legacy(user, "second-change")))
    first = c.expect(lambda e: e.get("id") == "c1")
    second = c.expect(lambda e: e.get("id") == "c2")
    assert first.get("type") == "result", tostr(first)
    assert_error(second, "wait", "resource-constraint")
    assert can_login(open_server, clients, user, "first-change")
    # And then a change goes through again.
    assert c.iq("set", legacy(user, "third-change")).get("type") == "result"
    assert can_login(open_server, clients, user, "third-change")


def test_change_password_form_with_bare_jid(open_server, clients):
    """§3.3's form sends the bare JID as username."""
    user, pw = make_account(open_server)
    c = clients(open_server.c2s_port)
    c.login(user, pw)
    el = c.iq("set", form("%s@localhost" % user, "form-changed-pw",
                          "jabber:iq:register:changepassword"))
    assert el.get("type") == "result", tostr(el)
    assert can_login(open_server, clients, user, "form-changed-pw")


def test_change_password_errors(open_server, clients):
    user, pw = make_account(open_server)
    other, _ = make_account(open_server)
    c = clients(open_server.c2s_port)
    c.login(user, pw)
    # §3.3: an empty password MUST NOT replace the old one.
    assert_error(c.iq("set", legacy(user, "")), "modify", "bad-request")
    el = c.iq("set", "<query xmlns='%s'><username>%s</username><password/></query>"
              % (NS_REGISTER, user))
    assert_error(el, "modify", "bad-request")
    # §3.3 table: incomplete request.
    el = c.iq("set", "<query xmlns='%s'><password>without-user</password></query>" % NS_REGISTER)
    assert_error(el, "modify", "bad-request")
    assert_no_password_echo(el, "without-user")
    el = c.iq("set", legacy(user, "short"))
    assert_error(el, "modify", "not-acceptable")
    assert_no_password_echo(el, "short")
    # Another account's password, or a second account, is not ours to set.
    el = c.iq("set", legacy(other, "hijacked-password"))
    assert_error(el, "cancel", "not-allowed")
    assert_no_password_echo(el, "hijacked-password")
    assert not can_login(open_server, clients, other, "hijacked-password")
    # Nothing changed.
    assert can_login(open_server, clients, user, pw)


def test_register_iq_to_another_account_forbidden(open_server, clients):
    user, pw = make_account(open_server)
    other, _ = make_account(open_server)
    c = clients(open_server.c2s_port)
    c.login(user, pw)
    el = c.iq("set", "<query xmlns='%s'><remove/></query>" % NS_REGISTER,
              to="%s@localhost" % other)
    assert_error(el, "cancel", "forbidden")
    assert exists(open_server, other)
    # Another host of this server is not the user's home either.
    el = c.iq("set", "<query xmlns='%s'><remove/></query>" % NS_REGISTER, to="example.test")
    assert_error(el, "cancel", "forbidden")
    assert exists(open_server, user)


def test_cancel_deletes_account_and_closes_sessions(open_server, clients):
    user, pw = make_account(open_server)
    a = clients(open_server.c2s_port)
    a.login(user, pw, resource="a", presence=True)
    b = clients(open_server.c2s_port)
    b.login(user, pw, resource="b", presence=True)
    a.send("<iq type='set' id='unreg1'><query xmlns='%s'><remove/></query></iq>" % NS_REGISTER)
    el = a.expect(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == "unreg1")
    assert el.get("type") == "result", tostr(el)
    # §3.2: <not-authorized/> stream error on every session of the account.
    assert a.expect_stream_error()[0] == "not-authorized"
    assert b.expect_stream_error()[0] == "not-authorized"
    assert not exists(open_server, user)
    r = login_result(open_server, clients, user, pw)
    assert r.tag == q(NS_SASL, "failure"), tostr(r)


def test_cancel_to_own_bare_jid(open_server, clients):
    user, pw = make_account(open_server)
    c = clients(open_server.c2s_port)
    c.login(user, pw)
    el = c.iq("set", "<query xmlns='%s'><remove/></query>" % NS_REGISTER,
              to="%s@localhost" % user)
    assert el.get("type") == "result", tostr(el)
    assert c.expect_stream_error()[0] == "not-authorized"
    assert not exists(open_server, user)


def test_cancel_remove_not_only_child(open_server, clients):
    user, pw = make_account(open_server)
    c = clients(open_server.c2s_port)
    c.login(user, pw)
    el = c.iq("set", "<query xmlns='%s'><remove/><username>%s</username></query>"
              % (NS_REGISTER, user))
    assert_error(el, "modify", "bad-request")
    assert exists(open_server, user)


def test_register_after_cancel_reuses_name(open_server, clients):
    """The name is free again once the account is gone."""
    user, pw = make_account(open_server)
    c = clients(open_server.c2s_port)
    c.login(user, pw)
    assert c.iq("set", "<query xmlns='%s'><remove/></query>" % NS_REGISTER).get(
        "type") == "result"
    c.expect_stream_error()
    assert register_inband(open_server, clients, user, "second-life").get("type") == "result"
    assert can_login(open_server, clients, user, "second-life")


# --- a real client library ------------------------------------------------------


def test_slixmpp_register_login_change_cancel(open_server):
    """slixmpp's XEP-0077 plugin: it sees the stream feature, asks for the
    fields, registers, authenticates with SCRAM, changes the password and
    cancels the account."""
    slixmpp = pytest.importorskip("slixmpp")
    import asyncio
    import ssl

    user = unique("slix")
    events = []

    class Registrant(slixmpp.ClientXMPP):
        def __init__(self, jid, password):
            super().__init__(jid, password, sasl_mech="SCRAM-SHA-256")
            self.ssl_context.check_hostname = False
            self.ssl_context.verify_mode = ssl.CERT_NONE
            self.register_plugin("xep_0030")
            self.register_plugin("xep_0004")
            self.register_plugin("xep_0066")
            self.register_plugin("xep_0077")
            # See test_slixmpp.py: no channel-binding data, so slixmpp
            # sends the GS2 flag 'n' instead of a refused 'y'.
            fm = self.plugin["feature_mechanisms"]
            orig = fm.sasl_callback

            def no_channel_binding(required, optional):
                creds = orig(required, optional)
                creds.pop("channel_binding", None)
                return creds

            fm.sasl_callback = no_channel_binding
            # slixmpp 1.8.3 queues every IQ until a session exists, its own
            # pre-auth registration IQs included ("NOT SENT"): let them go.
            self._always_send_everything = True
            self.done = asyncio.get_event_loop().create_future()
            self.add_event_handler("register", self.on_register)
            self.add_event_handler("session_start", self.on_start)
            self.add_event_handler("failed_auth", self.on_failed)
            self.add_event_handler("stream_error", lambda e: events.append(
                ("stream_error", e["condition"])))

        async def on_register(self, form):
            events.append(("fields", form["register"]["fields"]))
            iq = self.Iq()
            iq["type"] = "set"
            iq["register"]["username"] = self.boundjid.user
            iq["register"]["password"] = self.password
            await iq.send(timeout=10)
            events.append(("registered",))

        async def on_start(self, _):
            try:
                events.append(("session",))
                await self.plugin["xep_0077"].change_password("slixmpp-new-pw", timeout=10)
                events.append(("changed",))
                await self.plugin["xep_0077"].cancel_registration(timeout=10)
                events.append(("cancelled",))
                self.done.set_result(True)
            except Exception as e:  # reported by the test below
                self.done.set_exception(e)

        def on_failed(self, *_):
            if not self.done.done():
                self.done.set_exception(AssertionError("authentication failed"))

    async def scenario():
        c = Registrant("%s@localhost/slix" % user, "slixmpp-first-pw")
        c.connect(("127.0.0.1", open_server.c2s_port))
        await c.done
        await asyncio.sleep(0.5)    # the stream error after the result
        c.disconnect()
        await asyncio.sleep(0.2)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(asyncio.wait_for(scenario(), 30))
    finally:
        for t in asyncio.all_tasks(loop):
            t.cancel()
        loop.run_until_complete(asyncio.gather(*asyncio.all_tasks(loop),
                                               return_exceptions=True))
        loop.close()
        asyncio.set_event_loop(None)

    # The stream error may be seen before the awaiting coroutine resumes.
    names = [e[0] for e in events if e[0] != "stream_error"]
    assert names == ["fields", "registered", "session", "changed", "cancelled"], events
    assert {"username", "password"} <= set(events[0][1]), events
    assert ("stream_error", "not-authorized") in events, events
    assert not exists(open_server, user)


# --- the "register" access rule (issue 5: who may register) -------------------------


@pytest.mark.parametrize("net,allowed", [("10.0.0.0/8", False), ("127.0.0.0/8", True)])
def test_register_access_rule_by_address(cert, clients, net, allowed):
    """access_rules.register decides from where accounts may be created;
    a refused address gets <not-allowed/> and no account appears."""
    extra = ("acl:\n  lan:\n    ip: [\"%s\"]\naccess_rules:\n  register:\n"
             "    - allow: lan\n    - deny: all\n") % net
    s = server_with("register-acl-%d" % allowed, cert,
                    "allow_new: true, max_per_address: 1000", extra=extra)
    s.start()
    try:
        user = unique("acl")
        el = register_inband(s, clients, user, "long-enough-pw")
        if allowed:
            assert el.get("type") == "result", tostr(el)
            assert exists(s, user)
        else:
            assert_error(el, "cancel", "not-allowed")
            assert not exists(s, user)
    finally:
        s.check_stop()
