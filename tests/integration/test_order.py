"""RFC 6120 §10.1: stanzas from one entity to another are delivered in the
order sent, whatever happens to the recipient meanwhile.

The hard cases are a recipient who logs in while a burst is in flight.
Parts of the burst may be waiting for an account lookup, for the
recipient's archiving preferences (MAM), for its block list, for its ban
record, or for an offline-storage commit; the others may find the
recipient online, and the offline flush delivers stored rows while live
messages keep coming.  The router keeps a per-account gate (router.h) that
holds later stanzas back while any of these is pending, and offline
storage stores what arrives during its flush behind the rows.  Each test
sends numbered bursts that straddle the recipient's login and checks that
every message arrives exactly once, in order."""

import pytest

from conftest import PASSWORD, make_account
from harness.xmpp import NS_CLIENT, q

FULL = ("disco", "ping", "roster", "offline", "mam", "blocking", "carbons", "adhoc")


def body(m):
    return m.find(q(NS_CLIENT, "body")).text


def login(clients, s, user, presence=True):
    c = clients(s.c2s_port)
    c.login(user, PASSWORD, presence=presence)
    return c


def receive(c, n, timeout=10):
    return [body(c.expect_message(timeout=timeout)) for _ in range(n)]


def straddle(s, clients, sender, recipient, rounds, before, after, split_presence):
    """Sends 'before' messages, logs the recipient in (bind only when
    split_presence), sends 'after' more, then the initial presence if it
    was held back; returns nothing, asserts the order of each round."""
    for rnd in range(rounds):
        texts = ["r%d m%03d" % (rnd, i) for i in range(before + after)]
        for t in texts[:before]:
            sender.send_message(recipient + "@localhost", body=t, type_="chat")
        b = clients(s.c2s_port)
        b.negotiate_tls()
        b.authenticate(recipient, PASSWORD)
        b.bind_ok()
        if not split_presence:
            b.send_presence()
        for t in texts[before:]:
            sender.send_message(recipient + "@localhost", body=t, type_="chat")
        if split_presence:
            b.send_presence()
        got = receive(b, len(texts))
        assert got == texts, "round %d: %r" % (rnd, got)
        b.close()
        assert sender.ping().get("type") == "result"


@pytest.mark.parametrize("modules", [("disco", "ping", "offline", "mam"), FULL],
                         ids=["mam-offline", "full"])
def test_order_kept_while_recipient_binds(server_factory, clients, modules):
    """Messages before the bind wait for the account lookup and MAM's
    preference read; those after the bind find the preferences cached.
    The initial presence comes last, so everything goes through offline
    storage and its flush."""
    s = server_factory(modules=modules)
    alice, _ = make_account(s, prefix="a")
    bob, _ = make_account(s, prefix="b")
    a = login(clients, s, alice)
    straddle(s, clients, a, bob, rounds=12, before=20, after=20, split_presence=True)


@pytest.mark.parametrize("modules", [("disco", "ping", "offline", "mam"), FULL],
                         ids=["mam-offline", "full"])
def test_order_kept_while_flush_runs(server_factory, clients, modules):
    """The recipient becomes available mid-burst: the first part is stored
    (or still being stored), the rest arrives while the flush delivers the
    rows.  Live messages must not overtake the stored ones."""
    s = server_factory(modules=modules)
    alice, _ = make_account(s, prefix="a")
    bob, _ = make_account(s, prefix="b")
    a = login(clients, s, alice)
    straddle(s, clients, a, bob, rounds=12, before=25, after=25, split_presence=False)


def test_order_kept_from_two_senders(server_factory, clients):
    """Two senders interleave bursts around the recipient's login: each
    sender's messages arrive in that sender's order, none lost."""
    s = server_factory(modules=FULL)
    alice, _ = make_account(s, prefix="a")
    carol, _ = make_account(s, prefix="c")
    bob, _ = make_account(s, prefix="b")
    a = login(clients, s, alice)
    c = login(clients, s, carol)
    for rnd in range(6):
        sent = {"a": [], "c": []}
        for i in range(30):
            for tag, who in (("a", a), ("c", c)):
                t = "%s r%d m%02d" % (tag, rnd, i)
                sent[tag].append(t)
                who.send_message(bob + "@localhost", body=t, type_="chat")
            if i == 12:
                b = login(clients, s, bob)
        got = receive(b, 60)
        assert sorted(got) == sorted(sent["a"] + sent["c"])
        for tag in ("a", "c"):
            assert [t for t in got if t.startswith(tag + " ")] == sent[tag], rnd
        b.close()
        assert a.ping().get("type") == "result"
        assert c.ping().get("type") == "result"


def test_order_kept_behind_a_block_list_read(server_factory, clients):
    """A recipient with a non-empty block list that is not in memory: the
    first message waits for the list to be read, later ones must wait
    behind it (they used to be judged after it and could overtake)."""
    s = server_factory(modules=FULL)
    alice, _ = make_account(s, prefix="a")
    bob, _ = make_account(s, prefix="b")
    b = login(clients, s, bob)
    res = b.iq("set", "<block xmlns='urn:xmpp:blocking'><item jid='spam@example.org'/></block>")
    assert res.get("type") == "result"
    b.close()
    # A restart forgets every cached list.
    s.stop()
    s.start()
    a = login(clients, s, alice)
    texts = ["m%02d" % i for i in range(40)]
    for t in texts:
        a.send_message(bob + "@localhost", body=t, type_="chat")
    assert a.ping().get("type") == "result"
    b = login(clients, s, bob)
    assert receive(b, len(texts)) == texts
