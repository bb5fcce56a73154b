"""Access control from the configuration (issue 5, src/core/acl.h): 'acl'
and 'access_rules' are validated at load with file:line errors (start-up,
--check-config and reload), and a running server applies them: by user,
by client address, first match wins, rules are re-read on reload."""

import base64
import json
import subprocess
import urllib.error
import urllib.request

import pytest

from harness import server as srv

PW = "acl-pass-1"


def check_config(path):
    return subprocess.run([srv.binary("parleyd"), "--check-config", "-c", path],
                          capture_output=True, text=True, timeout=30)


def line_of(text, needle):
    for i, l in enumerate(text.splitlines(), 1):
        if needle in l:
            return i
    raise AssertionError(needle)


@pytest.mark.parametrize("extra,needle,message", [
    ("acl:\n  admins:\n    user: [admin@localhost]\naccess_rules:\n  api:\n    - allow: admin\n",
     "- allow: admin", "option 'access_rules.api[0].allow': unknown acl 'admin'"),
    ("acl:\n  lan:\n    ip: [10.0.0.0/33]\n",
     "10.0.0.0/33", "option 'acl.lan.ip[0]': '10.0.0.0/33': prefix length must be 0..32 for IPv4"),
    ("acl:\n  lan:\n    ip: [\"fd00::1/8\"]\n",
     "fd00::1/8", "host bits are set after the prefix"),
    ("acl:\n  lan:\n    ip: [localhost]\n",
     "ip: [localhost]", "expected an IPv4 or IPv6 address or CIDR range"),
    ("acl:\n  x:\n    user: [\"a@b/c\"]\n",
     "a@b/c", "is not a bare JID or a JID localpart"),
    ("acl:\n  all:\n    user: [a]\n",
     "  all:", "'all' is built in"),
    ("access_rules:\n  api:\n    - permit: all\n",
     "permit", "expected 'allow' or 'deny'"),
])
def test_load_errors_name_file_and_line(server_factory, extra, needle, message):
    s = server_factory(start=False)
    text = s.config_text(extra=extra)
    s.write_config(text)
    cp = check_config(s.config)
    assert cp.returncode != 0
    assert "parley.yml:%d:" % line_of(text, needle) in cp.stderr, cp.stderr
    assert message in cp.stderr, cp.stderr
    assert not srv.sanitizer_lines(cp.stderr)


def test_valid_sections_check(server_factory):
    s = server_factory(start=False)
    s.write_config(s.config_text(extra=(
        "acl:\n  a:\n    user: [admin@localhost, root]\n    server: [example.test]\n"
        "    ip: [127.0.0.0/8, \"::1\", \"2001:db8::/32\"]\n"
        "access_rules:\n  api:\n    - deny: none\n    - allow: a\n  empty: []\n")))
    cp = check_config(s.config)
    assert cp.returncode == 0, cp.stderr


def http_server(server_factory, acl):
    s = server_factory(start=False)
    s.http_port = srv.free_port()
    text = s.config_text(extra=acl).replace(
        "listen:\n", "listen:\n  - {module: http, ip: 127.0.0.1, port: %d}\n" % s.http_port, 1)
    s.write_config(text)
    s.start()
    s.register("admin", PW)
    s.register("bob", PW)
    s.register("carol", PW, host="example.test")
    return s


def status_as(s, jid):
    req = urllib.request.Request("http://127.0.0.1:%d/api/status" % s.http_port, data=b"{}",
                                 method="POST", headers={
                                     "Content-Type": "application/json",
                                     "Authorization": "Basic " + base64.b64encode(
                                         ("%s:%s" % (jid, PW)).encode()).decode()})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status
    except urllib.error.HTTPError as e:
        json.loads(e.read().decode())
        return e.code


def test_rules_by_user_server_and_address(server_factory):
    acl = ("acl:\n"
           "  admins:\n    user: [admin@localhost]\n"
           "  other_host:\n    server: [example.test]\n"
           "  loopback:\n    ip: [127.0.0.0/8]\n"
           "  bob:\n    user: [bob]\n"
           "access_rules:\n"
           "  api:\n"
           "    - allow: admins\n"        # first match wins: admin before the deny
           "    - deny: bob\n"
           "    - allow: other_host\n")
    s = http_server(server_factory, acl)
    assert status_as(s, "admin@localhost") == 200
    assert status_as(s, "bob@localhost") == 403
    assert status_as(s, "carol@example.test") == 200

    # Reload: from now on the address decides, after the deny for bob.
    acl2 = acl.replace("    - allow: other_host\n", "    - allow: loopback\n")
    text = s.config_text(extra=acl2).replace(
        "listen:\n", "listen:\n  - {module: http, ip: 127.0.0.1, port: %d}\n" % s.http_port, 1)
    s.write_config(text)
    cp = s.ctl("reload")
    assert cp.returncode == 0, cp.stderr + cp.stdout
    assert status_as(s, "bob@localhost") == 403       # still denied first
    assert status_as(s, "carol@example.test") == 200  # now by address

    # An invalid acl on reload keeps the running rules.
    s.write_config(text.replace("127.0.0.0/8", "127.0.0.1/8"))
    cp = s.ctl("reload")
    assert cp.returncode != 0
    assert "host bits are set" in cp.stderr + cp.stdout
    assert status_as(s, "carol@example.test") == 200


def test_no_api_rule_denies_basic(server_factory):
    s = http_server(server_factory, "")
    assert status_as(s, "admin@localhost") == 403
