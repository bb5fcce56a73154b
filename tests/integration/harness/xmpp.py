"""A raw-socket XMPP client for black-box tests (RFC 6120).

It sends exactly the bytes a test gives it and parses what comes back
incrementally with xml.etree.ElementTree.XMLPullParser, so a test sees
the stream header, every top-level element, the closing </stream:stream>
and the TCP close separately.  STARTTLS (RFC 6120 §5) and direct TLS
(XEP-0368), SASL PLAIN and SCRAM(-PLUS) (RFC 6120 §6) and resource binding
(RFC 6120 §7) are built from those primitives.
"""

import itertools
import socket
import ssl
import time
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

from . import sasl as saslmod

NS_STREAM = "http://etherx.jabber.org/streams"
NS_CLIENT = "jabber:client"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_SESSION = "urn:ietf:params:xml:ns:xmpp-session"
NS_STREAMS = "urn:ietf:params:xml:ns:xmpp-streams"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_SASL_CB = "urn:xmpp:sasl-cb:0"
NS_PING = "urn:xmpp:ping"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NS_VERSION = "jabber:iq:version"
NS_TIME = "urn:xmpp:time"

DEFAULT_TIMEOUT = 5.0


def q(ns, name):
    """Clark notation: q(NS_CLIENT, 'message') -> '{jabber:client}message'."""
    return "{%s}%s" % (ns, name)


def local(tag):
    return tag.rsplit("}", 1)[-1]


def ns_of(tag):
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def tostr(el):
    return ET.tostring(el, encoding="unicode")


class StreamClosed(Exception):
    """The server closed the stream (</stream:stream>) or the TCP connection."""


class Timeout(Exception):
    pass


class StreamErrorReceived(Exception):
    def __init__(self, condition, text, element):
        super().__init__("stream error <%s/>%s" % (condition, " (%s)" % text if text else ""))
        self.condition = condition
        self.text = text
        self.element = element


def stream_error_condition(el):
    """(condition, text) of a <stream:error/> element."""
    cond, text = None, None
    for child in el:
        if child.tag == q(NS_STREAMS, "text"):
            text = child.text
        elif ns_of(child.tag) == NS_STREAMS and cond is None:
            cond = local(child.tag)
    return cond, text


def stanza_error(el):
    """(type, condition, text) of a stanza's <error/> child, or None."""
    err = el.find(q(NS_CLIENT, "error"))
    if err is None:
        return None
    cond, text = None, None
    for child in err:
        if child.tag == q(NS_STANZAS, "text"):
            text = child.text
        elif ns_of(child.tag) == NS_STANZAS and cond is None:
            cond = local(child.tag)
    return err.get("type"), cond, text


def client_tls_context(**kw):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


_ids = itertools.count(1)


def new_id():
    return "t%d" % next(_ids)


