"""Push Notifications (XEP-0357), the user's server side, against a real
parleyd.

The "app server" is a test client logged in as another local account:
its full JID is the push service JID, so the server's publish IQs are
delivered to it.  Covers account discovery (§4.1), enable with publish
options and disable (§5, §6), the publish with the urn:xmpp:push:summary
form when a message goes offline (§7, body only when configured, §9),
removal of a registration whose service answers with an error (§7.1),
the rate limit, and the error conditions of bad requests.
"""

import time

import pytest

from conftest import make_account, PASSWORD
from harness.xmpp import (NS_CLIENT, NS_DISCO_INFO, StreamClosed, q, stanza_error, tostr)

NS_PUSH = "urn:xmpp:push:0"
NS_PUBSUB = "http://jabber.org/protocol/pubsub"
NS_XDATA = "jabber:x:data"
PUBLISH_OPTIONS = "http://jabber.org/protocol/pubsub#publish-options"
MODULES = ("disco", "ping", "offline", "push")


def start(server_factory, **push_opts):
    s = server_factory(start=False, modules=MODULES)
    opts = ", ".join("%s: %s" % kv for kv in push_opts.items())
    text = s.config_text()
    assert "push: {}" in text
    s.write_config(text.replace("push: {}", "push: {%s}" % opts))
    s.start()
    return s


def login(s, clients, user, resource, presence=True):
    c = clients(s.c2s_port)
    c.login(user, PASSWORD, resource=resource, presence=presence)
    return c


def logout(c):
    """Ends the stream and waits for the server's close, so the session
    is unbound before the test goes on."""
    c.send("</stream:stream>")
    try:
        while True:
            c.next(timeout=5)
    except StreamClosed:
        pass


def options_form(secret):
    return ("<x xmlns='%s' type='submit'><field var='FORM_TYPE'><value>%s</value></field>"
            "<field var='secret'><value>%s</value></field></x>") % (NS_XDATA, PUBLISH_OPTIONS,
                                                                   secret)


def enable(c, jid, node="n1", form=""):
    attrs = " jid='%s'" % jid
    if node is not None:
        attrs += " node='%s'" % node
    return c.iq("set", "<enable xmlns='%s'%s>%s</enable>" % (NS_PUSH, attrs, form))


def disable(c, jid, node=None):
    attrs = " jid='%s'" % jid
    if node is not None:
        attrs += " node='%s'" % node
    return c.iq("set", "<disable xmlns='%s'%s/>" % (NS_PUSH, attrs))


def is_publish(e):
    return (e.tag == q(NS_CLIENT, "iq") and e.get("type") == "set"
            and e.find(q(NS_PUBSUB, "pubsub")) is not None)


def summary(iq):
    """(node, {field: value}, publish-options {field: value} or None)."""
    ps = iq.find(q(NS_PUBSUB, "pubsub"))
    pub = ps.find(q(NS_PUBSUB, "publish"))
    notif = pub.find("%s/%s" % (q(NS_PUBSUB, "item"), q(NS_PUSH, "notification")))
    assert notif is not None, tostr(iq)
    x = notif.find(q(NS_XDATA, "x"))
    fields = {f.get("var"): f.findtext(q(NS_XDATA, "value")) for f in x.findall(q(NS_XDATA, "field"))}
    po = ps.find(q(NS_PUBSUB, "publish-options"))
    opts = None
    if po is not None:
        px = po.find(q(NS_XDATA, "x"))
        opts = {f.get("var"): f.findtext(q(NS_XDATA, "value"))
                for f in px.findall(q(NS_XDATA, "field"))}
    return pub.get("node"), fields, opts


def answer(app, iq, error=None, error_type="cancel"):
    if error:
        app.send("<iq type='error' id='%s' to='%s'><error type='%s'><%s xmlns="
                 "'urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
                 % (iq.get("id"), iq.get("from"), error_type, error))
    else:
        app.send("<iq type='result' id='%s' to='%s'/>" % (iq.get("id"), iq.get("from")))


