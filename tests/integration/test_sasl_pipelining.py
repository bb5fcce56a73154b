"""
Stanzas a client pipelines behind its final SASL message (RFC 6120 §6.4).

The server answers a SASL step asynchronously (the credentials come from
storage), so the rest of the client's TCP read waits, unparsed, until the
answer is out: then it is read by the old stream after a failure, by the
new one after <success/>.  A stanza sent before the SASL outcome belongs to the
unauthenticated stream (§6.4.6: only after <success/> and the stream restart
is the client authenticated), so it must never be routed or answered as the
account: the server refuses it with the stream error <not-authorized/>
(§4.9.3.12) and the other clients are unaffected.

A client that pipelines the stream restart and its first stanza behind the
last SASL message (XEP-0305 style) gets them read as the new stream once
<success/> is out, instead of a connection that hangs.
"""
import re
import time
import xml.etree.ElementTree as ET

from harness.xmpp import (NS_BIND, NS_CLIENT, NS_PING, NS_SASL, NS_STREAM, StreamClosed,
                          Timeout, q, tostr)
from harness import sasl as saslmod

from conftest import PASSWORD

ROSTER_GET = "<iq type='get' id='pipelined'><query xmlns='jabber:iq:roster'/></iq>"


def _drain(c):
    """Everything the server sends until it closes the stream (or goes
    quiet for 3 s)."""
    seen = []
    try:
        while True:
            seen.append(c.next(timeout=3))
    except (StreamClosed, Timeout):
        pass
    return seen


def _assert_refused(seen):
    text = [tostr(e) for e in seen]
    answered = [e for e in seen if e.tag == q(NS_CLIENT, "iq") and e.get("id") == "pipelined"]
    assert not answered, "a pre-authentication IQ was answered: %r" % text
    errs = [e for e in seen if e.tag == "{http://etherx.jabber.org/streams}error"]
    assert errs, "no stream error: %r" % text
    assert errs[0].find("{urn:ietf:params:xml:ns:xmpp-streams}not-authorized") is not None, text


def test_iq_pipelined_behind_plain_auth(server, clients, account):
    c = clients(server.c2s_port)
    c.negotiate_tls()
    c.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>%s"
           % (NS_SASL, saslmod.b64(saslmod.plain_message(account[0], PASSWORD, "")),
              ROSTER_GET))
    _assert_refused(_drain(c))
    # the server keeps serving everyone else
    other = clients(server.c2s_port)
    other.login(account[0], PASSWORD)
    assert other.ping().get("type") == "result"


def test_iq_pipelined_behind_scram_final(server, clients, account):
    c = clients(server.c2s_port)
    c.negotiate_tls()
    sc = saslmod.ScramClient("SCRAM-SHA-1", account[0], PASSWORD, cb_type=None, cb_data=b"")
    el = c.sasl_auth("SCRAM-SHA-1", sc.first())
    assert el.tag == q(NS_SASL, "challenge"), tostr(el)
    c.send("<response xmlns='%s'>%s</response>%s"
           % (NS_SASL, saslmod.b64(sc.final(saslmod.unb64(el.text))), ROSTER_GET))
    _assert_refused(_drain(c))


# --- a pipelined stream restart (XEP-0305 style) ----------------------------
#
# A fast client sends its last SASL message, the new stream header and its
# first stanza in one write.  The SASL answer is asynchronous: the server
# must read nothing behind the SASL element until it has answered, then
# parse the rest as the new stream after <success/> (RFC 6120 §6.4.6) or
# as the old one after a failure.  A server that parsed on lost the header
# at the restart and the client hung until a timeout.

RESTART = ("<stream:stream xmlns='jabber:client' "
           "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>")
BIND = ("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
        "<resource>pipe</resource></bind></iq>")
SUCCESS_RE = re.compile(rb"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'"
                        rb"(?:\s*/>|>([^<]*)</success>)")


