"""A stopping server keeps the stanzas it accepted (docs/message-delivery.md:
delivered, stored or bounced, never dropped; ARCHITECTURE.md principle 5).

Fix under test: a message that waits for an asynchronous read when SIGTERM
arrives (the recipient's block list, XEP-0191, in modules/blocking.c; the
recipient's ban record in the ban cache, admin/commands_ban.c) used to be
released without being routed, because the read completed after
srv->stopping was set.  The read completes while the server drains storage
(server.c drain()), so the message must reach the offline store and be
delivered at the recipient's next login (XEP-0160).

Storage is made slow without a test knob: a parleyctl registration with
many PBKDF2 iterations occupies the storage worker (store_work()), and
reads submitted after it wait for it to finish."""

import subprocess
import time

import pytest

from conftest import PASSWORD, make_account
from harness.server import binary
from harness.xmpp import RawClient

# Long enough that the message's reads are still queued behind the
# derivation when SIGTERM arrives (about 1.5 s here), short enough that it
# finishes within the server's drain bound (STOP_DRAIN_MS, 5 s).
SLOW_ITERATIONS = 300000


def occupy_storage(s):
    """Starts a registration whose key derivation keeps the storage worker
    busy; returns the parleyctl process."""
    s.auth["scram_iterations"] = SLOW_ITERATIONS
    s.write_config()
    cp = s.ctl("reload")
    assert cp.returncode == 0, cp.stderr
    return subprocess.Popen(
        [binary("parleyctl"), "-c", s.config, "register", "slowpoke", "localhost",
         "secret"], cwd=s.dir, env=s.env(), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)


@pytest.mark.parametrize("module", ["blocking", "adhoc"])
def test_stop_keeps_message_waiting_for_a_read(server_factory, module):
    s = server_factory(modules=("disco", "ping", "offline", module))
    ua, _ = make_account(s, prefix="rcpt")
    ub, _ = make_account(s, prefix="sndr")
    b = RawClient(s.c2s_port)
    b.login(ub, PASSWORD, presence=True)
    slow = occupy_storage(s)
    try:
        time.sleep(0.3)                 # the derivation has started
        b.send_message("%s@localhost" % ua, body="sent before the stop")
        time.sleep(0.3)                 # routed: waiting for a read
        s.check_stop()
    finally:
        b.close()
        slow.wait(timeout=30)
    assert "stopping" in s.log_text()

    s.auth["scram_iterations"] = 4096
    s.write_config()
    s.start()
    a = RawClient(s.c2s_port)
    try:
        a.login(ua, PASSWORD, presence=True)
        m = a.expect_message(timeout=5)
        assert m.findtext("{jabber:client}body") == "sent before the stop"
    finally:
        a.close()
