#!/usr/bin/python3
"""mkseeds.py - writes the seed corpora fuzz/corpus/<target>/ (docs/fuzzing.md).

Deterministic: rerunning it rewrites the same files.  The SCRAM seeds carry
valid proofs for the fixed credentials of fuzz/scram.c (account "user",
password "pencil", its salt, 16 iterations, its server nonce), computed
here as RFC 5802 §3 defines them, so the fuzzer starts from exchanges that
reach SASL_SUCCESS.  Hand-written inputs (and minimized crashes) may be
added to the corpus directories beside the generated ones.
"""
import base64
import hashlib
import hmac
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
SEP = b"\xff\xff"


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


STREAM = ("<stream:stream xmlns='jabber:client' "
          "xmlns:stream='http://etherx.jabber.org/streams' to='example.org' version='1.0'>")


def xml_stream():
    body = (STREAM +
            "<message to='a@example.org/r' type='chat' id='m1' xml:lang='en'>"
            "<body>hi &amp; &lt;bye&gt; &#x1F600;</body>"
            "<x xmlns='jabber:x:oob'><url>http://x/</url></x></message>"
            "<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>"
            "<presence><show>away</show><status><![CDATA[a <b> c]]></status></presence>"
            "<foo:iq xmlns:foo='jabber:client' type='set' id='2'>"
            "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></foo:iq>"
            " \n\t</stream:stream>")
    for mode in (0x00, 0x05, 0x1f, 0x20, 0x45, 0x80, 0xa0, 0xe3):
        write("xml_stream", "stream-%02x" % mode, bytes([mode]) + body.encode())
    write("xml_stream", "starttls", b"\x20" + (STREAM + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>").encode())
    write("xml_stream", "deep", b"\x20" + (STREAM + "<message>" + "<a>" * 20 + "</a>" * 20 + "</message>").encode())
    write("xml_stream", "attrs", b"\x20" + (STREAM + "<message " + " ".join("a%d='%d'" % (i, i) for i in range(20)) + "/>").encode())
    write("xml_stream", "bad-ns", b"\x20" + (STREAM + "<x:message/>").encode())
    write("xml_stream", "pi-doctype", b"\x20<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]>" + STREAM.encode() + b"<message>&a;</message>")
    write("xml_stream", "restart", b"\x80" + (STREAM + "<presence/>" * 4 + STREAM + "<presence/>").encode())
    write("xml_stream", "utf8-bad", b"\x20" + STREAM.encode() + b"<message><body>\xc3\x28 \xed\xa0\x80</body></message>")


def jid():
    for i, s in enumerate([
            "user@example.org/resource", "example.org", "user@example.org", "example.org/res/with/slash",
            "User@EXAMPLE.ORG./Res", "[::1]", "a@[2001:db8::1]/x", "127.0.0.1", "\u00e9l\u00e8ve@ex\u00e4mple.org/\u2160",
            "@example.org", "user@", "user@example.org/", "a@b@c", "x" * 1024 + "@example.org",
            "\uff21@\uff45xample.org", "juliet@example.com/foo\u00a0bar", "a\u0000b@c", "ＳＳ@straße.de/ﬁ",
            "user@example..org", "user@-example.org", "\u0345@x", "\ufb01\u0301@x"]):
        write("jid", "jid-%02d" % i, s.encode("utf-8", "surrogatepass"))


def b64():
    for i, s in enumerate([b"", b"Zm9v", b"Zm9vYg==", b"Zm9vYmE=", b"Zm9", b"Zm=v", b"Zm9v\nYmFy",
                           b"====", b"Zm9vYh==", b"+/+/", b"-_-_", b"\x00\xff\x80abc"]):
        write("base64", "b64-%02d" % i, s)


# --- SCRAM ------------------------------------------------------------------
SALT = bytes([0x41, 0x25, 0xc2, 0x47, 0xe4, 0x3a, 0xb1, 0xe9,
              0x3c, 0x6d, 0xff, 0x76, 0x0e, 0x11, 0x22, 0x33])
ITER = 16
SNONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
CNONCE = "fyko+d2lbbFgONRv9qkxdawL"
EXPORTER = bytes(0xa0 + i for i in range(32))
ENDPOINT = bytes((0x10 + 3 * i) & 0xff for i in range(32))
HASHES = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256", "SCRAM-SHA-512": "sha512"}
MECH_INDEX = ["SCRAM-SHA-1", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS",
              "SCRAM-SHA-512", "SCRAM-SHA-512-PLUS", "PLAIN"]


def scram_exchange(mech, gs2, cbdata, user="user", password="pencil"):
    h = HASHES[mech.replace("-PLUS", "")]
    cfb = "n=%s,r=%s" % (user, CNONCE)
    cf = gs2 + cfb
    sf = "r=%s%s,s=%s,i=%d" % (CNONCE, SNONCE, base64.b64encode(SALT).decode(), ITER)
    cbind = base64.b64encode(gs2.encode() + cbdata).decode()
    cfwp = "c=%s,r=%s%s" % (cbind, CNONCE, SNONCE)
    salted = hashlib.pbkdf2_hmac(h, password.encode(), SALT, ITER)
    ck = hmac.new(salted, b"Client Key", h).digest()
    sk = hashlib.new(h, ck).digest()
    am = ",".join([cfb, sf, cfwp]).encode()
    sig = hmac.new(sk, am, h).digest()
    proof = bytes(a ^ b for a, b in zip(ck, sig))
    final = cfwp + ",p=" + base64.b64encode(proof).decode()
    return cf.encode(), final.encode()


def scram():
    cases = [
        ("SCRAM-SHA-1", "n,,", b"", 0x00),
        ("SCRAM-SHA-256", "n,,", b"", 0x00),
        ("SCRAM-SHA-512", "n,,", b"", 0x00),
        ("SCRAM-SHA-256", "y,,", b"", 0x00),
        ("SCRAM-SHA-256", "n,a=user@example.org,", b"", 0x80),
        ("SCRAM-SHA-256-PLUS", "p=tls-exporter,,", EXPORTER, 0x10),
        ("SCRAM-SHA-1-PLUS", "p=tls-server-end-point,,", ENDPOINT, 0x20),
        ("SCRAM-SHA-512-PLUS", "p=tls-exporter,,", EXPORTER, 0x30),
    ]
    for i, (mech, gs2, cb, bits) in enumerate(cases):
        mode = MECH_INDEX.index(mech) | bits
        cf, final = scram_exchange(mech, gs2, cb)
        write("scram", "ok-%02d" % i, bytes([mode]) + cf + SEP + final)
    cf, final = scram_exchange("SCRAM-SHA-256", "n,,", b"")
    write("scram", "unknown-user", bytes([2 | 0x08]) + cf + SEP + final)
    cf, final = scram_exchange("SCRAM-SHA-256", "n,,", b"", password="wrong")
    write("scram", "bad-proof", bytes([2]) + cf + SEP + final)
    cf, final = scram_exchange("SCRAM-SHA-256", "n,,", b"", user="us=2Cer=3D")
    write("scram", "escaped-user", bytes([2]) + cf + SEP + final)
    write("scram", "extension", bytes([2]) + b"n,,m=ext,n=user,r=abc")
    write("scram", "no-tls-plus", bytes([3 | 0x40]) + b"p=tls-exporter,,n=user,r=abc")
    write("scram", "plain-ok", bytes([6]) + b"\x00user\x00pencil")
    write("scram", "plain-authz", bytes([6]) + b"user@example.org\x00user\x00pencil")
    write("scram", "plain-bad", bytes([6]) + b"\x00user\x00nope")
    write("scram", "plain-notls", bytes([6 | 0x40]) + b"\x00user\x00pencil")
    write("scram", "empty-first", bytes([2]))
    write("scram", "creds-string", bytes([7]) + b"sha1:4096:QSXCR+Q6sek8bf92:6dlGYMOdZcOPutkcNY8U2g7vK9Y=:D+CSWLOshSulAsxiupA+qs2/fTE=")


def conf():
    base = ("loglevel: info\nhosts: [example.org, \"EXAMPLE.net.\"]\n"
            "listen:\n  - {module: c2s, ip: 127.0.0.1, port: 5222, starttls_required: true}\n"
            "  - {module: c2s, ip: \"::\", port: 5223, tls: true}\n"
            "  - {module: control, path: parley.sock}\n"
            "  - {module: http, port: 5280, max_body_size: 64KiB, request_timeout: 30s}\n"
            "storage: {backend: sqlite, path: /tmp/parley-fuzz.db}\n"
            "limits: {max_stanza_size: 262144, max_depth: 32, max_attrs: 64, idle_timeout: 5m}\n"
            "auth: {scram_iterations: 4096, allow_plain: true, max_failures: 5, failure_window: 60, lockout: 300}\n")
    mods = ("modules:\n  bare: {}\n  fz:\n    flag: no\n    delta: -100\n    count: 10\n"
            "    size: 1MiB\n    interval: 2h\n    name: \"x\"\n    file: rel/path\n"
            "    tags: [a, 'b c']\n    mode: fast\n")
    acl = ("acl:\n  admin:\n    user: [admin@example.org, root]\n  local:\n    server: example.org\n"
           "  lan:\n    ip: [10.0.0.0/8, \"::1/128\", 127.0.0.1]\n"
           "access_rules:\n  register:\n    - allow: lan\n    - deny: all\n  api:\n    - allow: admin\n")
    write("conf", "full", base + mods + acl)
    write("conf", "minimal", "hosts: [localhost]\n")
    write("conf", "flow", "{hosts: [a.example], limits: {max_depth: 8}, modules: {bare: {}}}\n")
    write("conf", "anchors", "x: &a [example.org]\nhosts: *a\n")
    write("conf", "two-docs", "hosts: [a]\n---\nhosts: [b]\n")
    write("conf", "unknown-key", "hosts: [a]\nbogus: 1\n")
    write("conf", "bad-int", "hosts: [a]\nlimits: {max_depth: 1e9}\n")
    write("conf", "dup", "hosts: [a]\nhosts: [b]\n")
    write("conf", "cidr-bits", "hosts: [a]\nacl:\n  x:\n    ip: 10.0.0.1/8\n")
    write("conf", "tags", "hosts: [a]\nmodules: !!map {bare: !!map {}}\n")
    write("conf", "empty", "")


def sm_queue():
    def prog(start, ops):
        return struct.pack(">I", start) + bytes(x for op in ops for x in op)
    write("sm_queue", "basic", prog(0, [(0, 0), (0, 0), (2, 9), (3, 0), (3, 0), (4, 1), (4, 0), (2, 10)]))
    write("sm_queue", "wrap", prog(0xfffffffe, [(0, 0)] * 4 + [(2, 10), (3, 0)] * 3 + [(4, 0), (4, 2), (4, 1)]))
    write("sm_queue", "registry", prog(5, [(5, 0), (5, 4), (6, 0), (6, 1), (5, 7), (6, 7), (6, 200)] + [(5, i) for i in range(12)] + [(6, i) for i in range(12)]))
    write("sm_queue", "too-high", prog(7, [(1, 0), (2, 255), (2, 0)]))


def fast():
    nonce = "00112233445566778899aabbccddeeff"
    fp = "ffeeddccbbaa99887766554433221100"
    write("fast", "rec-both", "n:0:1900000000:0:%s:%s;c:1:1800000000:7:%s:%s" % (nonce, fp, fp, nonce))
    write("fast", "rec-new", "n:2:999999999999999999:4294967295:%s:%s" % (nonce, fp))
    write("fast", "rec-bad", "n:3:1:1:%s:%s;" % (nonce, fp))
    write("fast", "uuid", "d5a9b8e1-3f7c-4b6a-9e2d-1a2b3c4d5e6f")
    write("fast", "ht", b"user\x00" + bytes(range(32)))
    write("fast", "b64-ws", "Zm9v\n YmFy\r\n")
    write("fast", "tag", "Conversations  on  Android!/x\u00e9")


def mam():
    q = ("<iq type='set' id='q1'><query xmlns='urn:xmpp:mam:2' queryid='f27'>"
         "<x xmlns='jabber:x:data' type='submit'>"
         "<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>"
         "<field var='with'><value>Juliet@Capulet.lit</value></field>"
         "<field var='start'><value>2010-06-07T00:00:00Z</value></field>"
         "<field var='end'><value>2010-07-07T13:23:54.123+02:00</value></field>"
         "<field var='after-id'><value>09af3-cc343-b409f</value></field>"
         "</x><set xmlns='http://jabber.org/protocol/rsm'><max>10</max><after>abc</after></set>"
         "<flip-page/></query></iq>")
    write("mam_query", "query-full", q)
    write("mam_query", "query-empty", "<query xmlns='urn:xmpp:mam:2'/>")
    write("mam_query", "query-before", "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><max>0</max><before/></set></query>")
    write("mam_query", "query-index", "<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><index>3</index></set></query>")
    write("mam_query", "query-ids", "<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'>"
          "<field var='FORM_TYPE'><value>urn:xmpp:mam:2#extended</value></field><field var='ids'>" +
          "".join("<value>id%d</value>" % i for i in range(5)) + "</field></x></query>")
    write("mam_query", "query-unknown", "<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data' type='submit'>"
          "<field var='FORM_TYPE'><value>urn:xmpp:mam:2</value></field><field var='x-nope'><value>1</value></field></x></query>")
    write("mam_query", "prefs", "<prefs xmlns='urn:xmpp:mam:2' default='roster'><always><jid>romeo@montague.lit</jid></always>"
          "<never><jid>montague@montague.lit/r</jid><jid>Montague@Montague.lit</jid></never></prefs>")
    write("mam_query", "prefs-bad", "<prefs xmlns='urn:xmpp:mam:2' default='sometimes'/>")
    write("mam_query", "message", "<message type='chat' to='a@b'><body>x</body><stanza-id xmlns='urn:xmpp:sid:0' by='user@example.org' id='1'/>"
          "<stanza-id xmlns='urn:xmpp:sid:0' by='other' id='2'/><active xmlns='http://jabber.org/protocol/chatstates'/></message>")
    write("mam_query", "datetime", "1970-01-01T00:00:00.000001-23:59")
    write("mam_query", "datetime-leap", "2016-12-31T23:59:60Z")


def roster_sub():
    # op byte: bit 0 = who (A/B), (op >> 1) % 7 = action
    S, SD, U, UD, RM, FORGE = 0, 1, 2, 3, 4, 5

    def op(who, act):
        return (act << 1) | who
    write("roster_sub", "mutual", bytes([op(0, S), op(1, SD), op(1, S), op(0, SD)]))
    write("roster_sub", "preapprove", bytes([op(0, SD), op(1, S), op(0, U), op(1, UD)]))
    write("roster_sub", "cancel", bytes([op(0, S), op(0, U), op(1, S), op(0, UD), op(1, RM)]))
    write("roster_sub", "remove", bytes([op(0, S), op(1, SD), op(1, S), op(0, SD), op(0, RM), op(1, S)]))
    write("roster_sub", "forged", bytes([op(0, FORGE), 1, op(0, S), op(1, FORGE), 0, op(1, SD)]))


if __name__ == "__main__":
    xml_stream()
    jid()
    b64()
    scram()
    conf()
    sm_queue()
    fast()
    mam()
    roster_sub()