class _NewStream:
    """Reads the stream the server opens after <success/>, from raw bytes
    (RawClient's parser would have read them as part of the old stream)."""

    def __init__(self, c, data):
        self.c = c
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.header = None
        self.pending = []
        self._feed(data)

    def _feed(self, data):
        self.parser.feed(data)
        for event, el in self.parser.read_events():
            if event == "start":
                if self.depth == 0:
                    self.header = el
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth == 1:
                    self.pending.append(el)

    def expect(self, pred, what, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            for el in self.pending:
                if pred(el):
                    self.pending.remove(el)
                    return el
            try:
                data = self.c._recv(deadline)
            except Timeout:
                raise AssertionError("no %s after <success/>; got %r"
                                     % (what, [tostr(e) for e in self.pending]))
            assert data, "connection closed; got %r" % [tostr(e) for e in self.pending]
            self._feed(data)


def _pipelined_success(c, write, timeout=10):
    """Sends 'write' in one go; returns the base64 text of <success/> and a
    reader positioned just after it."""
    assert not c.pending
    c.send(write)
    data = b""
    deadline = time.monotonic() + timeout
    while True:
        m = SUCCESS_RE.search(data)
        if m:
            return (m.group(1) or b"").decode(), _NewStream(c, data[m.end():])
        try:
            more = c._recv(deadline)
        except Timeout:
            raise AssertionError("no <success/>: %r" % data)
        assert more, "connection closed: %r" % data
        data += more


def _bound_and_working(ns):
    feats = ns.expect(lambda e: e.tag == q(NS_STREAM, "features"), "stream features")
    assert ns.header is not None and ns.header.tag == q(NS_STREAM, "stream")
    assert feats.find(q(NS_BIND, "bind")) is not None, tostr(feats)
    res = ns.expect(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == "b1",
                    "bind result")
    assert res.get("type") == "result", tostr(res)
    jid = res.find("%s/%s" % (q(NS_BIND, "bind"), q(NS_BIND, "jid")))
    assert jid is not None and jid.text.endswith("/pipe"), tostr(res)
    # the session is a normal one from here on
    ns.c.send("<iq type='get' id='p1' to='localhost'><ping xmlns='%s'/></iq>" % NS_PING)
    pong = ns.expect(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == "p1",
                     "ping result")
    assert pong.get("type") == "result", tostr(pong)
    return jid.text


def test_plain_with_pipelined_restart_and_bind(server, clients, account):
    c = clients(server.c2s_port)
    c.negotiate_tls()
    auth = ("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>"
            % (NS_SASL, saslmod.b64(saslmod.plain_message(account[0], PASSWORD, ""))))
    _, ns = _pipelined_success(c, auth + RESTART + BIND)
    _bound_and_working(ns)


def test_scram_final_with_pipelined_restart_and_bind(server, clients, account):
    c = clients(server.c2s_port)
    c.negotiate_tls()
    sc = saslmod.ScramClient("SCRAM-SHA-1", account[0], PASSWORD, cb_type=None, cb_data=b"")
    el = c.sasl_auth("SCRAM-SHA-1", sc.first())
    assert el.tag == q(NS_SASL, "challenge"), tostr(el)
    final = ("<response xmlns='%s'>%s</response>"
             % (NS_SASL, saslmod.b64(sc.final(saslmod.unb64(el.text)))))
    text, ns = _pipelined_success(c, final + RESTART + BIND)
    sc.verify(saslmod.unb64(text))        # the server-final-message is genuine
    _bound_and_working(ns)


def test_wrong_password_then_pipelined_stanza(server, clients, account):
    """After <failure/> the old stream goes on: the pipelined stanza is
    read there, before authentication, and refused as such."""
    c = clients(server.c2s_port)
    c.negotiate_tls()
    c.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>%s"
           % (NS_SASL, saslmod.b64(saslmod.plain_message(account[0], "wrong", "")),
              ROSTER_GET))
    seen = []
    try:
        while True:
            # a failure may be delayed (up to 4 s) after earlier ones
            seen.append(c.next(timeout=6))
    except (StreamClosed, Timeout):
        pass
    text = [tostr(e) for e in seen]
    assert seen and seen[0].tag == q(NS_SASL, "failure"), text
    assert seen[0].find(q(NS_SASL, "not-authorized")) is not None, text
    _assert_refused(seen[1:])


def test_wrong_password_then_pipelined_restart(server, clients, account):
    """A restart pipelined behind a failed <auth/> is a second stream
    header inside the first stream: a stream error, not a hang."""
    c = clients(server.c2s_port)
    c.negotiate_tls()
    c.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>%s%s"
           % (NS_SASL, saslmod.b64(saslmod.plain_message(account[0], "wrong", "")),
              RESTART, BIND))
    seen = []
    try:
        while True:
            seen.append(c.next(timeout=6))
    except (StreamClosed, Timeout):
        pass
    text = [tostr(e) for e in seen]
    assert seen and seen[0].tag == q(NS_SASL, "failure"), text
    errs = [e for e in seen if e.tag == q(NS_STREAM, "error")]
    assert errs, "no stream error: %r" % text
    assert errs[0].find("{urn:ietf:params:xml:ns:xmpp-streams}not-well-formed") is not None, text
    answered = [e for e in seen if e.tag == q(NS_CLIENT, "iq")]
    assert not answered, text