@pytest.fixture
def setup(server_factory, clients):
    """A server (min_interval 0), user A registered with an app server
    (a local account's full JID), and a contact B."""
    s = start(server_factory, min_interval=0)
    a, _ = make_account(s, prefix="a")
    b, _ = make_account(s, prefix="b")
    p, _ = make_account(s, prefix="app")
    app = login(s, clients, p, "push", presence=False)
    ac = login(s, clients, a, "phone")
    bc = login(s, clients, b, "desk")
    el = enable(ac, app.jid, "n1", options_form("s3cr3t"))
    assert el.get("type") == "result", tostr(el)
    return dict(s=s, a=a, abare=a + "@localhost", ac=ac, bc=bc, app=app)


def test_disco_feature_on_account(server_factory, clients):
    s = start(server_factory)
    a, _ = make_account(s)
    c = login(s, clients, a, "x")
    el = c.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to=a + "@localhost")
    feats = [f.get("var") for f in el.iter(q(NS_DISCO_INFO, "feature"))]
    assert NS_PUSH in feats, tostr(el)


def test_offline_message_publishes_summary(setup, clients):
    w = setup
    ac, bc, app = w["ac"], w["bc"], w["app"]
    logout(ac)
    bc.send_message(w["abare"], body="wherefore art thou")
    iq = app.expect(is_publish, what="publish IQ")
    # §7: from the user's bare JID, to the service.
    assert iq.get("from") == w["abare"], tostr(iq)
    assert iq.get("to") == app.jid, tostr(iq)
    node, fields, opts = summary(iq)
    assert node == "n1"
    assert fields == {"FORM_TYPE": "urn:xmpp:push:summary", "message-count": "1",
                      "last-message-sender": bc.jid}, tostr(iq)
    assert opts == {"FORM_TYPE": PUBLISH_OPTIONS, "secret": "s3cr3t"}, tostr(iq)
    answer(app, iq)
    bc.send_message(w["abare"], body="second")
    iq = app.expect(is_publish, what="second publish IQ")
    assert summary(iq)[1]["message-count"] == "2", tostr(iq)
    answer(app, iq)
    # Chat states alone are not worth a notification.
    bc.send("<message to='%s' type='chat'><composing xmlns="
            "'http://jabber.org/protocol/chatstates'/></message>" % w["abare"])
    app.expect_nothing(is_publish, timeout=0.8)


def test_online_user_gets_no_push(setup):
    w = setup
    w["bc"].send_message(w["abare"], body="you are here")
    w["ac"].expect_message("you are here")
    w["app"].expect_nothing(is_publish, timeout=0.8)


def test_disable_stops_notifications(setup, clients):
    w = setup
    ac, bc, app = w["ac"], w["bc"], w["app"]
    el = disable(ac, app.jid)               # §6: every node of that service
    assert el.get("type") == "result", tostr(el)
    logout(ac)
    bc.send_message(w["abare"], body="nobody hears")
    app.expect_nothing(is_publish, timeout=1.0)


def test_disable_one_node(setup, clients):
    w = setup
    ac, bc, app = w["ac"], w["bc"], w["app"]
    el = enable(ac, app.jid, "n2")
    assert el.get("type") == "result", tostr(el)
    el = disable(ac, app.jid, "n1")
    assert el.get("type") == "result", tostr(el)
    logout(ac)
    bc.send_message(w["abare"], body="only n2")
    iq = app.expect(is_publish, what="publish IQ")
    node, fields, opts = summary(iq)
    assert node == "n2" and opts is None, tostr(iq)
    answer(app, iq)
    app.expect_nothing(is_publish, timeout=0.8)


def test_error_reply_disables_registration(setup, clients):
    w = setup
    ac, bc, app = w["ac"], w["bc"], w["app"]
    logout(ac)
    bc.send_message(w["abare"], body="first")
    iq = app.expect(is_publish, what="publish IQ")
    answer(app, iq, error="item-not-found")           # §7.1
    time.sleep(0.3)
    bc.send_message(w["abare"], body="after the error")
    app.expect_nothing(is_publish, timeout=1.0)


