"""The HTTP admin API (issue 5, docs/http-api.md) against a real parleyd:
POST /api/COMMAND and GET /api over plain HTTP and direct TLS, bearer
tokens (create, use, restrict, revoke) and Basic authentication of an admin
account, every error class with its status and JSON body, and that a slow
or oversized request does not hold up other HTTP or XMPP clients."""

import base64
import json
import os
import socket
import sqlite3
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from harness import server as srv
from harness.xmpp import unique

ADMIN_PW = "admin-pass-1"
BOB_PW = "bob-pass-1"

ACL = """acl:
  admins:
    user: [admin@localhost]
  loopback:
    ip: [127.0.0.0/8, "::1/128"]
access_rules:
  api:
    - allow: admins
  api_check_account:
    - allow: admins
    - allow: loopback
"""


def http_config(server, extra_listen, extra=ACL):
    """The server's config with http listeners added to 'listen'."""
    text = server.config_text(extra=extra)
    return text.replace("listen:\n", "listen:\n" + extra_listen, 1)


def start_http_server(s, body_limit=4096, timeout=2, acl=ACL):
    s.http_port = srv.free_port()
    s.https_port = srv.free_port()
    listen = ("  - {module: http, ip: 127.0.0.1, port: %d, max_body_size: %d, "
              "request_timeout: %d}\n"
              "  - {module: http, ip: 127.0.0.1, port: %d, tls: true}\n"
              % (s.http_port, body_limit, timeout, s.https_port))
    s.write_config(http_config(s, listen, acl))
    s.start()
    return s


@pytest.fixture(scope="module")
def api(cert):
    s = srv.ParleyServer("test_http_api", cert)
    start_http_server(s)
    s.register("admin", ADMIN_PW)
    s.register("bob", BOB_PW)
    yield s
    s.check_stop()


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.raw = body
        try:
            self.json = json.loads(body.decode()) if body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "Reply(%d, %r)" % (self.status, self.raw[:300])


