"""Detached streams (ARCHITECTURE.md principle 4, issue 7): a bound stream
quiet for limits.detach_after gives up its bufferevent and keeps only its
socket, its TLS state and a read event (stream/c2s.c, conn()).  Such a
stream must behave exactly like an attached one: it receives, sends and
answers; a client that goes away is noticed; the idle timeout applies;
XEP-0198 resumes it; shutdown closes it cleanly; and no socket is leaked
or closed twice.  Plain TCP, STARTTLS and direct TLS (XEP-0368) each keep
a different kind of bufferevent, so every test runs over all three."""

import os
import signal
import time

import pytest

from conftest import PASSWORD, make_account
from harness.xmpp import RawClient, q, tostr
from test_sm import NS_SM, SMClient, is_msg, msg, wait_until

MODES = ["plain", "starttls", "direct_tls"]
DETACH_AFTER = 1                # s; the sweep then runs every second


def make_server(server_factory, limits=None, modules=("disco", "ping", "roster")):
    """A server whose c2s port also takes plain TCP (starttls_required off)."""
    s = server_factory(start=False, limits=dict({"detach_after": DETACH_AFTER}, **(limits or {})),
                       modules=modules)
    s.write_config(s.config_text().replace("starttls_required: true", "starttls_required: false"))
    s.start()
    return s


def connect(s, mode, cls=RawClient):
    c = cls(s.tls_port if mode == "direct_tls" else s.c2s_port)
    c.connect(tls=mode == "direct_tls")
    return c


def login(s, mode, user, password=PASSWORD, resource=None, presence=None, cls=RawClient):
    """Logs in over mode; plain TCP authenticates with SCRAM (PLAIN needs TLS)."""
    c = connect(s, mode, cls)
    if mode == "plain":
        c.open_stream()
        c.read_features()
        c.authenticate(user, password, mech="SCRAM-SHA-256")
        c.bind_ok(resource)
        if presence:
            c.send_presence()
    else:
        c.login(user, password, resource=resource, tls=mode == "direct_tls", presence=presence)
    return c


def detached_count(s, c):
    """How often the stream of client c was detached (from the debug log)."""
    port = c.sock.getsockname()[1]
    return s.log_text().count("(127.0.0.1:%d): detached" % port)


def wait_detached(s, *clients, times=1):
    for c in clients:
        assert wait_until(lambda: detached_count(s, c) >= times, timeout=10), \
            "the stream was not detached\n" + s.log_tail(40)


def open_fds(s):
    return len(os.listdir("/proc/%d/fd" % s.proc.pid))


@pytest.mark.parametrize("mode", MODES)
def test_detached_streams_receive_send_and_answer(server_factory, mode):
    s = make_server(server_factory)
    ua, _ = make_account(s)
    ub, _ = make_account(s)
    a = login(s, mode, ua, resource="a")
    b = login(s, mode, ub, resource="b")
    try:
        wait_detached(s, a, b)
        # (1) a message to a detached stream re-attaches it to write;
        # (2) one from a detached stream re-attaches it to read.
        b.send_message(a.jid, body="to-a")
        a.expect_message("to-a")
        a.send_message(b.jid, body="to-b")
        b.expect_message("to-b")
        wait_detached(s, a, b, times=2)
        # (3) an IQ from a detached stream is answered.
        assert a.ping().get("type") == "result"
        # Detaching again and again loses nothing in either direction.
        wait_detached(s, a, times=3)
        for i in range(3):
            b.send_message(a.jid, body="again-%d" % i)
        for i in range(3):
            a.expect_message("again-%d" % i)
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("mode", MODES)
def test_client_gone_while_detached_is_noticed(server_factory, mode):
    """(4) The read event of a detached stream sees the EOF: the session
    ends and the account's other resource gets its unavailable presence."""
    s = make_server(server_factory)
    u, _ = make_account(s)
    other = login(s, mode, u, resource="other", presence=True)
    gone = login(s, mode, u, resource="gone", presence=True)
    try:
        other.expect_presence(frm=gone.jid)
        wait_detached(s, gone)
        gone.sock.close()           # no </stream:stream>
        gone.sock = None
        el = other.expect_presence(frm=gone.jid, type_="unavailable", timeout=5)
        assert el is not None
    finally:
        other.close()


@pytest.mark.parametrize("mode", MODES)
def test_idle_timeout_applies_to_detached_streams(server_factory, mode):
    """(5) limits.idle_timeout ends a detached stream as any other."""
    s = make_server(server_factory, limits={"idle_timeout": 3})
    u, _ = make_account(s)
    c = login(s, mode, u)
    try:
        wait_detached(s, c)
        t0 = time.monotonic()
        cond, _ = c.expect_stream_error(timeout=10)
        assert cond == "connection-timeout"
        assert time.monotonic() - t0 < 5
    finally:
        c.close()


