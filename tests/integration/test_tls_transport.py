"""parleyd's TLS layer on the socket (direct TLS, XEP-0368; and STARTTLS,
RFC 6120 §5, which puts the same layer on the socket after <proceed/>):
bytes already decrypted inside it are delivered even when no more bytes
arrive on the socket.

libevent 2.1's socket-mode TLS bufferevent, once it stopped reading in the
middle of a TLS record (the per-connection read shaper, limits.shaper_rate,
ran out), only waits for the socket to become readable again when reading
resumes: the rest of that record, already inside OpenSSL, would wait for
the client's next bytes, which may never come."""

import ssl

import pytest

from conftest import make_account
from harness.xmpp import NS_CLIENT, NS_TLS, RawClient, client_tls_context, q

RATE = 1024                     # bytes/s; the bucket holds 2 s of it


@pytest.mark.parametrize("direct", [False, True], ids=["starttls", "direct_tls"])
def test_shaped_read_of_a_large_record_completes(server_factory, direct):
    limits = {"max_stanza_size": 65536, "max_depth": 64, "negotiation_timeout": 30,
              "max_connections_per_ip": 64, "shaper_rate": RATE}
    s = server_factory(limits=limits)
    user, pw = make_account(s)
    c = RawClient(s.tls_port if direct else s.c2s_port, timeout=30)
    c.login(user, pw, resource="r", tls=direct)
    # One stanza of 3 buckets' worth, sent in one TLS record (< 16 KiB),
    # then nothing more: the shaper stops the server mid-record.
    body = "x" * (3 * 2 * RATE)
    c.send("<message to='%s' type='chat' id='big'><body>%s</body></message>" % (c.jid, body))
    el = c.expect(lambda e: e.tag == q(NS_CLIENT, "message") and e.get("id") == "big",
                  timeout=20, what="the large message back")
    assert el.findtext(q(NS_CLIENT, "body")) == body
    c.close()


# --- TLS read-ahead (stream/c2s.c, tls_bev_new()) -----------------------------
#
# parleyd lets OpenSSL read ahead: one read() takes whatever the socket
# holds, several TLS records at once.  The records past the first that
# libevent reads are then inside OpenSSL, where no socket event announces
# them; these tests send such batches and expect every stanza answered.

class BatchedTLS:
    """TLS over a socket through memory BIOs, so that a test decides which
    records share a TCP segment: the client's last handshake flight is held
    back and leaves with the first application bytes, and between cork()
    and uncork() every sendall() is a record of its own, all sent in one
    send.  Offers the socket methods RawClient uses."""

    def __init__(self, sock, server_hostname="localhost"):
        self.sock = sock
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = client_tls_context().wrap_bio(self.inc, self.out,
                                                 server_hostname=server_hostname)
        self.corked = False
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.sock.sendall(self.out.read())
                data = self.sock.recv(65536)
                assert data, "the server closed the connection in the TLS handshake"
                self.inc.write(data)
        # The client's Finished stays in self.out until the first sendall().
        assert self.obj.version() == "TLSv1.3"

    def sendall(self, data):
        self.obj.write(data)
        if not self.corked:
            self.sock.sendall(self.out.read())

    def cork(self):
        self.corked = True

    def uncork(self):
        self.corked = False
        self.sock.sendall(self.out.read())

    def recv(self, n):
        while True:
            try:
                return self.obj.read(n)
            except ssl.SSLWantReadError:
                data = self.sock.recv(65536)
                if not data:
                    return b""
                self.inc.write(data)
            except ssl.SSLZeroReturnError:
                return b""

    def settimeout(self, t):
        self.sock.settimeout(t)

    def getsockname(self):
        return self.sock.getsockname()

    def close(self):
        self.sock.close()


PINGS = 40


@pytest.mark.parametrize("direct", [False, True], ids=["starttls", "direct_tls"])
def test_records_read_ahead_are_all_read(server_factory, direct):
    s = server_factory()
    user, pw = make_account(s)
    c = RawClient(s.tls_port if direct else s.c2s_port, timeout=10)
    c.connect()
    if not direct:
        c.open_stream()
        c.read_features()
        c.send("<starttls xmlns='%s'/>" % NS_TLS)
        assert c.next().tag == q(NS_TLS, "proceed")
    c.sock = BatchedTLS(c.sock)
    # (1) The stream header travels with the client's Finished: the
    # server must read it although the socket stays silent afterwards.
    c.restart()
    c.authenticate(user, pw)
    c.bind_ok("r")
    # (2) Many records in one segment, then silence.
    c.sock.cork()
    ids = ["p%d" % i for i in range(PINGS)]
    for i in ids:
        c.send("<iq type='get' id='%s'><ping xmlns='urn:xmpp:ping'/></iq>" % i)
    c.sock.uncork()
    for i in ids:
        el = c.expect(lambda e, i=i: e.tag == q(NS_CLIENT, "iq") and e.get("id") == i,
                      timeout=5, what="the answer to ping %s" % i)
        assert el.get("type") == "result"
    c.close()