def request(port, method, path, body=None, *, token=None, basic=None,
            content_type="application/json", headers=None, tls=False, raw_body=None):
    url = "%s://127.0.0.1:%d%s" % ("https" if tls else "http", port, path)
    data = raw_body
    if body is not None:
        data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None and content_type:
        req.add_header("Content-Type", content_type)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if basic:
        req.add_header("Authorization", "Basic " + base64.b64encode(
            ("%s:%s" % basic).encode()).decode())
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    ctx = None
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(req, timeout=20, context=ctx) as r:
            return Reply(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Reply(e.code, e.headers, e.read())


def call(server, command, args=None, **kw):
    return request(server.http_port, "POST", "/api/" + command,
                   {} if args is None else args, **kw)


def make_token(server, name=None, commands=None):
    name = name or unique("tok")
    args = ["api_token_create", name] + ([commands] if commands else [])
    cp = server.ctl(*args)
    assert cp.returncode == 0, cp.stderr
    token = cp.stdout.strip()
    assert token.startswith("plt_") and len(token) == 47, token
    return name, token


def assert_error(reply, status, argument=None, contains=None):
    assert reply.status == status, reply
    assert reply.headers.get("Content-Type") == "application/json", reply.headers
    assert isinstance(reply.json, dict) and "error" in reply.json, reply
    if argument is None:
        assert "argument" not in reply.json, reply
    else:
        assert reply.json.get("argument") == argument, reply
    if contains:
        assert contains in reply.json["error"], reply


# --- success ----------------------------------------------------------------

def test_token_register_check_list(api):
    _, token = make_token(api)
    user = unique("h")
    r = call(api, "register", {"user": user, "host": "localhost", "password": "pw-1234"},
             token=token)
    assert (r.status, r.json) == (200, {"result": "ok"}), r
    r = call(api, "check_account", {"user": user, "host": "localhost"}, token=token)
    assert (r.status, r.json) == (200, {"result": "%s@localhost exists" % user}), r
    r = call(api, "registered_users", {"host": "localhost"}, token=token)
    assert r.status == 200 and isinstance(r.json["result"], list), r
    assert user in r.json["result"] and "admin" in r.json["result"]
    # The account is real: parleyctl sees it too.
    assert api.ctl("check_account", user, "localhost").returncode == 0


def test_basic_admin(api):
    user = unique("b")
    basic = ("admin@localhost", ADMIN_PW)
    r = call(api, "register", {"user": user, "host": "localhost", "password": "pw"}, basic=basic)
    assert (r.status, r.json) == (200, {"result": "ok"}), r
    r = call(api, "check_account", {"user": user, "host": "localhost"}, basic=basic)
    assert (r.status, r.json) == (200, {"result": "%s@localhost exists" % user}), r
    r = call(api, "registered_users", {"host": "localhost"}, basic=basic)
    assert r.status == 200 and user in r.json["result"], r
    # The user-id is a JID: prepared like any other.
    r = call(api, "registered_users", {"host": "localhost"}, basic=("ADMIN@LocalHost", ADMIN_PW))
    assert r.status == 200, r


def test_empty_body(api):
    _, token = make_token(api)
    r = request(api.http_port, "POST", "/api/status", raw_body=b"", token=token,
                content_type=None)
    assert r.status == 200 and isinstance(r.json["result"], str), r


def test_listing_from_registry(api):
    _, token = make_token(api)
    r = request(api.http_port, "GET", "/api", token=token)
    assert r.status == 200, r
    names = [c["name"] for c in r.json["commands"]]
    ref = subprocess.run([srv.binary("parleyd"), "--commands-reference"],
                         capture_output=True, text=True, check=True).stdout
    documented = [l[3:].strip() for l in ref.splitlines() if l.startswith("## ")]
    assert names == documented
    reg = next(c for c in r.json["commands"] if c["name"] == "register")
    assert [(a["name"], a["type"], a["optional"]) for a in reg["args"]] == [
        ("user", "user", False), ("host", "host", False), ("password", "password", False)]
    assert reg["result"] == "none"
    create = next(c for c in r.json["commands"] if c["name"] == "api_token_create")
    assert [(a["name"], a["optional"]) for a in create["args"]] == [
        ("name", False), ("commands", True)]


def test_tls_listener(api):
    _, token = make_token(api)
    r = request(api.https_port, "GET", "/api", token=token, tls=True)
    assert r.status == 200 and r.json["commands"], r
    r = request(api.https_port, "POST", "/api/nope", {}, token=token, tls=True)
    assert_error(r, 404)


def test_token_list_and_revoke(api):
    name, token = make_token(api, commands="check_account, registered_users")
    listing = api.ctl("api_token_list").stdout
    line = next(l for l in listing.splitlines() if l.startswith(name + " "))
    assert line.endswith("commands check_account,registered_users"), line
    assert token not in listing
    r = call(api, "registered_users", {"host": "localhost"}, token=token)
    assert r.status == 200, r
    cp = api.ctl("api_token_revoke", name)
    assert cp.returncode == 0, cp.stderr
    r = call(api, "registered_users", {"host": "localhost"}, token=token)
    assert_error(r, 401, contains="invalid or revoked token")
    assert name + " " not in api.ctl("api_token_list").stdout
    cp = api.ctl("api_token_revoke", name)
    assert cp.returncode != 0 and "no API token named" in cp.stderr + cp.stdout


def test_token_create_errors(api):
    name, _ = make_token(api)
    cp = api.ctl("api_token_create", name)
    assert cp.returncode != 0 and "already exists" in cp.stderr + cp.stdout
    cp = api.ctl("api_token_create", "bad name")
    assert cp.returncode != 0 and "invalid token name" in cp.stderr + cp.stdout
    cp = api.ctl("api_token_create", unique("t"), "registered_users,nope")
    assert cp.returncode != 0 and "unknown command 'nope'" in cp.stderr + cp.stdout
    # The hash, not the token, is stored.
    _, token = make_token(api)
    db = sqlite3.connect(os.path.join(api.dir, "parley.db"))
    values = [v for (v,) in db.execute("SELECT value FROM server_kv")]
    db.close()
    assert values and not any(token.encode() in bytes(v) for v in values)


# --- every error class ------------------------------------------------------

def test_400_bad_arguments(api):
    _, token = make_token(api)
    r = call(api, "register", {"user": "a@b", "host": "localhost", "password": "x"}, token=token)
    assert_error(r, 400, argument="user", contains="invalid JID localpart")
    r = call(api, "register", {"user": "a", "host": "localhost"}, token=token)
    assert_error(r, 400, argument="password", contains="required")
    r = call(api, "register", {"user": "a", "host": "localhost", "password": "x", "pw": "y"},
             token=token)
    assert_error(r, 400, argument="pw")
    r = call(api, "register", {"user": ["a"], "host": "localhost", "password": "x"}, token=token)
    assert_error(r, 400, argument="user", contains="expected a string")
    r = request(api.http_port, "POST", "/api/status", raw_body=b"{\"a\":", token=token)
    assert_error(r, 400, contains="malformed JSON")
    r = request(api.http_port, "POST", "/api/status", raw_body=b"[1]", token=token)
    assert_error(r, 400, contains="JSON object")


def test_401(api):
    r = call(api, "registered_users", {"host": "localhost"})
    assert_error(r, 401)
    challenges = r.headers.get_all("WWW-Authenticate")
    assert any(c.startswith("Bearer") for c in challenges), challenges
    assert any(c.startswith("Basic") for c in challenges), challenges
    assert_error(call(api, "status", token="plt_" + "A" * 43), 401)
    assert_error(call(api, "status", basic=("admin@localhost", "wrong")), 401)
    assert_error(call(api, "status", basic=("nobody@localhost", "x")), 401)
    assert_error(call(api, "status", basic=("admin@elsewhere.test", ADMIN_PW)), 401)
    assert_error(call(api, "status", headers={"Authorization": "Digest abc"}), 401)


def test_403(api):
    # bob authenticates but the 'api' rule allows only admins ...
    r = call(api, "registered_users", {"host": "localhost"}, basic=("bob@localhost", BOB_PW))
    assert_error(r, 403, contains="access rule 'api'")
    # ... while api_check_account also allows loopback addresses.
    r = call(api, "check_account", {"user": "admin", "host": "localhost"},
             basic=("bob@localhost", BOB_PW))
    assert r.status == 200, r
    # A token limited to some commands.
    _, token = make_token(api, commands="check_account")
    r = call(api, "registered_users", {"host": "localhost"}, token=token)
    assert_error(r, 403, contains="may not call registered_users")


def test_404(api):
    _, token = make_token(api)
    assert_error(call(api, "no_such_command", token=token), 404, contains="unknown command")
    assert_error(request(api.http_port, "GET", "/elsewhere", token=token), 404)
    r = call(api, "check_account", {"user": "nobody-here", "host": "localhost"}, token=token)
    assert_error(r, 404, contains="does not exist")


def test_405(api):
    _, token = make_token(api)
    r = request(api.http_port, "GET", "/api/status", token=token)
    assert_error(r, 405)
    assert r.headers.get("Allow") == "POST"
    r = request(api.http_port, "POST", "/api", {}, token=token)
    assert_error(r, 405)
    assert r.headers.get("Allow") == "GET"
    assert_error(request(api.http_port, "DELETE", "/api/status", token=token), 405)


def test_409(api):
    _, token = make_token(api)
    r = call(api, "register", {"user": "bob", "host": "localhost", "password": "x"}, token=token)
    assert_error(r, 409, contains="already exists")


def test_413(api):
    _, token = make_token(api)
    r = call(api, "status", {"pad": "x" * 5000}, token=token)
    assert r.status == 413, r


def test_415(api):
    _, token = make_token(api)
    r = request(api.http_port, "POST", "/api/status", raw_body=b"{}", token=token,
                content_type="text/plain")
    assert_error(r, 415)
    r = request(api.http_port, "POST", "/api/status", raw_body=b"{}", token=token,
                content_type="application/json; charset=utf-8")
    assert r.status == 200, r


def test_500_storage_failure(server_factory):
    s = start_http_server(server_factory(start=False))
    _, token = make_token(s)
    assert request(s.http_port, "GET", "/api", token=token).status == 200
    # Take the token table away under the running server: reading the
    # tokens now fails in the storage layer.
    db = sqlite3.connect(os.path.join(s.dir, "parley.db"), timeout=10)
    db.execute("DROP TABLE server_kv")
    db.commit()
    db.close()
    r = request(s.http_port, "GET", "/api", token=token)
    assert_error(r, 500, contains="cannot read the API tokens")


def test_api_token_rule_restricts_addresses(server_factory):
    acl = ACL + "  api_token:\n    - allow: far\n"
    acl = acl.replace("acl:\n", "acl:\n  far:\n    ip: [10.0.0.0/8]\n", 1)
    s = start_http_server(server_factory(start=False), acl=acl)
    _, token = make_token(s)
    r = call(s, "status", token=token)
    assert_error(r, 403, contains="access rule 'api_token'")


# --- slow and huge requests -------------------------------------------------

def test_slow_and_huge_requests_do_not_block(api, clients):
    _, token = make_token(api)
    # A client that sends half a request line and stalls ...
    slow = socket.create_connection(("127.0.0.1", api.http_port))
    slow.sendall(b"POST /api/status HTTP/1.1\r\nHost: x\r\n")
    # ... and one announcing a body far over max_body_size.
    huge = socket.create_connection(("127.0.0.1", api.http_port))
    huge.sendall(b"POST /api/status HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Authorization: Bearer " + token.encode() + b"\r\n"
                 b"Content-Length: 100000000\r\n\r\n" + b"x" * 1000)
    huge.settimeout(10)
    status_line = huge.recv(200).split(b"\r\n")[0]
    assert b" 413 " in status_line, status_line
    huge.close()
    # Others are served meanwhile, over HTTP and XMPP.
    t0 = time.monotonic()
    r = request(api.http_port, "GET", "/api", token=token)
    assert r.status == 200 and time.monotonic() - t0 < 1.5, r
    c = clients(api.c2s_port)
    c.login("bob", BOB_PW)
    # The stalled request is dropped after request_timeout (2 s).
    slow.settimeout(10)
    t0 = time.monotonic()
    data = slow.recv(1000)
    waited = time.monotonic() - t0
    assert waited < 8, waited
    assert data == b"" or b" 408 " in data or b" 400 " in data, data
    slow.close()


# --- docs/http-api.md -------------------------------------------------------

def test_doc_examples_match_registry(api):
    """Every curl example in docs/http-api.md calls a command of the
    registry with exactly its argument names (required ones included), and
    the example replies match what the server answers."""
    import re
    _, token = make_token(api)
    listing = {c["name"]: c for c in
               request(api.http_port, "GET", "/api", token=token).json["commands"]}
    doc = open(os.path.join(os.path.dirname(__file__), "..", "..", "docs",
                            "http-api.md")).read()
    examples = re.findall(r"```\n(curl .*?)```", doc, re.S)
    assert len(examples) >= 6
    checked = 0
    for ex in examples:
        for cmd in re.split(r"\n(?=curl )", ex.strip()):
            m = re.search(r"/api/(\w+)", cmd)
            if not m:
                assert re.search(r"/api\s*$", cmd.splitlines()[0]), cmd
                continue
            name = m.group(1)
            assert name in listing, name
            d = re.search(r"-d '(\{.*?\})'", cmd)
            args = json.loads(d.group(1)) if d else {}
            spec = listing[name]["args"]
            assert set(args) <= {a["name"] for a in spec}, (name, args)
            assert {a["name"] for a in spec if not a["optional"]} <= set(args), (name, args)
            checked += 1
    assert checked >= 6
    # The documented error reply is the server's.
    r = call(api, "register", {"user": "a@b", "host": "localhost", "password": "x"}, token=token)
    assert r.raw.decode().strip() == ('{"error":"argument \'user\': invalid JID localpart '
                                      '\'a@b\'","argument":"user"}')


def test_shutdown_with_requests_in_flight(server_factory):
    """SIGTERM while Basic verifications (PBKDF2 on the storage worker) are
    still running: the server exits cleanly (status 0, no sanitizer
    report), the calls completing after the listener is gone are dropped."""
    import threading
    s = start_http_server(server_factory(start=False, auth={"scram_iterations": 300000}))
    results = []

    def one():
        try:
            results.append(call(s, "status", basic=("nobody@localhost", "x")).status)
        except OSError as e:
            results.append(e)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    problems = s.stop()
    for t in threads:
        t.join(30)
    assert not problems, problems
    assert len(results) == 4
