"""Configuration checking and reload (ARCHITECTURE.md "Configuration":
unknown or ill-typed options are errors at start-up and on reload, with
file:line; principle 8: admin mistakes name the file, line and option)."""

import os
import subprocess

import pytest

from conftest import PASSWORD, make_account
from harness import server as srv
from harness.xmpp import RawClient


def check_config(path):
    return subprocess.run([srv.binary("parleyd"), "--check-config", "-c", path],
                          capture_output=True, text=True, timeout=30)


def line_of(text, needle):
    for i, l in enumerate(text.splitlines(), 1):
        if needle in l:
            return i
    raise AssertionError(needle)


@pytest.fixture
def cfgserver(server_factory):
    """A configured but not started server (for --check-config)."""
    return server_factory(start=False)


def test_check_config_valid(cfgserver):
    cp = check_config(cfgserver.config)
    assert cp.returncode == 0, cp.stderr
    assert not srv.sanitizer_lines(cp.stderr)


def test_check_config_unknown_top_level_option_names_line(cfgserver):
    text = cfgserver.config_text(extra="bogus_option: 12\n")
    cfgserver.write_config(text)
    line = line_of(text, "bogus_option")
    cp = check_config(cfgserver.config)
    assert cp.returncode != 0
    assert "parley.yml:%d:" % line in cp.stderr, cp.stderr
    assert "bogus_option" in cp.stderr
    assert not srv.sanitizer_lines(cp.stderr)


def test_check_config_unknown_nested_option_names_line(cfgserver):
    # limits as a block mapping with an unknown key on its own line.
    lines = cfgserver.config_text().splitlines()
    out = []
    for l in lines:
        if l.startswith("limits:"):
            out.append("limits:")
            out.append("  max_stanza_size: 65536")
            out.append("  frobnicate: 3")
        else:
            out.append(l)
    text = "\n".join(out) + "\n"
    cfgserver.write_config(text)
    line = line_of(text, "frobnicate")
    cp = check_config(cfgserver.config)
    assert cp.returncode != 0
    assert "parley.yml:%d:" % line in cp.stderr, cp.stderr
    assert "frobnicate" in cp.stderr


def test_check_config_out_of_range_value(cfgserver):
    text = cfgserver.config_text(limits=dict(cfgserver.limits, max_stanza_size=12))
    cfgserver.write_config(text)
    cp = check_config(cfgserver.config)
    assert cp.returncode != 0
    assert "parley.yml:%d:" % line_of(text, "max_stanza_size") in cp.stderr, cp.stderr
    assert "max_stanza_size" in cp.stderr


def test_start_refused_on_bad_config(cfgserver):
    cfgserver.write_config(cfgserver.config_text(extra="bogus_option: 1\n"))
    cp = subprocess.run([srv.binary("parleyd"), "-c", cfgserver.config],
                        capture_output=True, text=True, timeout=30)
    assert cp.returncode != 0
    assert "bogus_option" in cp.stderr


def test_reload_broken_config_keeps_serving(server_factory, clients):
    s = server_factory()
    user, pw = make_account(s)
    c = clients(s.c2s_port)
    c.login(user, pw, resource="stay")
    good = s.config_text()
    broken = good + "bogus_option: 1\n"
    s.write_config(broken)
    cp = s.ctl("reload")
    assert cp.returncode != 0, cp
    assert "bogus_option" in cp.stderr or "parley.yml:%d:" % line_of(broken, "bogus_option") in cp.stderr, cp.stderr
    # Existing session unaffected, new logins work.
    assert c.ping().get("type") == "result"
    c2 = clients(s.c2s_port)
    c2.login(user, pw, resource="new")
    assert c2.ping().get("type") == "result"
    assert s.running()
    s.write_config(good)


