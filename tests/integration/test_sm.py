"""XEP-0198 stream management against a real parleyd: the feature (§2),
<enable/> and its errors (§3), <r/>/<a/> counting with exact h values (§4;
the 2^32 wrap is unit-tested in tests/unit/stream/test_sm_queue.c),
handled-count-too-high (§6), resumption with exact resends and <failed h/>
(§5), hibernation limits, and the fate of unacknowledged stanzas when a
session ends (§4: re-routed like stanzas to an unavailable resource).

The SMClient here (a careful XEP-0198 client over RawClient) is also used
by test_csi.py and test_durability.py."""


import socket
import time

from harness.xmpp import (NS_CLIENT, NS_STANZAS, RawClient, local, ns_of, q,
                          tostr)

NS_SM = "urn:xmpp:sm:3"
NS_CSI = "urn:xmpp:csi:0"
NS_DELAY = "urn:xmpp:delay"
STANZAS = ("message", "presence", "iq")


def is_stanza(el):
    return ns_of(el.tag) == NS_CLIENT and local(el.tag) in STANZAS


def is_sm(name):
    return lambda e: e.tag == q(NS_SM, name)


class SMClient(RawClient):
    def __init__(self, port, **kw):
        super().__init__(port, **kw)
        self.h_in = 0           # stanzas received since <enabled/> / carried over
        self.counting = False
        self.out_sent = 0       # stanzas we sent since <enable/>
        self.unacked = []       # (seq, xml) not acknowledged by the server
        self.sm_id = None
        self.auto_ack = True

    def _pump(self, deadline):
        out = super()._pump(deadline)
        for el in out:
            if el.tag in (q(NS_SM, "enabled"), q(NS_SM, "resumed")):
                self.counting = True
            elif self.counting and is_stanza(el):
                self.h_in = (self.h_in + 1) % 2 ** 32
            elif el.tag == q(NS_SM, "r") and self.auto_ack and self.sock is not None:
                self.send("<a xmlns='%s' h='%d'/>" % (NS_SM, self.h_in))
        return out

    # -- sending stanzas that count ----------------------------------------------

    def send_stanza(self, xml):
        """Sends a stanza counted by the server's h (after <enable/>)."""
        self.out_sent += 1
        self.unacked.append((self.out_sent, xml))
        self.send(xml)

    def forget_acked(self, h):
        self.unacked = [(s, x) for (s, x) in self.unacked if s > h]

    # -- XEP-0198 -------------------------------------------------------------------

    def enable(self, resume=True, max_=None):
        attrs = " resume='true'" if resume else ""
        if max_ is not None:
            attrs += " max='%d'" % max_
        self.send("<enable xmlns='%s'%s/>" % (NS_SM, attrs))
        el = self.expect(lambda e: e.tag in (q(NS_SM, "enabled"), q(NS_SM, "failed")),
                         what="<enabled/> or <failed/>")
        if el.tag == q(NS_SM, "enabled"):
            self.sm_id = el.get("id")
            self.out_sent = 0
            self.unacked = []
        return el

    def request_ack(self, timeout=None):
        """<r/> -> the h of the server's <a/>."""
        self.send("<r xmlns='%s'/>" % NS_SM)
        el = self.expect_tag(q(NS_SM, "a"), timeout=timeout)
        h = int(el.get("h"))
        self.forget_acked(h)
        return h

    def ack(self, h=None):
        self.send("<a xmlns='%s' h='%d'/>" % (NS_SM, self.h_in if h is None else h))

    def drop(self):
        """Breaks the TCP connection without </stream:stream> (XEP-0198 §7)."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        self.sock = None
        self.eof = True

    def resume(self, user, password, previd, h, host="localhost"):
        """Connects again, authenticates and sends <resume/>; returns the
        <resumed/> or <failed/> element."""
        self.pending = []
        self.eof = False
        self.connect()
        self.negotiate_tls(to=host)
        self.authenticate(user, password, host=host)
        self.counting = False
        self.send("<resume xmlns='%s' previd='%s' h='%d'/>" % (NS_SM, previd, h))
        el = self.expect(lambda e: e.tag in (q(NS_SM, "resumed"), q(NS_SM, "failed")),
                         what="<resumed/> or <failed/>")
        if el.tag == q(NS_SM, "resumed"):
            self.forget_acked(int(el.get("h")))
        return el


def failed_condition(el):
    for child in el:
        if ns_of(child.tag) == NS_STANZAS and local(child.tag) != "text":
            return local(child.tag)
    return None


def sm_login(server, user, password, resource=None, resume=True, presence=None):
    c = SMClient(server.c2s_port)
    c.login(user, password, resource=resource, presence=presence)
    el = c.enable(resume=resume)
    assert el.tag == q(NS_SM, "enabled"), tostr(el)
    return c


def wait_until(pred, timeout=5.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def set_module_options(server, module, options):
    """Rewrites the server's config with options for one module (the
    harness writes every module as 'name: {}')."""
    text = server.config_text()
    old = "%s: {}" % module
    assert old in text, text
    server.write_config(text.replace(old, "%s: {%s}" % (
        module, ", ".join("%s: %s" % kv for kv in options.items()))))


# --- tests --------------------------------------------------------------------------

import pytest

from conftest import PASSWORD, make_account
from harness import server as srv
from harness.xmpp import NS_STREAM, StreamErrorReceived, Timeout, StreamClosed, stanza_error

RESUME_TIMEOUT = 4
MODULES = ("disco", "ping", "stream_management", "csi")


@pytest.fixture(scope="module")
def server(cert):
    s = srv.ParleyServer("test_sm", cert, modules=MODULES)
    set_module_options(s, "stream_management",
                       {"resume_timeout": RESUME_TIMEOUT, "max_hibernated": 2,
                        "max_old_sessions": 3})
    s.start()
    yield s
    s.check_stop()


@pytest.fixture
def sm_clients():
    made = []

    def make(*a, **kw):
        c = sm_login(*a, **kw)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


def body_of(el):
    b = el.find(q(NS_CLIENT, "body"))
    return b.text if b is not None else None


def is_msg(body):
    return lambda e: e.tag == q(NS_CLIENT, "message") and body_of(e) == body


def msg(to, body, id_=None):
    return "<message to='%s' type='chat' id='%s'><body>%s</body></message>" % (
        to, id_ or body, body)


def test_xep0198_2_feature_after_authentication_only(server, clients):
    user, pw = make_account(server)
    c = clients(server.c2s_port)
    pre = c.negotiate_tls()
    assert pre.find(q(NS_SM, "sm")) is None, tostr(pre)
    post = c.authenticate(user, pw)
    assert post.find(q(NS_SM, "sm")) is not None, tostr(post)


def test_xep0198_3_enable_before_bind_fails(server, clients):
    user, pw = make_account(server)
    c = clients(server.c2s_port)
    c.negotiate_tls()
    c.authenticate(user, pw)
    c.send("<enable xmlns='%s'/>" % NS_SM)
    el = c.expect(is_sm("failed"))
    assert failed_condition(el) == "unexpected-request", tostr(el)
    # §5: the stream goes on; binding still works.
    c.bind_ok("after-failed")


def test_xep0198_3_enable_with_resume(server, sm_clients):
    user, pw = make_account(server)
    c = SMClient(server.c2s_port)
    c.login(user, pw)
    el = c.enable(resume=True)
    assert el.get("resume") in ("true", "1"), tostr(el)
    assert el.get("id"), tostr(el)
    assert el.get("max") == str(RESUME_TIMEOUT), tostr(el)
    c.close()
    c2 = SMClient(server.c2s_port)
    c2.login(user, pw, resource="plain")
    el = c2.enable(resume=False)
    assert el.get("resume") is None and el.get("id") is None, tostr(el)
    c2.close()


def test_xep0198_3_second_enable_is_an_error(server, sm_clients):
    user, pw = make_account(server)
    c = sm_clients(server, user, pw)
    c.send("<enable xmlns='%s'/>" % NS_SM)
    el = c.expect(is_sm("failed"))
    assert failed_condition(el) == "unexpected-request"
    cond, _ = c.expect_stream_error()
    assert cond == "policy-violation"


def test_xep0198_4_h_counts_stanzas_not_nonzas(server, sm_clients):
    user, pw = make_account(server)
    c = sm_clients(server, user, pw)
    assert c.request_ack() == 0
    for i in range(3):
        assert c.ping().get("type") == "result"
    assert c.request_ack() == 3
    assert c.request_ack() == 3             # <r/> and <a/> are not counted
    c.ack()
    c.send_stanza("<presence/>")
    # A message to an unknown local user needs an account lookup in storage:
    # the ack waits for it and still counts it.
    c.send_stanza(msg("nobody-%s@localhost" % user, "lookup"))
    assert c.request_ack() == 5
    err = c.expect(lambda e: e.tag == q(NS_CLIENT, "message") and e.get("type") == "error")
    assert stanza_error(err)[1] == "service-unavailable"


def test_xep0198_4_outbound_count_starts_at_enabled(server, sm_clients):
    """The bind and session results came before <enabled/>: not counted, so
    acknowledging even one stanza is too many (§6)."""
    user, pw = make_account(server)
    c = sm_clients(server, user, pw)
    c.ack(0)
    assert c.ping().get("type") == "result"      # outbound #1
    assert c.ping().get("type") == "result"      # outbound #2
    c.ack(2)
    c.ack(3)
    with pytest.raises(StreamErrorReceived) as ei:
        c.expect(lambda e: False, timeout=3)
    assert ei.value.condition == "undefined-condition"
    too_high = ei.value.element.find(q(NS_SM, "handled-count-too-high"))
    assert too_high is not None, tostr(ei.value.element)
    assert too_high.get("h") == "3" and too_high.get("send-count") == "2"
    assert ei.value.text and "3" in ei.value.text


def test_xep0198_4_r_a_exact_with_messages_both_ways(server, sm_clients):
    ua, pa = make_account(server)
    ub, pb = make_account(server)
    a = sm_clients(server, ua, pa, resource="a")
    b = sm_clients(server, ub, pb, resource="b")
    for i in range(5):
        a.send_stanza(msg(b.jid, "x%d" % i))
    assert a.request_ack() == 5
    for i in range(5):
        b.expect(is_msg("x%d" % i))
    assert b.h_in == 5
    b.ack(5)
    b.ack(5)                                     # repeating is fine
    assert b.ping().get("type") == "result"
    b.ack(6)
    assert b.request_ack() == 1


def test_xep0198_5_resume_resends_exactly_the_unacked(server, sm_clients, clients):
    ua, pa = make_account(server)
    ub, pb = make_account(server)
    a = SMClient(server.c2s_port)
    a.login(ua, pa, resource="phone")
    a.enable(resume=True)
    b = sm_clients(server, ub, pb, resource="desk")
    for i in range(1, 4):
        b.send_stanza(msg(a.jid, "m%d" % i))
    for i in range(1, 4):
        a.expect(is_msg("m%d" % i))
    a.ack(1)                                 # the client only acks m1
    a.send_stanza(msg(b.jid, "from-a-1"))
    a.send_stanza(msg(b.jid, "from-a-2"))
    assert a.request_ack() == 2
    previd = a.sm_id
    a.drop()
    time.sleep(0.3)
    b.send_stanza(msg(a.jid, "m4"))          # queued for the hibernated session
    assert b.request_ack() == 4
    a2 = SMClient(server.c2s_port)
    a2.h_in = 2                              # it saw m1 and m2 (m3 got lost)
    el = a2.resume(ua, pa, previd, 2)
    assert el.tag == q(NS_SM, "resumed"), tostr(el)
    assert el.get("previd") == previd and el.get("h") == "2", tostr(el)
    got = [body_of(a2.expect(lambda e: e.tag == q(NS_CLIENT, "message")))
           for _ in range(2)]
    assert got == ["m3", "m4"]
    a2.expect_nothing(lambda e: e.tag == q(NS_CLIENT, "message"), timeout=1.0)
    # The resumed stream is the session: its counters carried over.
    assert a2.ping().get("type") == "result"
    assert a2.request_ack() == 3
    a2.ack()
    b.send_stanza(msg(a.jid, "m5"))
    a2.expect(is_msg("m5"))
    a2.close()


def test_xep0198_5_resume_replaces_a_live_stream(server, sm_clients):
    ua, pa = make_account(server)
    a = sm_login(server, ua, pa, resource="r")
    a.auto_ack = False
    assert a.ping().get("type") == "result"
    a2 = SMClient(server.c2s_port)
    el = a2.resume(ua, pa, a.sm_id, 0)
    assert el.tag == q(NS_SM, "resumed"), tostr(el)
    # The pong was never acknowledged: it comes again.
    pong = a2.expect(lambda e: e.tag == q(NS_CLIENT, "iq"))
    assert pong.get("type") == "result"
    cond, _ = a.expect_stream_error()
    assert cond == "conflict"
    a2.close()


def test_xep0198_5_unknown_id_fails_then_bind(server, clients):
    ua, pa = make_account(server)
    c = SMClient(server.c2s_port)
    el = c.resume(ua, pa, "no-such-id", 0)
    assert el.tag == q(NS_SM, "failed") and el.get("h") is None, tostr(el)
    assert failed_condition(el) == "item-not-found"
    c.bind_ok("fresh")
    assert c.enable().tag == q(NS_SM, "enabled")
    c.close()


def test_xep0198_5_other_users_id_is_unknown(server, sm_clients):
    ua, pa = make_account(server)
    ub, pb = make_account(server)
    a = sm_login(server, ua, pa, resource="r")
    mallory = SMClient(server.c2s_port)
    el = mallory.resume(ub, pb, a.sm_id, 0)
    assert el.tag == q(NS_SM, "failed"), tostr(el)
    assert failed_condition(el) == "item-not-found" and el.get("h") is None
    mallory.close()
    # a's session is untouched.
    assert a.ping().get("type") == "result"
    a.close()


def test_xep0198_5_failed_with_h_after_timeout(server):
    ua, pa = make_account(server)
    a = sm_login(server, ua, pa, resource="r")
    a.send_stanza("<presence/>")
    a.send_stanza(msg("%s@localhost/r" % ua, "to-self"))
    assert a.request_ack() == 2
    previd = a.sm_id
    a.drop()
    time.sleep(RESUME_TIMEOUT + 1.5)
    c = SMClient(server.c2s_port)
    el = c.resume(ua, pa, previd, 0)
    assert el.tag == q(NS_SM, "failed"), tostr(el)
    assert failed_condition(el) == "item-not-found"
    assert el.get("h") == "2", tostr(el)
    c.close()


def test_xep0198_4_timeout_reroutes_message_to_other_resource(server, sm_clients, clients):
    ua, pa = make_account(server)
    ub, pb = make_account(server)
    a = sm_login(server, ua, pa, resource="mobile")
    other = clients(server.c2s_port)
    other.login(ua, pa, resource="desktop", presence=True)
    b = clients(server.c2s_port)
    b.login(ub, pb, resource="b", presence=True)
    a.drop()
    time.sleep(0.3)
    b.send_message(a.jid, body="while-away", id_="wa1")
    other.expect_nothing(is_msg("while-away"), timeout=1.0)
    m = other.expect(is_msg("while-away"), timeout=RESUME_TIMEOUT + 3)
    delay = m.find(q(NS_DELAY, "delay"))
    assert delay is not None and delay.get("stamp"), tostr(m)
    # Delivered once.
    other.expect_nothing(is_msg("while-away"), timeout=1.0)


def test_xep0198_4_timeout_bounces_iq_requests(server, clients):
    ua, pa = make_account(server)
    ub, pb = make_account(server)
    a = sm_login(server, ua, pa, resource="mobile")
    b = clients(server.c2s_port)
    b.login(ub, pb, resource="b")
    a.drop()
    time.sleep(0.3)
    b.send("<iq type='get' id='q1' to='%s'><query xmlns='jabber:iq:version'/></iq>" % a.jid)
    el = b.expect(lambda e: e.get("id") == "q1", timeout=RESUME_TIMEOUT + 3)
    assert el.get("type") == "error"
    assert stanza_error(el)[1] == "recipient-unavailable", tostr(el)


def test_xep0198_4_clean_close_reroutes_unacked(server, clients):
    """Without resumption, the unacked stanzas of a session that ends are
    treated as sent to an unavailable resource (§4)."""
    ua, pa = make_account(server)
    ub, pb = make_account(server)
    a = sm_login(server, ua, pa, resource="mobile", resume=False)
    a.auto_ack = False
    other = clients(server.c2s_port)
    other.login(ua, pa, resource="desktop", presence=True)
    b = clients(server.c2s_port)
    b.login(ub, pb, resource="b")
    b.send_message(a.jid, body="unacked")
    a.expect(is_msg("unacked"))
    a.close()                                    # </stream:stream>, never acked
    m = other.expect(is_msg("unacked"))
    assert m.find(q(NS_DELAY, "delay")) is not None


def test_xep0198_hibernation_limit_per_account(server):
    """max_hibernated: 2 here: a third hibernated session ends the oldest,
    whose id then gets <failed h/>."""
    ua, pa = make_account(server)
    cs = [sm_login(server, ua, pa, resource="r%d" % i) for i in range(3)]
    for c in cs:
        c.send_stanza("<presence/>")
        assert c.request_ack() == 1
    ids = [c.sm_id for c in cs]
    for c in cs:
        c.drop()
        # One after the other: the order decides which is the oldest.
        assert wait_until(lambda: "hibernating %s " % c.jid in server.log_text())
    assert wait_until(lambda: "too many hibernated sessions for %s@localhost" % ua
                      in server.log_text())
    first = SMClient(server.c2s_port)
    el = first.resume(ua, pa, ids[0], 0)
    assert el.tag == q(NS_SM, "failed") and el.get("h") == "1", tostr(el)
    first.close()
    for i in (1, 2):
        c = SMClient(server.c2s_port)
        el = c.resume(ua, pa, ids[i], 0)
        assert el.tag == q(NS_SM, "resumed"), tostr(el)
        c.close()


def test_xep0198_hibernated_session_stays_bound(server, clients):
    """Others keep seeing the hibernated resource: a message to its full JID
    is queued, not bounced."""
    ua, pa = make_account(server)
    ub, pb = make_account(server)
    a = sm_login(server, ua, pa, resource="mobile")
    b = clients(server.c2s_port)
    b.login(ub, pb, resource="b")
    previd = a.sm_id
    a.drop()
    time.sleep(0.3)
    mid = b.send_message(a.jid, body="queued")
    b.expect_nothing(lambda e: e.get("id") == mid, timeout=1.0)
    a2 = SMClient(server.c2s_port)
    el = a2.resume(ua, pa, previd, 0)
    assert el.tag == q(NS_SM, "resumed"), tostr(el)
    a2.expect(is_msg("queued"))
    a2.close()


def test_xep0198_r_before_enable_is_an_error(server, logged_in):
    c = logged_in()
    c.send("<r xmlns='%s'/>" % NS_SM)
    cond, _ = c.expect_stream_error()
    assert cond == "unsupported-stanza-type"


def test_xep0198_client_not_acking_hibernates_without_loss(server_factory):
    """A client that lets max_unacked stanzas pile up is not reading: its
    stream is cut and the session hibernates (nothing dropped); resuming
    delivers every message once."""
    s = server_factory(modules=MODULES, start=False)
    set_module_options(s, "stream_management", {"max_unacked": 16, "resume_timeout": 30})
    s.start()
    ua, pa = make_account(s)
    ub, pb = make_account(s)
    a = sm_login(s, ua, pa, resource="slow")
    a.auto_ack = False
    b = SMClient(s.c2s_port)
    b.login(ub, pb, resource="b")
    n = 28          # > max_unacked: hibernates; <= 2 * max_unacked: all kept
    for i in range(n):
        b.send_message(a.jid, body="f%d" % i)
    assert b.ping().get("type") == "result"
    # The server gave up on the stream (no stream error: the session lives).
    with pytest.raises((StreamClosed, Timeout)):
        while True:
            a.next(timeout=3)
    assert wait_until(lambda: "hibernating" in s.log_text())
    a2 = SMClient(s.c2s_port)
    el = a2.resume(ua, pa, a.sm_id, 0)
    assert el.tag == q(NS_SM, "resumed"), tostr(el)
    got = []
    while len(got) < n:
        el = a2.next(timeout=5)
        if el.tag == q(NS_CLIENT, "message"):
            a2.ack()
            got.append(body_of(el))
    assert got == ["f%d" % i for i in range(n)]
    a2.expect_nothing(lambda e: e.tag == q(NS_CLIENT, "message"), timeout=1.0)
    a2.close()
    b.close()
