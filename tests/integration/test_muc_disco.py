"""XEP-0045 §6.1: the server's disco#items (XEP-0030 §4) lists the MUC
service conference.<host> when the muc module is enabled, and not when it
is not; an account's items stay empty."""

import pytest

from conftest import make_account
from harness import server as srv
from harness.xmpp import q, tostr

ITEMS = "http://jabber.org/protocol/disco#items"
INFO = "http://jabber.org/protocol/disco#info"


def items_of(c, to):
    r = c.iq("get", "<query xmlns='%s'/>" % ITEMS, to=to)
    assert r.get("type") == "result", tostr(r)
    return [i.get("jid") for i in r.find(q(ITEMS, "query")).findall(q(ITEMS, "item"))]


@pytest.mark.parametrize("with_muc", [True, False])
def test_server_items_list_muc_service(cert, clients, with_muc):
    mods = srv.ALL_MODULES + (("muc",) if with_muc else ())
    s = srv.ParleyServer("test_muc_disco_%d" % with_muc, cert, modules=mods)
    s.start()
    try:
        u, p = make_account(s)
        c = clients(s.c2s_port)
        c.login(u, p, resource="r")
        got = items_of(c, "localhost")
        assert got == (["conference.localhost"] if with_muc else []), got
        if with_muc:
            # The listed item answers disco#info as a conference service.
            r = c.iq("get", "<query xmlns='%s'/>" % INFO, to="conference.localhost")
            ident = r.find(q(INFO, "query")).find(q(INFO, "identity"))
            assert ident.get("category") == "conference" and ident.get("type") == "text"
        assert items_of(c, c.jid.split("/")[0]) == []
        c.close()
    finally:
        s.check_stop()