def test_error_from_someone_else_is_ignored(setup, clients):
    """Only the service itself can make the server drop its registration."""
    w = setup
    ac, bc, app = w["ac"], w["bc"], w["app"]
    logout(ac)
    bc.send_message(w["abare"], body="first")
    iq = app.expect(is_publish, what="publish IQ")
    bc.send("<iq type='error' id='%s' to='%s'><error type='cancel'><item-not-found xmlns="
            "'urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>" % (iq.get("id"), w["abare"]))
    time.sleep(0.3)
    answer(app, iq)
    bc.send_message(w["abare"], body="still registered")
    iq = app.expect(is_publish, what="publish IQ")
    answer(app, iq)


def test_unreachable_service_is_disabled(setup, clients):
    """A service JID on a remote domain answers <remote-server-not-found/>
    (no federation yet): that is an IQ error, the registration goes."""
    w = setup
    ac, bc, app = w["ac"], w["bc"], w["app"]
    disable(ac, app.jid)
    el = enable(ac, "push.remote.example", "r1")
    assert el.get("type") == "result", tostr(el)
    logout(ac)
    bc.send_message(w["abare"], body="to nowhere")
    time.sleep(0.5)
    s = w["s"]
    assert "registration removed" in s.log_text(), "no removal logged"


def test_body_when_configured(server_factory, clients):
    s = start(server_factory, min_interval=0, include_body="true")
    a, _ = make_account(s, prefix="a")
    b, _ = make_account(s, prefix="b")
    p, _ = make_account(s, prefix="app")
    app = login(s, clients, p, "push", presence=False)
    ac = login(s, clients, a, "phone")
    bc = login(s, clients, b, "desk")
    assert enable(ac, app.jid, "n").get("type") == "result"
    logout(ac)
    bc.send_message(a + "@localhost", body="with body")
    iq = app.expect(is_publish, what="publish IQ")
    fields = summary(iq)[1]
    assert fields["last-message-body"] == "with body", tostr(iq)
    assert fields["message-count"] == "1"


def test_rate_limit(server_factory, clients):
    s = start(server_factory, min_interval=2)
    a, _ = make_account(s, prefix="a")
    b, _ = make_account(s, prefix="b")
    p, _ = make_account(s, prefix="app")
    app = login(s, clients, p, "push", presence=False)
    ac = login(s, clients, a, "phone")
    bc = login(s, clients, b, "desk")
    assert enable(ac, app.jid, "n").get("type") == "result"
    logout(ac)
    bc.send_message(a + "@localhost", body="1")
    iq = app.expect(is_publish, what="publish IQ")
    answer(app, iq)
    bc.send_message(a + "@localhost", body="2")
    app.expect_nothing(is_publish, timeout=0.8)
    time.sleep(1.5)
    bc.send_message(a + "@localhost", body="3")
    iq = app.expect(is_publish, what="publish IQ after the interval")
    # The suppressed one is counted, not lost.
    assert summary(iq)[1]["message-count"] == "3", tostr(iq)


def test_enable_errors(server_factory, clients):
    s = start(server_factory)
    a, _ = make_account(s, prefix="a")
    b, _ = make_account(s, prefix="b")
    ac = login(s, clients, a, "phone")
    login(s, clients, b, "desk")
    el = ac.iq("set", "<enable xmlns='%s' node='x'/>" % NS_PUSH)
    assert stanza_error(el)[:2] == ("modify", "bad-request"), tostr(el)
    el = enable(ac, "@@bad@@")
    assert stanza_error(el)[:2] == ("modify", "jid-malformed"), tostr(el)
    bad_form = ("<x xmlns='%s' type='submit'><field var='FORM_TYPE'><value>urn:other"
                "</value></field></x>") % NS_XDATA
    el = enable(ac, "push.example", "n", bad_form)
    assert stanza_error(el)[:2] == ("modify", "bad-request"), tostr(el)
    el = ac.iq("get", "<enable xmlns='%s' jid='push.example'/>" % NS_PUSH)
    assert stanza_error(el)[:2] == ("modify", "bad-request"), tostr(el)
    el = ac.iq("set", "<enable xmlns='%s' jid='push.example'/>" % NS_PUSH, to=b + "@localhost")
    t, cond, text = stanza_error(el)
    assert (t, cond) == ("auth", "forbidden") and text, tostr(el)
    # The limit on registrations (default 8).
    for i in range(8):
        assert enable(ac, "push.example", "n%d" % i).get("type") == "result"
    assert enable(ac, "push.example", "n0").get("type") == "result"   # replaces
    el = enable(ac, "push.example", "n8")
    assert stanza_error(el)[:2] == ("cancel", "policy-violation"), tostr(el)