def test_reload_syntax_error_keeps_serving(server_factory, clients):
    s = server_factory()
    user, pw = make_account(s)
    c = clients(s.c2s_port)
    c.login(user, pw)
    good = s.config_text()
    s.write_config(good + "hosts: [unterminated\n")
    cp = s.ctl("reload")
    assert cp.returncode != 0, cp
    assert "parley.yml" in cp.stderr, cp.stderr
    assert c.ping().get("type") == "result"
    s.write_config(good)


def test_reload_valid_changed_config(server_factory, clients):
    s = server_factory()
    user, pw = make_account(s)
    c = clients(s.c2s_port)
    c.login(user, pw)
    s.write_config(s.config_text(loglevel="info"))
    cp = s.ctl("reload")
    assert cp.returncode == 0, cp.stderr
    assert c.ping().get("type") == "result"
    c2 = clients(s.c2s_port)
    c2.login(user, pw, resource="after-reload")
    assert c2.ping().get("type") == "result"


def test_reload_keeps_tls_of_earlier_connections(server_factory, clients):
    """A reload replaces the certificate set; connections made before it
    keep theirs.  One whose TLS handshake starts only after the reload
    (its SSL was made at accept) still gets SNI answered, and one that
    authenticates with SCRAM-*-PLUS after the reload still gets the
    tls-server-end-point binding of the certificate it was served.  Both
    used memory the reload had freed (the harness fails the test on the
    sanitizer's report)."""
    from harness import sasl as saslmod
    from harness.xmpp import NS_SASL, client_tls_context, q, tostr
    import socket
    s = server_factory()
    user, pw = make_account(s)
    early = clients(s.c2s_port)
    early.negotiate_tls()
    raw = socket.create_connection(("127.0.0.1", s.tls_port), timeout=10)
    cp = s.ctl("reload")
    assert cp.returncode == 0, cp.stderr
    # The handshake of a connection accepted before the reload.
    late = clients(s.tls_port)
    late.sock = client_tls_context().wrap_socket(raw, server_hostname="localhost")
    late._reset_parser()
    assert late.login(user, pw, tls=True, resource="late").endswith("/late")
    assert late.ping().get("type") == "result"
    # Channel binding of a TLS session established before the reload.
    el = early.auth_scram("SCRAM-SHA-256-PLUS", user, pw, cb_type="tls-server-end-point")
    assert el.tag == q(NS_SASL, "success"), tostr(el)


def served_as_before(s, clients, user, pw, resource):
    """The running host and port still serve; the added host does not."""
    c = clients(s.c2s_port)
    c.login(user, pw, resource=resource)
    assert c.ping().get("type") == "result"
    other = clients(s.c2s_port).connect()
    other.open_stream(to="added.example")
    cond, _ = other.expect_stream_error()
    assert cond == "host-unknown", cond


def test_reload_keeps_restart_only_options(server_factory, clients):
    """Options documented "Reload: restart" (configuration.md) keep their
    running values on reload, with a warning naming each: a host added to
    'hosts' is not served until a restart (a stream to it gets
    <host-unknown/>) while the old one still is, and the listener port
    stays.  A reload that fails afterwards (a broken certificate file)
    leaves every running value as it was."""
    s = server_factory()
    user, pw = make_account(s)
    s.write_config(s.config_text(hosts=["localhost", "added.example"],
                                 c2s_port=s.c2s_port + 1, loglevel="info"))
    cp = s.ctl("reload")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    log = s.log_text()
    assert "option 'hosts' changed; it needs a restart" in log, log[-2000:]
    assert "'listen' changed" in log, log[-2000:]
    served_as_before(s, clients, user, pw, "still")
    # A failing reload restores the running values it had swapped.
    with open(os.path.join(s.dir, "broken.pem"), "w") as f:
        f.write("not a certificate\n")
    s.write_config(s.config_text(hosts=["localhost", "added.example"],
                                 certfile="broken.pem"))
    cp = s.ctl("reload")
    assert cp.returncode != 0
    served_as_before(s, clients, user, pw, "after-failure")
