"""Client side of SASL PLAIN (RFC 4616) and SCRAM (RFC 5802, RFC 7677) with
channel binding (RFC 5929 tls-server-end-point, RFC 9266 tls-exporter),
written from the RFCs so that the server is checked against an independent
implementation."""

import base64
import ctypes
import hashlib
import hmac
import os
import ssl

HASHES = {"SHA-1": "sha1", "SHA-256": "sha256", "SHA-512": "sha512"}


def plain_message(user, password, authzid=""):
    return ("%s\0%s\0%s" % (authzid, user, password)).encode("utf-8")


def _saslname(s):
    return s.replace("=", "=3D").replace(",", "=2C")


def _xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))


class ScramError(Exception):
    pass


class ScramClient:
    """One SCRAM exchange.  mech like 'SCRAM-SHA-256' or 'SCRAM-SHA-1-PLUS'.
    For -PLUS give cb_type ('tls-server-end-point' / 'tls-exporter') and
    cb_data.  cb_flag_y sends the 'y' GS2 flag (client supports channel
    binding but thinks the server does not)."""

    def __init__(self, mech, user, password, *, cb_type=None, cb_data=b"",
                 authzid=None, nonce=None, cb_flag_y=False):
        plus = mech.endswith("-PLUS")
        hname = mech[len("SCRAM-"):]
        if plus:
            hname = hname[:-len("-PLUS")]
        self.hash = HASHES[hname]
        self.user = user
        self.password = password
        self.nonce = nonce or base64.b64encode(os.urandom(18)).decode()
        az = "a=%s" % _saslname(authzid) if authzid else ""
        if plus:
            if not cb_type:
                raise ValueError("-PLUS needs a channel-binding type")
            self.gs2 = "p=%s,%s," % (cb_type, az)
            self.cb_data = cb_data
        else:
            self.gs2 = ("y,%s," if cb_flag_y else "n,%s,") % az
            self.cb_data = b""
        self.client_first_bare = "n=%s,r=%s" % (_saslname(user), self.nonce)
        self.server_signature = None

    def first(self):
        return (self.gs2 + self.client_first_bare).encode()

    def final(self, server_first):
        sf = server_first.decode()
        attrs = dict(kv.split("=", 1) for kv in sf.split(","))
        if "e" in attrs:
            raise ScramError(attrs["e"])
        r, s, i = attrs["r"], base64.b64decode(attrs["s"]), int(attrs["i"])
        if not r.startswith(self.nonce) or len(r) <= len(self.nonce):
            raise ScramError("server nonce does not extend ours")
        salted = hashlib.pbkdf2_hmac(self.hash, self.password.encode(), s, i)
        client_key = hmac.new(salted, b"Client Key", self.hash).digest()
        stored_key = hashlib.new(self.hash, client_key).digest()
        cbind = base64.b64encode(self.gs2.encode() + self.cb_data).decode()
        without_proof = "c=%s,r=%s" % (cbind, r)
        auth_message = ",".join((self.client_first_bare, sf, without_proof)).encode()
        client_sig = hmac.new(stored_key, auth_message, self.hash).digest()
        proof = base64.b64encode(_xor(client_key, client_sig)).decode()
        server_key = hmac.new(salted, b"Server Key", self.hash).digest()
        self.server_signature = hmac.new(server_key, auth_message, self.hash).digest()
        return ("%s,p=%s" % (without_proof, proof)).encode()

    def verify(self, server_final):
        attrs = dict(kv.split("=", 1) for kv in server_final.decode().split(","))
        if "e" in attrs:
            raise ScramError(attrs["e"])
        if base64.b64decode(attrs["v"]) != self.server_signature:
            raise ScramError("server signature mismatch")
        return True


# --- channel-binding data ----------------------------------------------------

def tls_server_end_point(sslsock):
    """RFC 5929 §4.1: hash of the server certificate; SHA-256 for our
    ECDSA-with-SHA256 certificate (SHA-256 also replaces MD5/SHA-1)."""
    der = sslsock.getpeercert(binary_form=True)
    return hashlib.sha256(der).digest()


def tls_exporter(sslsock):
    """RFC 9266 tls-exporter (TLS 1.3 only), or None when unavailable.

    Python 3.11's ssl module has no keying-material exporter, so this reads
    the SSL* out of the _ssl._SSLSocket object (CPython 3.11 layout:
    PyObject_HEAD, Socket, ssl, ctx) and calls OpenSSL through ctypes.  The
    layout is checked first (ob_type and ctx must be the objects we know),
    so a different CPython yields None (the test skips) rather than a crash.
    """
    if sslsock.version() != "TLSv1.3":
        return None
    obj = getattr(sslsock, "_sslobj", None)
    if obj is None:
        return None
    ptrs = (ctypes.c_void_p * 5).from_address(id(obj))
    if ptrs[1] != id(type(obj)) or ptrs[4] != id(sslsock.context):
        return None
    try:
        lib = ctypes.CDLL("libssl.so.3")
    except OSError:
        return None
    fn = lib.SSL_export_keying_material
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t,
                   ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                   ctypes.c_size_t, ctypes.c_int]
    get_version = lib.SSL_get_version
    get_version.restype = ctypes.c_char_p
    get_version.argtypes = [ctypes.c_void_p]
    if get_version(ptrs[3]) != b"TLSv1.3":
        return None
    out = ctypes.create_string_buffer(32)
    label = b"EXPORTER-Channel-Binding"
    if fn(ptrs[3], out, 32, label, len(label), None, 0, 0) != 1:
        return None
    return out.raw


def b64(data):
    return base64.b64encode(data).decode() if data else "="


def unb64(text):
    text = (text or "").strip()
    if text in ("", "="):
        return b""
    return base64.b64decode(text)