@pytest.mark.parametrize("mode", MODES)
def test_xep0198_resume_after_a_detached_stream_drops(server_factory, mode):
    """(7) A detached resumable stream whose connection breaks hibernates;
    <resume/> takes it over with what was queued meanwhile.  A live
    detached stream taken over gets <conflict/>."""
    s = server_factory(start=False, limits={"detach_after": DETACH_AFTER},
                       modules=("disco", "ping", "stream_management"))
    s.write_config(s.config_text().replace("starttls_required: true", "starttls_required: false")
                   .replace("stream_management: {}", "stream_management: {resume_timeout: 30}"))
    s.start()
    ua, pa = make_account(s)
    ub, _ = make_account(s)
    a = login(s, mode, ua, resource="a", cls=SMClient)
    assert a.enable(resume=True).tag == q(NS_SM, "enabled")
    b = login(s, mode, ub, resource="b")
    a2 = a3 = None
    try:
        wait_detached(s, a)
        previd = a.sm_id
        a.drop()
        assert wait_until(lambda: "hibernating %s" % a.jid in s.log_text(), timeout=5), \
            s.log_tail(40)
        b.send(msg(a.jid, "while-away"))
        a2 = connect(s, mode, SMClient)
        el = resume_over(a2, mode, ua, pa, previd)
        assert el.tag == q(NS_SM, "resumed"), tostr(el)
        a2.expect(is_msg("while-away"))
        # The resumed stream detaches too, and is taken over live.
        wait_detached(s, a2)
        a3 = connect(s, mode, SMClient)
        el = resume_over(a3, mode, ua, pa, previd)
        assert el.tag == q(NS_SM, "resumed"), tostr(el)
        cond, _ = a2.expect_stream_error()
        assert cond == "conflict"
        b.send(msg(a.jid, "after-takeover"))
        a3.expect(is_msg("after-takeover"))
    finally:
        for c in (a2, a3, b):
            if c:
                c.close()


def resume_over(c, mode, user, password, previd):
    if mode == "plain":
        c.open_stream()
        c.read_features()
        c.authenticate(user, password, mech="SCRAM-SHA-256")
    else:
        c.negotiate_tls(tls=mode == "direct_tls")
        c.authenticate(user, password)
    c.send("<resume xmlns='%s' previd='%s' h='%d'/>" % (NS_SM, previd, c.h_in))
    return c.expect(lambda e: e.tag in (q(NS_SM, "resumed"), q(NS_SM, "failed")),
                    what="<resumed/> or <failed/>")


def test_shutdown_with_detached_streams(server_factory):
    """(8) SIGTERM with detached streams of every kind: each gets its
    <system-shutdown/>, and the exit is clean (the fixture checks the exit
    status and ASan's report: no leaked socket, SSL or bufferevent)."""
    s = make_server(server_factory)
    cs = []
    for mode in MODES:
        u, _ = make_account(s)
        cs.append(login(s, mode, u))
    wait_detached(s, *cs)
    s.proc.send_signal(signal.SIGTERM)
    for c in cs:
        cond, _ = c.expect_stream_error(timeout=5)
        assert cond == "system-shutdown"
        c.close()
    s.check_stop()


def test_sockets_are_closed_once(server_factory):
    """The c2s owns the socket and the SSL; no bufferevent does (c2s.c,
    conn_free()).  Detached streams that go away while new clients
    connect: every descriptor is closed (the count returns to where it
    was) and none twice (a second close would hit a new client's socket,
    reused under the same number, and that client would be cut)."""
    s = make_server(server_factory)
    users = [make_account(s)[0] for _ in range(12)]
    time.sleep(0.5)             # the harness's start-up probe is gone
    base = open_fds(s)
    old = [login(s, MODES[i % 3], u) for i, u in enumerate(users)]
    wait_detached(s, *old)
    new = []
    for i, c in enumerate(old):
        c.sock.close()
        c.sock = None
        new.append(login(s, MODES[i % 3], users[i]))
    for c in new:
        assert c.ping().get("type") == "result"
    wait_detached(s, *new)
    for c in new:
        assert c.ping().get("type") == "result"
        c.close()
    assert wait_until(lambda: open_fds(s) == base, timeout=10), (open_fds(s), base)


@pytest.mark.parametrize("mode", MODES)
def test_keepalive_leaves_a_resting_stream_detached(server_factory, mode):
    """A whitespace keepalive (RFC 6120 §4.6.1) wakes a detached stream to
    read it, and the stream goes back to rest at once rather than holding
    a bufferevent until the next sweep: the second detach follows the
    keepalive within a fraction of the sweep period.  The keepalive still
    counts against the idle timeout, and the stream still answers."""
    s = make_server(server_factory, limits={"detach_after": 4})
    ua, _ = make_account(s)
    a = login(s, mode, ua, resource="a")
    try:
        wait_detached(s, a)             # the sweep just ran: the next is ~4 s away
        a.send(" ")
        assert wait_until(lambda: detached_count(s, a) >= 2, timeout=1.5), \
            "a keepalive kept the stream attached\n" + s.log_tail(20)
        assert a.ping().get("type") == "result"
    finally:
        a.close()
