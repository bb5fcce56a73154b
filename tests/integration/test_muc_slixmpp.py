"""XEP-0045 with a real client library: three slixmpp clients (plugin
xep_0045) join one room, exchange groupchat messages and see each other's
presence; the owner kicks one of them."""

import asyncio

import pytest

slixmpp = pytest.importorskip("slixmpp")

from conftest import make_account
from harness import server as srv
from test_slixmpp import Client, run, disconnect

MODULES = srv.ALL_MODULES + ("muc",)
ROOM = "slix@conference.localhost"


@pytest.fixture(scope="module")
def server(request, cert):
    s = srv.ParleyServer("test_muc_slix", cert, modules=MODULES)
    s.start()
    yield s
    s.check_stop()


async def joined(server, nick):
    user, _ = make_account(server)
    c = Client("%s@localhost/r" % user, "s3cret-pass", "SCRAM-SHA-1")
    c.register_plugin("xep_0045")
    c.groupchat = asyncio.Queue()
    c.add_event_handler("groupchat_message", lambda m: c.groupchat.put_nowait(m))
    c.connect(("127.0.0.1", server.c2s_port))
    await c.started
    await c.plugin["xep_0045"].join_muc_wait(ROOM, nick, maxstanzas=0)
    return c


def test_three_clients_chat(server):
    async def scenario():
        a = await joined(server, "alice")
        # The room is locked until its owner submits the (default) form.
        form = await a.plugin["xep_0045"].get_room_config(ROOM)
        await a.plugin["xep_0045"].set_room_config(ROOM, form)
        b = await joined(server, "bob")
        c = await joined(server, "carol")
        assert set(a.plugin["xep_0045"].get_roster(ROOM)) >= {"alice", "bob", "carol"}
        b.send_message(mto=ROOM, mbody="hello all", mtype="groupchat")
        for cl in (a, b, c):
            while True:
                m = await cl.groupchat.get()
                if m["body"] == "hello all":
                    assert m["from"].resource == "bob"
                    break
        await a.plugin["xep_0045"].set_role(ROOM, "carol", "none", reason="bye")
        await asyncio.sleep(0.3)
        assert "carol" not in a.plugin["xep_0045"].get_roster(ROOM)
        await disconnect(a, b, c)
    run(scenario())
