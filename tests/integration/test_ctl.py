"""parleyctl against a running parleyd (ARCHITECTURE.md principle 7: one
command registry; exit codes 0 ok, 1 failed, 2 usage, 3 no server, 4 bad
config).  Account commands are checked by their effect on SASL logins."""

import os
import subprocess
import time

import pytest

from conftest import PASSWORD, make_account
from harness import server as srv
from harness.xmpp import RawClient, q, NS_SASL, unique, StreamClosed, Timeout


def sasl_plain_ok(server, user, password, host="localhost"):
    with RawClient(server.c2s_port) as c:
        c.negotiate_tls(to=host)
        el = c.auth_plain(user, password)
        return el.tag == q(NS_SASL, "success")


def test_register_check_list_change_unregister_roundtrip(server):
    user = unique("rt")
    cp = server.ctl("register", user, "localhost", "first-pw")
    assert cp.returncode == 0, cp.stderr

    cp = server.ctl("check_account", user, "localhost")
    assert cp.returncode == 0, cp.stderr

    cp = server.ctl("registered_users", "localhost")
    assert cp.returncode == 0, cp.stderr
    assert user in cp.stdout.split(), cp.stdout
    assert sasl_plain_ok(server, user, "first-pw")

    cp = server.ctl("change_password", user, "localhost", "second-pw")
    assert cp.returncode == 0, cp.stderr
    assert sasl_plain_ok(server, user, "second-pw")
    assert not sasl_plain_ok(server, user, "first-pw")

    cp = server.ctl("unregister", user, "localhost")
    assert cp.returncode == 0, cp.stderr
    cp = server.ctl("check_account", user, "localhost")
    assert cp.returncode == 1, (cp.returncode, cp.stdout, cp.stderr)
    cp = server.ctl("registered_users", "localhost")
    assert user not in cp.stdout.split()
    assert not sasl_plain_ok(server, user, "second-pw")


def test_registered_users_is_per_host(server):
    user = unique("ph")
    server.register(user, PASSWORD, host="example.test")
    cp = server.ctl("registered_users", "example.test")
    assert cp.returncode == 0 and user in cp.stdout.split(), cp
    cp = server.ctl("registered_users", "localhost")
    assert cp.returncode == 0 and user not in cp.stdout.split(), cp
    assert sasl_plain_ok(server, user, PASSWORD, host="example.test")


def test_register_existing_user_fails_already_exists(server):
    user, _ = make_account(server)
    cp = server.ctl("register", user, "localhost", "other")
    assert cp.returncode == 1, (cp.returncode, cp.stderr)
    assert "already exists" in cp.stderr, cp.stderr
    # The original password still works.
    assert sasl_plain_ok(server, user, PASSWORD)


def test_register_unknown_host_names_the_host(server):
    cp = server.ctl("register", unique(), "nohost.invalid", "pw")
    assert cp.returncode == 1, (cp.returncode, cp.stderr)
    assert "nohost.invalid" in cp.stderr, cp.stderr


def test_register_bad_localpart_rejected(server):
    """RFC 7622 §3.3: a space is not allowed in a localpart."""
    cp = server.ctl("register", "a b", "localhost", "pw")
    assert cp.returncode != 0, cp
    cp = server.ctl("check_account", "a b", "localhost")
    assert cp.returncode != 0


def test_register_localpart_is_prepared(server):
    """RFC 7622 §3.3 (UsernameCaseMapped): 'MiXeD' and 'mixed' are the
    same account."""
    base = unique("cm")
    cp = server.ctl("register", base.upper(), "localhost", PASSWORD)
    assert cp.returncode == 0, cp.stderr
    cp = server.ctl("check_account", base, "localhost")
    assert cp.returncode == 0, cp.stderr
    cp = server.ctl("register", base, "localhost", PASSWORD)
    assert cp.returncode == 1 and "already exists" in cp.stderr


def test_unregister_unknown_user_fails(server):
    cp = server.ctl("unregister", unique("nobody"), "localhost")
    assert cp.returncode == 1, cp


def test_usage_errors_exit_2(server):
    cp = server.ctl("register", "onlyuser")
    assert cp.returncode == 2, cp
    cp = server.ctl()
    assert cp.returncode == 2, cp