def test_hibernated_session_gets_push(server_factory, clients):
    """XEP-0357 §7 with XEP-0198: a message queued for a session whose
    stream broke (hibernated, waiting for resumption) triggers a push, and
    the message itself is delivered when the client resumes."""
    from test_sm import SMClient, NS_SM
    s = server_factory(start=False, modules=MODULES + ("stream_management",))
    s.write_config(s.config_text().replace("push: {}", "push: {min_interval: 0}"))
    s.start()
    a, _ = make_account(s, prefix="a")
    b, _ = make_account(s, prefix="b")
    p, _ = make_account(s, prefix="app")
    app = login(s, clients, p, "push", presence=False)
    bc = login(s, clients, b, "desk")
    ac = SMClient(s.c2s_port)
    ac.login(a, PASSWORD, resource="phone")
    assert ac.enable(resume=True).tag == q(NS_SM, "enabled")
    el = enable(ac, app.jid, "n1")
    assert el.get("type") == "result", tostr(el)
    previd = ac.sm_id
    ac.drop()
    time.sleep(0.5)                 # the server sees the broken stream and hibernates it
    bc.send_message(a + "@localhost/phone", body="while you sleep")
    iq = app.expect(is_publish, what="publish IQ for the hibernated session")
    assert iq.get("from") == a + "@localhost", tostr(iq)
    assert summary(iq)[1]["last-message-sender"] == bc.jid, tostr(iq)
    answer(app, iq)
    el = ac.resume(a, PASSWORD, previd, ac.h_in)
    assert el.tag == q(NS_SM, "resumed"), tostr(el)
    ac.expect_message("while you sleep")
    ac.close()


# --- §7.1 failures: retry what is temporary, remove what is permanent --------


def retry_setup(server_factory, clients, **opts):
    s = start(server_factory, min_interval=0, **opts)
    a, _ = make_account(s, prefix="a")
    b, _ = make_account(s, prefix="b")
    p, _ = make_account(s, prefix="app")
    app = login(s, clients, p, "push", presence=False)
    ac = login(s, clients, a, "phone")
    bc = login(s, clients, b, "desk")
    assert enable(ac, app.jid, "n1").get("type") == "result"
    logout(ac)
    return s, a + "@localhost", bc, app, p


def test_wait_error_retried_with_backoff(server_factory, clients):
    """A type='wait' error is transient (RFC 6120 §8.3.2): the same
    notification is published again after retry_delay, then after twice
    that, 'retries' times; then it is dropped but the registration stays."""
    s, abare, bc, app, _ = retry_setup(server_factory, clients, retries=2, retry_delay=1)
    bc.send_message(abare, body="hello")
    iq1 = app.expect(is_publish, what="first publish")
    t1 = time.monotonic()
    answer(app, iq1, error="resource-constraint", error_type="wait")
    iq2 = app.expect(is_publish, timeout=5, what="first retry")
    t2 = time.monotonic()
    assert iq2.get("id") != iq1.get("id")
    assert summary(iq2) == summary(iq1), tostr(iq2)
    assert t2 - t1 >= 0.8, "retried after %.2fs, before retry_delay" % (t2 - t1)
    answer(app, iq2, error="resource-constraint", error_type="wait")
    iq3 = app.expect(is_publish, timeout=6, what="second retry")
    t3 = time.monotonic()
    assert t3 - t2 >= 1.8, "the delay did not double (%.2fs)" % (t3 - t2)
    answer(app, iq3, error="resource-constraint", error_type="wait")
    # retries=2: three attempts in all, then the notification is dropped.
    app.expect_nothing(is_publish, timeout=5.0)
    assert "notification dropped, registration kept" in s.log_text()
    # The registration survived the transient errors.
    bc.send_message(abare, body="again")
    iq = app.expect(is_publish, what="publish after the transient failures")
    answer(app, iq)
    app.expect_nothing(is_publish, timeout=1.5)


