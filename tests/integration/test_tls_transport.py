"""parleyd's TLS layer on the socket (direct TLS, XEP-0368; and STARTTLS,
RFC 6120 §5, which puts the same layer on the socket after <proceed/>):
bytes already decrypted inside it are delivered even when no more bytes
arrive on the socket.

libevent 2.1's socket-mode TLS bufferevent, once it stopped reading in the
middle of a TLS record (the per-connection read shaper, limits.shaper_rate,
ran out), only waits for the socket to become readable again when reading
resumes: the rest of that record, already inside OpenSSL, would wait for
the client's next bytes, which may never come."""

import pytest

from conftest import make_account
from harness.xmpp import NS_CLIENT, RawClient, q

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
