"""Account bans (issue 5): parleyctl ban_account / get_ban_details /
unban_account against a real parleyd.

- a ban closes every session with <policy-violation/> and the reason
  (RFC 6120 §4.9.3.14), and is written to the audit log;
- messages to a banned account bounce with <service-unavailable/>;
- get_ban_details before, during and after a ban (history kept);
- the ban survives a restart; a record edited in the database is ignored;
- unban restores login with the unchanged password;
- clients cannot read or write urn:xmpp:parley:ban via XEP-0049;
- a banned login fails with <account-disabled/> and the reason only after
  a correct password (RFC 6120 §6.5.1), <not-authorized/> otherwise.
"""

import os
import sqlite3
import time

import pytest

from conftest import PASSWORD, make_account
from harness import server as srv
from harness.xmpp import NS_SASL, q, stanza_error, tostr, unique

NS_PRIVATE = "jabber:iq:private"
NS_BAN = "urn:xmpp:parley:ban"
# disco before adhoc: the adhoc module bounces messages to banned accounts.
MODULES = tuple(srv.ALL_MODULES) + ("adhoc",)


@pytest.fixture(scope="module")
def server(request, cert):
    s = srv.ParleyServer("test_ban", cert, modules=MODULES)
    s.start()
    yield s
    s.check_stop()


def ban(server, user, reason, host="localhost"):
    cp = server.ctl("ban_account", user, host, reason)
    assert cp.returncode == 0, cp.stderr + cp.stdout
    return cp.stdout


def details(server, user, host="localhost"):
    cp = server.ctl("get_ban_details", user, host)
    assert cp.returncode == 0, cp.stderr + cp.stdout
    return cp.stdout


def login(server, clients, user, password=PASSWORD, **kw):
    c = clients(server.c2s_port)
    c.login(user, password, **kw)
    return c


