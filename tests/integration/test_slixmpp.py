"""Interoperability with a real client library (slixmpp): login with each
SASL mechanism over STARTTLS and direct TLS, message exchange, XEP-0199.

Each test runs its own asyncio loop with a hard deadline."""

import pytest

slixmpp = pytest.importorskip("slixmpp")

from conftest import make_account
# Client, run and disconnect are also imported from here by other tests.
from harness.slix import Client, disconnect, run  # noqa: F401
from harness import slix


async def connected(server, user, mech, resource, direct=False):
    return await slix.connected(server, "%s@localhost/%s" % (user, resource),
                                sasl_mech=mech, direct=direct, plugins=("xep_0199",))


@pytest.mark.parametrize("mech", ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_slixmpp_login_and_message(server, mech):
    ua, _ = make_account(server)
    ub, _ = make_account(server)

    async def scenario():
        a = await connected(server, ua, mech, "sa")
        b = await connected(server, ub, mech, "sb")
        assert str(a.boundjid) == "%s@localhost/sa" % ua
        a.send_message(mto=b.boundjid, mbody="hello from slixmpp", mtype="chat")
        while True:
            m = await b.messages.get()
            if m["body"] == "hello from slixmpp":
                break
        assert m["from"] == a.boundjid
        rtt = await a.plugin["xep_0199"].ping(jid="localhost", timeout=5)
        assert rtt is not None
        await disconnect(a, b)

    run(scenario())


def test_slixmpp_direct_tls(server):
    user, _ = make_account(server)

    async def scenario():
        a = await connected(server, user, "SCRAM-SHA-256", "d", direct=True)
        await a.plugin["xep_0199"].ping(jid="localhost", timeout=5)
        await disconnect(a)

    run(scenario())


def test_slixmpp_wrong_password_fails(server):
    user, _ = make_account(server)

    async def scenario():
        c = Client("%s@localhost/x" % user, "not-the-password", "SCRAM-SHA-256")
        slix.connect(c, server)
        with pytest.raises(AssertionError):
            await c.started
        await disconnect(c)

    run(scenario())


@pytest.mark.parametrize("mech", ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS"])
def test_slixmpp_scram_plus(mech):
    pytest.skip("slixmpp 1.8.3 only implements the tls-unique channel binding, "
                "which does not exist in TLS 1.3 and which Parley does not offer; "
                "-PLUS is covered by test_sasl.py with tls-server-end-point and tls-exporter")
