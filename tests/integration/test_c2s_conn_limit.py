"""limits.max_connections_per_ip (src/stream/c2s.c, c2s_accept): the
per-address count is kept only when the limit is set (principle 4: no
per-address entry for a limit that is off), and when it is set the
connection over it gets <policy-violation/> (RFC 6120 §4.9.3.14) with a
<text/>, and a closed connection gives its slot back."""
import time

from harness import server as srv
from harness.xmpp import RawClient


def limits(n):
    d = dict(srv.DEFAULT_LIMITS)
    d["max_connections_per_ip"] = n
    return d


def opened(port):
    c = RawClient(port)
    c.connect()
    c.open_stream()
    c.read_header()
    c.read_features()
    return c


def test_limit_enforced_and_released(server_factory):
    s = server_factory(limits=limits(3))
    time.sleep(0.5)             # the harness's start-up probe has gone
    held = [opened(s.c2s_port) for _ in range(3)]
    extra = RawClient(s.c2s_port)
    extra.connect()
    extra.open_stream()
    cond, text = extra.expect_stream_error()
    assert cond == "policy-violation"
    assert text and "too many connections" in text
    extra.close()
    # A closed connection gives its slot back.
    held.pop().close()
    deadline = time.monotonic() + 5
    while True:
        c = RawClient(s.c2s_port)
        c.connect()
        c.open_stream()
        c.read_header()
        el = c.next()
        if el.tag.endswith("features"):
            held.append(c)
            break
        c.close()
        assert time.monotonic() < deadline, "the slot was never released"
        time.sleep(0.2)
    for c in held:
        c.close()


def test_no_limit_counts_nothing(server_factory):
    s = server_factory(limits=limits(0))
    held = [opened(s.c2s_port) for _ in range(12)]
    for c in held:
        c.close()
