"""
Stanzas a client pipelines behind its final SASL message (RFC 6120 §6.4).

The server answers a SASL step asynchronously (the credentials come from
storage), so the rest of the client's TCP read is already parsed while the
answer is pending.  A stanza sent before the SASL outcome belongs to the
unauthenticated stream (§6.4.6: only after <success/> and the stream restart
is the client authenticated), so it must never be routed or answered as the
account: the server refuses it with the stream error <not-authorized/>
(§4.9.3.12) and the other clients are unaffected.
"""
from harness.xmpp import NS_CLIENT, NS_SASL, StreamClosed, Timeout, q, tostr
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