class RawClient:
    """One client connection.  All reads are bounded by a timeout.

    Elements that arrive while a test waits for something else are kept in
    self.pending and returned by later expect()/next() calls."""

    def __init__(self, port, host="127.0.0.1", timeout=DEFAULT_TIMEOUT):
        self.port = port
        self.host = host
        self.timeout = timeout
        self.sock = None
        self.pending = []
        self.header = None          # the server's current stream header element
        self.closed = False         # saw </stream:stream>
        self.eof = False            # TCP connection closed by the peer
        self.features = None
        self.jid = None
        self.need_restart = False   # after <proceed/> or <success/>
        self._parser = None
        self._depth = 0
        self._root = None

    # -- transport -------------------------------------------------------------

    def connect(self, tls=False, server_hostname="localhost", context=None):
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        if tls:
            ctx = context or client_tls_context()
            self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)
        self._reset_parser()
        return self

    def _reset_parser(self):
        self._parser = ET.XMLPullParser(events=("start", "end"))
        self._depth = 0
        self._root = None
        self.header = None
        self.closed = False

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def close(self):
        if self.sock is not None:
            try:
                # After <success/> the server waits for a new stream
                # header: a closing tag there would be not-well-formed.
                if not self.closed and not self.eof and not self.need_restart:
                    self.send("</stream:stream>")
            except OSError:
                pass
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _recv(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Timeout("timed out waiting for data from the server")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise Timeout("timed out waiting for data from the server")
        except (ConnectionResetError, ssl.SSLEOFError, BrokenPipeError):
            data = b""
        except ssl.SSLError as e:
            # A TLS alert or a close without close_notify counts as a close.
            if "EOF" in str(e) or "UNEXPECTED_EOF" in str(e):
                data = b""
            else:
                raise
        if not data:
            self.eof = True
        return data

    def _pump(self, deadline):
        """Reads once and feeds the parser; returns the new top-level
        elements (the header is recorded, not returned)."""
        data = self._recv(deadline)
        if not data:
            raise StreamClosed("connection closed by the server")
        self._parser.feed(data)
        out = []
        for event, el in self._parser.read_events():
            if event == "start":
                if self._depth == 0:
                    self.header = el
                    self._root = el
                self._depth += 1
            else:
                self._depth -= 1
                if self._depth == 1:
                    out.append(el)
                    self._root.remove(el)
                elif self._depth == 0:
                    self.closed = True
        return out

    # -- reading ---------------------------------------------------------------

    def next(self, timeout=None):
        """The next top-level element; raises StreamClosed at the end of
        the stream and Timeout when nothing arrives."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while not self.pending:
            if self.closed:
                raise StreamClosed("stream closed by the server")
            self.pending.extend(self._pump(deadline))
        return self.pending.pop(0)

    def expect(self, pred, timeout=None, what="a matching element"):
        """Waits for the first element matching pred (earlier elements stay
        pending).  Raises Timeout, or StreamErrorReceived if a stream error
        arrives instead."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        seen = 0
        while True:
            for i in range(seen, len(self.pending)):
                el = self.pending[i]
                if pred(el):
                    return self.pending.pop(i)
                if el.tag == q(NS_STREAM, "error"):
                    c, t = stream_error_condition(el)
                    raise StreamErrorReceived(c, t, el)
            seen = len(self.pending)
            if self.closed:
                raise StreamClosed("stream closed while waiting for %s" % what)
            try:
                self.pending.extend(self._pump(deadline))
            except Timeout:
                raise Timeout("timed out waiting for %s; pending: %s" % (
                    what, [tostr(e)[:200] for e in self.pending]))

    def expect_tag(self, tag, timeout=None):
        return self.expect(lambda e: e.tag == tag, timeout, what=tag)

    def expect_nothing(self, pred=lambda e: True, timeout=1.0):
        """Asserts that no element matching pred arrives within timeout."""
        try:
            el = self.expect(pred, timeout=timeout)
        except Timeout:
            return
        except StreamClosed:
            return
        raise AssertionError("unexpected element: %s" % tostr(el))

    def expect_stream_error(self, timeout=None):
        """RFC 6120 §4.9: waits for <stream:error/>, checks that a stream
        header preceded it (§4.9.1.2), that </stream:stream> follows and
        that the server then closes the TCP connection (after our own
        closing tag, §4.4).  Returns (condition, text)."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            err = None
            for i, el in enumerate(self.pending):
                if el.tag == q(NS_STREAM, "error"):
                    err = self.pending.pop(i)
                    break
            if err is not None:
                break
            if self.closed:
                raise AssertionError("stream closed without a stream error; got %s"
                                     % [tostr(e)[:200] for e in self.pending])
            try:
                self.pending.extend(self._pump(deadline))
            except StreamClosed:
                raise AssertionError("connection closed without a stream error "
                                     "(header seen: %s)" % (self.header is not None))
        assert self.header is not None and self.header.tag == q(NS_STREAM, "stream"), \
            "stream error without a preceding <stream:stream> header"
        # RFC 6120 §4.9.2: exactly one defined condition, an optional
        # <text/>, both in the xmpp-streams namespace (application-specific
        # conditions would be in another namespace and are allowed).
        conds = [c for c in err if ns_of(c.tag) == NS_STREAMS and local(c.tag) != "text"]
        texts = [c for c in err if c.tag == q(NS_STREAMS, "text")]
        assert len(conds) == 1 and len(texts) <= 1, "bad <stream:error/>: %s" % tostr(err)
        cond, text = stream_error_condition(err)
        # </stream:stream> must follow.
        end = time.monotonic() + 5
        while not self.closed:
            try:
                self.pending.extend(self._pump(end))
            except StreamClosed:
                raise AssertionError("TCP closed without </stream:stream> after "
                                     "the stream error <%s/>" % cond)
            except Timeout:
                raise AssertionError("no </stream:stream> after the stream error <%s/>" % cond)
        # Our side of the close, then the server must close the connection.
        try:
            self.send("</stream:stream>")
        except OSError:
            pass
        self.wait_eof(5)
        return cond, text

    def wait_eof(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while not self.eof:
            try:
                data = self._recv(deadline)
            except Timeout:
                raise AssertionError("server did not close the TCP connection")
            if data:
                raise AssertionError("data after </stream:stream>: %r" % data[:200])

    # -- stream negotiation ------------------------------------------------------

    def open_stream(self, to="localhost", version="1.0", lang="en",
                    ns_stream=NS_STREAM, ns_default=NS_CLIENT, extra="",
                    xml_decl=True):
        """Sends a stream header; returns the server's header element.
        The caller reads the features with read_features()."""
        attrs = ""
        if to is not None:
            attrs += " to=%s" % quoteattr(to)
        if version is not None:
            attrs += " version=%s" % quoteattr(version)
        if lang is not None:
            attrs += " xml:lang=%s" % quoteattr(lang)
        self.send("%s<stream:stream xmlns=%s xmlns:stream=%s%s%s>" % (
            "<?xml version='1.0'?>" if xml_decl else "",
            quoteattr(ns_default), quoteattr(ns_stream), attrs, extra))
        return self.read_header()

    def read_header(self, timeout=None):
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while self.header is None:
            self.pending.extend(self._pump(deadline))
        return self.header

    def read_features(self, timeout=None):
        self.features = self.expect_tag(q(NS_STREAM, "features"), timeout)
        return self.features

    def restart(self, to="localhost"):
        """A stream restart after TLS or SASL (RFC 6120 §4.3.3)."""
        self._reset_parser()
        self.pending = []
        self.need_restart = False
        self.open_stream(to=to)
        return self.read_features()

    def starttls(self, server_hostname="localhost", context=None, to="localhost"):
        self.send("<starttls xmlns='%s'/>" % NS_TLS)
        el = self.next()
        assert el.tag == q(NS_TLS, "proceed"), "expected <proceed/>, got %s" % tostr(el)
        ctx = context or client_tls_context()
        self.sock.settimeout(self.timeout)
        self.sock = ctx.wrap_socket(self.sock, server_hostname=server_hostname)
        return self.restart(to=to)

    def negotiate_tls(self, tls=False, to="localhost", server_hostname="localhost"):
        """Connects and brings the stream to the post-TLS features."""
        if self.sock is None:
            self.connect(tls=tls, server_hostname=server_hostname)
        self.open_stream(to=to)
        feats = self.read_features()
        if not tls:
            feats = self.starttls(server_hostname=server_hostname, to=to)
        return feats

    def mechanisms(self, features=None):
        f = features if features is not None else self.features
        m = f.find(q(NS_SASL, "mechanisms")) if f is not None else None
        return [e.text for e in m.findall(q(NS_SASL, "mechanism"))] if m is not None else []

    def cb_types(self, features=None):
        f = features if features is not None else self.features
        m = f.find(q(NS_SASL_CB, "sasl-channel-binding")) if f is not None else None
        return [e.get("type") for e in m.findall(q(NS_SASL_CB, "channel-binding"))] if m is not None else []

    # -- SASL ------------------------------------------------------------------------

    def sasl_auth(self, mech, initial=None, raw_initial=None):
        """Sends <auth/>; returns the server's answer element."""
        if raw_initial is not None:
            body = raw_initial
        elif initial is None:
            body = ""
        else:
            body = saslmod.b64(initial)
        self.send("<auth xmlns='%s' mechanism=%s>%s</auth>" % (NS_SASL, quoteattr(mech), body))
        return self._sasl_answer()

    def sasl_response(self, data):
        self.send("<response xmlns='%s'>%s</response>" % (NS_SASL, saslmod.b64(data)))
        return self._sasl_answer()

    def _sasl_answer(self):
        el = self.expect(lambda e: ns_of(e.tag) == NS_SASL, what="a SASL answer")
        if el.tag == q(NS_SASL, "success"):
            self.need_restart = True
        return el

    def auth_plain(self, user, password, authzid=""):
        return self.sasl_auth("PLAIN", saslmod.plain_message(user, password, authzid))

    def auth_scram(self, mech, user, password, cb_type=None, cb_data=None, **kw):
        """A full SCRAM exchange; returns the final element (<success/> with
        the server signature verified, or <failure/>)."""
        if mech.endswith("-PLUS") and cb_data is None:
            if cb_type == "tls-exporter":
                cb_data = saslmod.tls_exporter(self.sock)
            else:
                cb_type = cb_type or "tls-server-end-point"
                cb_data = saslmod.tls_server_end_point(self.sock)
        sc = saslmod.ScramClient(mech, user, password, cb_type=cb_type,
                                 cb_data=cb_data or b"", **kw)
        el = self.sasl_auth(mech, sc.first())
        if el.tag != q(NS_SASL, "challenge"):
            return el
        el = self.sasl_response(sc.final(saslmod.unb64(el.text)))
        if el.tag == q(NS_SASL, "success"):
            sc.verify(saslmod.unb64(el.text))
        elif el.tag == q(NS_SASL, "challenge"):
            # RFC 6120 §6.4.6: server-final-message may come as a challenge.
            sc.verify(saslmod.unb64(el.text))
            el = self.sasl_response(b"")
        return el

    def authenticate(self, user, password, mech="PLAIN", host="localhost", **kw):
        """SASL then the stream restart; returns the new features."""
        if mech == "PLAIN":
            el = self.auth_plain(user, password, **kw)
        else:
            el = self.auth_scram(mech, user, password, **kw)
        assert el.tag == q(NS_SASL, "success"), "SASL %s failed: %s" % (mech, tostr(el))
        return self.restart(to=host)

    # -- binding and IQs -------------------------------------------------------------

    def bind(self, resource=None):
        """RFC 6120 §7; returns the IQ answer element."""
        inner = "<resource>%s</resource>" % escape(resource) if resource is not None else ""
        return self.iq("set", "<bind xmlns='%s'>%s</bind>" % (NS_BIND, inner), to=None)

    def bind_ok(self, resource=None):
        el = self.bind(resource)
        assert el.get("type") == "result", "bind failed: %s" % tostr(el)
        jid = el.find("%s/%s" % (q(NS_BIND, "bind"), q(NS_BIND, "jid")))
        assert jid is not None and jid.text, "bind result without <jid/>: %s" % tostr(el)
        self.jid = jid.text
        return self.jid

    def iq(self, type_, payload, to=None, id_=None, timeout=None, frm=None):
        """Sends an IQ and waits for the result/error with the same id."""
        id_ = id_ or new_id()
        attrs = " type=%s id=%s" % (quoteattr(type_), quoteattr(id_))
        if to is not None:
            attrs += " to=%s" % quoteattr(to)
        if frm is not None:
            attrs += " from=%s" % quoteattr(frm)
        self.send("<iq%s>%s</iq>" % (attrs, payload))
        return self.expect(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == id_
                           and e.get("type") in ("result", "error"),
                           timeout, what="IQ reply id=%s" % id_)

    def ping(self, to="localhost", timeout=None):
        return self.iq("get", "<ping xmlns='%s'/>" % NS_PING, to=to, timeout=timeout)

    def login(self, user, password, resource=None, mech="PLAIN", tls=False,
              host="localhost", session=True, presence=None):
        """Connect, STARTTLS (or direct TLS), SASL, bind, optional session
        IQ and optional initial presence (a priority, or True)."""
        self.negotiate_tls(tls=tls, to=host)
        feats = self.authenticate(user, password, mech=mech, host=host)
        assert feats.find(q(NS_BIND, "bind")) is not None, \
            "no <bind/> after SASL: %s" % tostr(feats)
        self.bind_ok(resource)
        if session:
            el = self.iq("set", "<session xmlns='%s'/>" % NS_SESSION)
            assert el.get("type") == "result", tostr(el)
        if presence is not None and presence is not False:
            self.send_presence(priority=None if presence is True else presence)
        return self.jid

    def send_presence(self, priority=None, to=None, type_=None, extra=""):
        attrs = ""
        if to is not None:
            attrs += " to=%s" % quoteattr(to)
        if type_ is not None:
            attrs += " type=%s" % quoteattr(type_)
        body = "<priority>%d</priority>" % priority if priority is not None else ""
        self.send("<presence%s>%s%s</presence>" % (attrs, body, extra))

    def send_message(self, to, body="hi", type_="chat", id_=None, extra="", frm=None):
        id_ = id_ or new_id()
        attrs = " to=%s id=%s" % (quoteattr(to), quoteattr(id_))
        if type_ is not None:
            attrs += " type=%s" % quoteattr(type_)
        if frm is not None:
            attrs += " from=%s" % quoteattr(frm)
        self.send("<message%s><body>%s</body>%s</message>" % (attrs, escape(body), extra))
        return id_

    def expect_message(self, body=None, timeout=None, type_=None):
        def pred(e):
            if e.tag != q(NS_CLIENT, "message"):
                return False
            if type_ is not None and e.get("type", "normal") != type_:
                return False
            if body is not None:
                b = e.find(q(NS_CLIENT, "body"))
                return b is not None and b.text == body
            return True
        return self.expect(pred, timeout, what="message %r" % body)

    def expect_presence(self, frm=None, type_=None, timeout=None):
        def pred(e):
            if e.tag != q(NS_CLIENT, "presence"):
                return False
            if frm is not None and e.get("from") != frm:
                return False
            return e.get("type") == type_
        return self.expect(pred, timeout, what="presence from=%s type=%s" % (frm, type_))


def unique(prefix="u"):
    return "%s%s" % (prefix, uuid.uuid4().hex[:10])
