"""Load and isolation: many concurrent logins; one client's misbehaviour
does not disturb others (the per-error checks are in test_stream_errors)."""

import concurrent.futures
import time

from conftest import PASSWORD
from harness.xmpp import RawClient, unique

N = 50


def test_50_concurrent_logins(server):
    prefix = unique("c")
    users = ["%s_%02d" % (prefix, i) for i in range(N)]
    cp = server.ctl("--batch", input="".join("register %s localhost %s\n" % (u, PASSWORD) for u in users),
                    timeout=120)
    assert cp.returncode == 0, cp.stderr[-2000:]
    mechs = ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512"]

    def one(i):
        c = RawClient(server.c2s_port, timeout=30)
        c.login(users[i], PASSWORD, mech=mechs[i % len(mechs)], resource="r")
        assert c.ping().get("type") == "result"
        return c

    t0 = time.monotonic()
    conns = []
    errors = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=N) as ex:
        futs = [ex.submit(one, i) for i in range(N)]
        for f in futs:
            try:
                conns.append(f.result(timeout=60))
            except Exception as e:     # collect, report all at once
                errors.append(repr(e))
    try:
        assert not errors, "%d of %d logins failed: %s" % (len(errors), N, errors[:5])
        cp = server.ctl("connected_users")
        online = set(cp.stdout.split())
        missing = [c.jid for c in conns if c.jid not in online]
        assert not missing, missing[:5]
        # Everyone can still talk: a message around the ring.
        for i, c in enumerate(conns):
            c.send_presence(priority=0)
        for c in conns:
            c.ping()
        for i, c in enumerate(conns):
            c.send_message(conns[(i + 1) % len(conns)].jid, body="ring%d" % i)
        for i, c in enumerate(conns):
            c.expect_message("ring%d" % ((i - 1) % len(conns)), timeout=10)
    finally:
        for c in conns:
            c.close()
    assert time.monotonic() - t0 < 90


def test_many_connects_and_disconnects(server, logged_in):
    w = logged_in(resource="watch")
    for _ in range(30):
        c = RawClient(server.c2s_port)
        c.connect()
        c.open_stream()
        c.read_features()
        c.sock.close()
        c.sock = None
    assert w.ping().get("type") == "result"
    assert server.running()


def test_stanza_split_byte_by_byte(server, logged_in):
    """A stanza arriving one byte per TCP segment (multi-byte UTF-8 split
    too) is parsed like any other (RFC 6120 §4.2: stanzas are not tied to
    packets)."""
    a = logged_in(resource="slow", presence=True)
    body = "h\u00e9llo \u4e16\u754c \U0001F600"
    data = ("<message to='%s' type='chat' id='bb'><body>%s</body></message>" % (a.jid, body)).encode()
    for i in range(len(data)):
        a.send(data[i:i + 1])
        if i % 16 == 0:
            time.sleep(0.001)
    m = a.expect_message(body)
    assert m.get("from") == a.jid


def test_many_stanzas_in_one_write(server, logged_in):
    a = logged_in(resource="burst")
    n = 300
    a.send("".join("<iq type='get' id='burst%d' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>" % i
                   for i in range(n)))
    got = set()
    while len(got) < n:
        el = a.expect(lambda e: e.get("id", "").startswith("burst"), timeout=10)
        assert el.get("type") == "result"
        got.add(el.get("id"))


def test_whitespace_keepalive_between_stanzas(server, logged_in):
    """RFC 6120 §4.6.1: whitespace between stanzas is allowed."""
    a = logged_in(resource="ws")
    for _ in range(5):
        a.send(" \n\t ")
        time.sleep(0.05)
    assert a.ping().get("type") == "result"


def test_namespace_prefix_declared_on_stream_header(server, logged_in, clients):
    """A prefix the client declared on its stream header stays in scope for
    every later stanza, also after the connection was idle (the server
    frees and re-primes its parser between stanzas: ARCHITECTURE.md §4)."""
    from conftest import make_account
    from harness.xmpp import NS_SASL, q as qq
    b = logged_in(resource="recv", presence=True)
    user, pw = make_account(server)
    c = clients(server.c2s_port).connect()
    c.negotiate_tls()
    assert c.auth_plain(user, pw).tag == qq(NS_SASL, "success")
    c._reset_parser()
    c.pending = []
    c.need_restart = False
    c.open_stream(extra=" xmlns:x='urn:example:x'")
    c.read_features()
    c.bind_ok("pfx")
    time.sleep(0.5)     # idle: the parser may be released
    c.send("<message to='%s' type='chat'><body>pfx</body><x:data>v</x:data></message>" % b.jid)
    m = b.expect_message("pfx")
    d = m.find("{urn:example:x}data")
    assert d is not None and d.text == "v", m