def test_unknown_command_fails(server):
    cp = server.ctl("no_such_command")
    assert cp.returncode in (1, 2), cp
    assert "no_such_command" in cp.stderr


def test_help_lists_commands(server):
    cp = server.ctl("help")
    assert cp.returncode == 0, cp.stderr
    out = cp.stdout + cp.stderr
    for name in ("register", "unregister", "change_password", "check_account",
                 "registered_users", "connected_users", "kick_session", "status",
                 "reload", "stop"):
        assert name in out, name
    cp = server.ctl("help", "register")
    assert cp.returncode == 0, cp.stderr
    assert "register" in cp.stdout + cp.stderr


def test_status_ok(server):
    cp = server.ctl("status")
    assert cp.returncode == 0, cp.stderr


def test_bad_config_exit_4(server, tmp_path):
    cp = server.ctl("status", config=str(tmp_path / "missing.yml"))
    assert cp.returncode == 4, cp
    bad = tmp_path / "bad.yml"
    bad.write_text("hosts: [localhost\n")
    cp = server.ctl("status", config=str(bad))
    assert cp.returncode == 4, cp


def test_batch_registers_200_users(server):
    prefix = unique("b")
    users = ["%s_%03d" % (prefix, i) for i in range(200)]
    script = "".join("register %s localhost pw-%s\n" % (u, u) for u in users)
    t0 = time.monotonic()
    cp = server.ctl("--batch", input=script, timeout=120)
    assert cp.returncode == 0, (cp.returncode, cp.stderr[-2000:])
    cp = server.ctl("registered_users", "localhost")
    listed = set(cp.stdout.split())
    missing = [u for u in users if u not in listed]
    assert not missing, "%d users missing, e.g. %s" % (len(missing), missing[:5])
    assert sasl_plain_ok(server, users[0], "pw-" + users[0])
    assert sasl_plain_ok(server, users[-1], "pw-" + users[-1])
    assert time.monotonic() - t0 < 90


def test_batch_reports_failure(server):
    user, _ = make_account(server)
    new = unique("bf")
    cp = server.ctl("--batch", input="register %s localhost x\nregister %s localhost y\n" % (user, new))
    assert cp.returncode != 0, cp
    # Where a batch reports per-line errors (stdout or stderr) is not
    # specified; the message must be there.
    assert "already exists" in cp.stdout + cp.stderr, cp
    # The other line was still executed.
    assert server.ctl("check_account", new, "localhost").returncode == 0


def test_connected_users_and_kick_session(server, logged_in):
    c = logged_in(resource="kickme")
    cp = server.ctl("connected_users")
    assert cp.returncode == 0, cp.stderr
    assert c.jid in cp.stdout.split(), (c.jid, cp.stdout)
    cp = server.ctl("kick_session", c.jid, "bye bye")
    assert cp.returncode == 0, cp.stderr
    # The session is closed: a stream error (unspecified condition) and close.
    c.expect_stream_error(timeout=5)
    cp = server.ctl("connected_users")
    assert c.jid not in cp.stdout.split()


def test_kick_unknown_session_fails(server):
    cp = server.ctl("kick_session", "nobody@localhost/none", "x")
    assert cp.returncode == 1, cp


def test_stopped_server_exit_3(server_factory):
    s = server_factory()
    assert s.ctl("status").returncode == 0
    s.check_stop()
    cp = s.ctl("status")
    assert cp.returncode == 3, cp
    cp = s.ctl("register", "x", "localhost", "y")
    assert cp.returncode == 3, cp


def test_stop_command_stops_server_cleanly(server_factory):
    s = server_factory()
    cp = s.ctl("stop")
    assert cp.returncode == 0, cp.stderr
    s.proc.wait(20)
    assert s.proc.returncode == 0, s.log_tail()


def test_change_password_unknown_user_fails(server):
    cp = server.ctl("change_password", unique("nobody"), "localhost", "x")
    assert cp.returncode == 1, cp


def test_registered_users_unknown_host_fails(server):
    cp = server.ctl("registered_users", "nohost.invalid")
    assert cp.returncode == 1, cp
    assert "nohost.invalid" in cp.stderr