def test_wait_error_then_success_stops_retrying(server_factory, clients):
    s, abare, bc, app, _ = retry_setup(server_factory, clients, retries=3, retry_delay=1)
    bc.send_message(abare, body="hello")
    iq = app.expect(is_publish, what="first publish")
    answer(app, iq, error="internal-server-error", error_type="wait")
    iq = app.expect(is_publish, timeout=5, what="retry")
    answer(app, iq)
    app.expect_nothing(is_publish, timeout=3.0)


def test_timeout_retried(server_factory, clients):
    """No answer within publish_timeout counts as a temporary failure."""
    s, abare, bc, app, _ = retry_setup(server_factory, clients, retries=1, retry_delay=1,
                                       publish_timeout=1)
    bc.send_message(abare, body="anyone there?")
    iq1 = app.expect(is_publish, what="first publish")
    t1 = time.monotonic()
    iq2 = app.expect(is_publish, timeout=6, what="retry after the timeout")
    assert time.monotonic() - t1 >= 1.8      # timeout 1s + delay 1s
    assert iq2.get("id") != iq1.get("id")
    # A late answer to the attempt that timed out counts as well.
    answer(app, iq1)
    answer(app, iq2)
    app.expect_nothing(is_publish, timeout=3.0)


@pytest.mark.parametrize("cond,etype", [
    ("item-not-found", "cancel"),
    ("forbidden", "auth"),
    ("not-acceptable", "modify"),
])
def test_permanent_error_removes_registration_for_good(server_factory, clients, cond, etype):
    """A permanent error is not retried, and the registration is deleted
    from storage: still gone after a restart."""
    s, abare, bc, app, p = retry_setup(server_factory, clients, retries=3, retry_delay=1)
    bc.send_message(abare, body="first")
    iq = app.expect(is_publish, what="publish IQ")
    answer(app, iq, error=cond, error_type=etype)
    app.expect_nothing(is_publish, timeout=2.5)         # no retry
    assert "permanent error; registration removed" in s.log_text()
    bc.ping()
    s.stop()
    s.start()
    app = login(s, clients, p, "push", presence=False)
    bc = login(s, clients, bc.jid.split("@")[0], "desk")
    bc.send_message(abare, body="after the restart")
    app.expect_nothing(is_publish, timeout=1.5)


def test_affiliation_revoked_removes_registration(setup, clients):
    """§8: the service tells the user's bare JID its affiliation is now
    'none': that JID and node are disabled (another node stays)."""
    w = setup
    ac, bc, app = w["ac"], w["bc"], w["app"]
    assert enable(ac, app.jid, "n2").get("type") == "result"
    app.send("<message to='%s'><pubsub xmlns='%s' node='n1'><affiliation jid='%s' "
             "affiliation='none'/></pubsub></message>" % (w["abare"], NS_PUBSUB, w["abare"]))
    ac.expect(lambda e: e.tag == q(NS_CLIENT, "message")
              and e.find(q(NS_PUBSUB, "pubsub")) is not None, what="the notice itself")
    logout(ac)
    bc.send_message(w["abare"], body="only n2 now")
    iq = app.expect(is_publish, what="publish IQ")
    assert summary(iq)[0] == "n2", tostr(iq)
    answer(app, iq)
    app.expect_nothing(is_publish, timeout=1.0)