def wait_log(server, needle, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in server.log_text():
            return
        time.sleep(0.05)
    raise AssertionError("%r not in parleyd.log" % needle)


def sasl_failure(el):
    """(condition, text) of a SASL <failure/>."""
    assert el.tag == q(NS_SASL, "failure"), "expected <failure/>, got %s" % tostr(el)
    cond = [local for local in (c.tag.split("}")[1] for c in el) if local != "text"]
    text = el.find(q(NS_SASL, "text"))
    return (cond[0] if cond else None), (text.text if text is not None else None)


def test_ban_kicks_every_session(server, clients):
    user, _ = make_account(server)
    a = login(server, clients, user, resource="a", presence=True)
    b = login(server, clients, user, resource="b")
    out = ban(server, user, "spamming links")
    assert "closed 2 sessions" in out
    for c in (a, b):
        assert c.expect_stream_error() == ("policy-violation", "spamming links")
    wait_log(server, "audit: ban_account %s@localhost by ctl: reason 'spamming links'" % user)


def test_get_ban_details_before_during_after(server):
    user, _ = make_account(server)
    out = details(server, user)
    assert out.strip() == "%s@localhost is not banned" % user

    ban(server, user, "first reason")
    out = details(server, user)
    assert "%s@localhost is banned" % user in out
    assert "reason: first reason" in out
    assert "since: 20" in out
    assert "last reason" not in out

    # A second ban replaces the reason; the first one becomes history.
    ban(server, user, "second reason")
    out = details(server, user)
    assert "reason: second reason" in out and "last reason: first reason" in out

    cp = server.ctl("unban_account", user, "localhost")
    assert cp.returncode == 0, cp.stderr
    out = details(server, user)
    assert "is not banned" in out and "last reason: second reason" in out
    wait_log(server, "audit: unban_account %s@localhost by ctl" % user)

    # Unbanning an account that is not banned fails and says so.
    cp = server.ctl("unban_account", user, "localhost")
    assert cp.returncode != 0 and "is not banned" in cp.stderr + cp.stdout


def test_unknown_account_and_bad_reason(server):
    cp = server.ctl("get_ban_details", unique("nobody"), "localhost")
    assert cp.returncode != 0 and "does not exist" in cp.stderr + cp.stdout
    cp = server.ctl("ban_account", unique("nobody"), "localhost", "x")
    assert cp.returncode != 0 and "does not exist" in cp.stderr + cp.stdout
    user, _ = make_account(server)
    cp = server.ctl("ban_account", user, "localhost", "x" * 1025)
    assert cp.returncode != 0 and "longer than 1024" in cp.stderr + cp.stdout
    cp = server.ctl("ban_account", user, "localhost", "bell\x07")
    assert cp.returncode != 0 and "control characters" in cp.stderr + cp.stdout
    assert "is not banned" in details(server, user)


def test_messages_to_banned_account_bounce(server, clients):
    user, _ = make_account(server)
    sender = login(server, clients, make_account(server)[0], presence=True)
    ban(server, user, "abuse")
    for to in ("%s@localhost" % user, "%s@localhost/res" % user):
        id_ = sender.send_message(to, body="are you there?")
        el = sender.expect(lambda e: e.get("id") == id_, what="bounce")
        assert el.get("type") == "error", tostr(el)
        assert stanza_error(el)[:2] == ("cancel", "service-unavailable"), tostr(el)
    # After unban, messages are delivered (to offline storage here: no bounce).
    assert server.ctl("unban_account", user, "localhost").returncode == 0
    id_ = sender.send_message("%s@localhost" % user, body="welcome back")
    sender.expect_nothing(lambda e: e.get("id") == id_, timeout=1.0)
    c = login(server, clients, user, presence=True)
    c.expect_message(body="welcome back")


def test_banned_account_messages_bounce_without_adhoc(server_factory, clients):
    """The offline store refuses a banned account's messages itself, so
    the rule holds on hosts without the administration module too."""
    s = server_factory(modules=("disco", "ping", "offline"))
    user, _ = make_account(s)
    sender = login(s, clients, make_account(s)[0], presence=True)
    ban(s, user, "abuse")
    id_ = sender.send_message("%s@localhost" % user, body="still there?")
    el = sender.expect(lambda e: e.get("id") == id_, what="bounce")
    assert stanza_error(el)[:2] == ("cancel", "service-unavailable"), tostr(el)
    assert "abuse" not in tostr(el)          # the reason is for the user, not senders
    assert s.ctl("unban_account", user, "localhost").returncode == 0
    id_ = sender.send_message("%s@localhost" % user, body="welcome back")
    sender.expect_nothing(lambda e: e.get("id") == id_, timeout=1.0)
    c = login(s, clients, user, presence=True)
    c.expect_message(body="welcome back")


def test_unban_restores_login_with_old_password(server, clients):
    user, _ = make_account(server)
    c = login(server, clients, user)
    ban(server, user, "cool down")
    c.expect_stream_error()
    assert server.ctl("unban_account", user, "localhost").returncode == 0
    c2 = login(server, clients, user)
    assert c2.ping().get("type") == "result"


@pytest.mark.parametrize("how", ["get", "set"])
def test_client_cannot_touch_ban_namespace(server, clients, how):
    user, _ = make_account(server)
    ban(server, user, "hidden")
    assert server.ctl("unban_account", user, "localhost").returncode == 0
    c = login(server, clients, user)
    if how == "get":
        payload = "<query xmlns='%s'><ban xmlns='%s'/></query>" % (NS_PRIVATE, NS_BAN)
    else:
        payload = ("<query xmlns='%s'><ban xmlns='%s'><state>lifted</state></ban></query>"
                   % (NS_PRIVATE, NS_BAN))
    el = c.iq(how, payload)
    assert el.get("type") == "error", tostr(el)
    assert stanza_error(el)[1] == "not-acceptable", tostr(el)
    # The record is unchanged: the history is still there.
    assert "last reason: hidden" in details(server, user)


def test_ban_survives_restart(server_factory, clients):
    s = server_factory(modules=MODULES)
    user, _ = make_account(s)
    sender_user, _ = make_account(s)
    ban(s, user, "persistent")
    s.check_stop()
    s.start()
    assert "reason: persistent" in details(s, user)
    sender = login(s, clients, sender_user)
    id_ = sender.send_message("%s@localhost" % user)
    el = sender.expect(lambda e: e.get("id") == id_, what="bounce")
    assert stanza_error(el)[1] == "service-unavailable", tostr(el)


def test_tampered_record_is_ignored(server_factory, clients):
    s = server_factory(modules=MODULES)
    user, _ = make_account(s)
    sender_user, _ = make_account(s)
    ban(s, user, "tamper me")
    s.check_stop()
    db = sqlite3.connect(os.path.join(s.dir, "parley.db"))
    rows = db.execute("SELECT value FROM kv WHERE host='localhost' AND user=? AND "
                      "area='private' AND key=?", (user, "{%s}ban" % NS_BAN)).fetchall()
    assert len(rows) == 1
    value = rows[0][0]
    value = value.decode() if isinstance(value, bytes) else value
    assert "tamper me" in value
    # Edit a field: the HMAC no longer matches.
    db.execute("UPDATE kv SET value=? WHERE host='localhost' AND user=? AND area='private' "
               "AND key=?", (value.replace("tamper me", "tampered").encode(), user,
                             "{%s}ban" % NS_BAN))
    db.commit()
    db.close()
    s.start()
    out = details(s, user)
    assert "is not banned" in out and "failed verification" in out
    wait_log(s, "ignoring the ban record of %s@localhost: its HMAC does not verify" % user)
    # Not banned: messages go through and login works.
    sender = login(s, clients, sender_user)
    id_ = sender.send_message("%s@localhost" % user, body="hello")
    sender.expect_nothing(lambda e: e.get("id") == id_, timeout=1.0)
    c = login(s, clients, user)
    assert c.ping().get("type") == "result"


# --- login refusal (the SASL side lives in c2s.c, calling ban_check()) -------

@pytest.mark.parametrize("mech", ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"])
def test_banned_login_refused_after_correct_password(server, clients, mech):
    user, _ = make_account(server)
    ban(server, user, "no entry")
    c = clients(server.c2s_port)
    c.negotiate_tls()
    if mech == "PLAIN":
        el = c.auth_plain(user, PASSWORD)
    else:
        el = c.auth_scram(mech, user, PASSWORD)
    assert sasl_failure(el) == ("account-disabled", "no entry")


@pytest.mark.parametrize("mech", ["PLAIN", "SCRAM-SHA-1"])
def test_banned_login_wrong_password_is_not_authorized(server, clients, mech):
    """A stranger without the password learns nothing about the ban."""
    user, _ = make_account(server)
    ban(server, user, "no entry")
    c = clients(server.c2s_port)
    c.negotiate_tls()
    if mech == "PLAIN":
        el = c.auth_plain(user, "wrong-password")
    else:
        el = c.auth_scram(mech, user, "wrong-password")
    cond, text = sasl_failure(el)
    assert cond == "not-authorized"
    assert text is None or "no entry" not in text
