"""End-to-end IM features between real clients (issue 3: "All of the above
works between real clients"): slixmpp 1.8.3 clients use Parley the way
Conversations/Gajim/Dino do, through slixmpp's own plugins, against one
parleyd with every module (plus muc; register with allow_new: true).

  RFC 6121 §3, §2.5, §2.6  befriending with the roster/presence API,
                           presence, removal, roster versioning
  XEP-0191                 block, blocklist, bounced message, unblock
  XEP-0049, XEP-0054,      private storage, vcard-temp, last activity
  XEP-0012
  XEP-0077                 in-band registration before login
  XEP-0163/0084/0115       avatar metadata notification filtered by caps
  XEP-0402 (raw XEP-0060)  bookmarks to the owner's other resource
  XEP-0160, XEP-0313       offline delivery on login, archive query
  XEP-0280                 carbons between two resources
  XEP-0198                 enable, ack, resume after a dropped socket
  XEP-0045                 join, groupchat, subject

Every scenario runs under run()'s deadline and every wait has a timeout.
"""

import asyncio
import hashlib
import xml.etree.ElementTree as ET

import pytest

slixmpp = pytest.importorskip("slixmpp")

from conftest import make_account
from harness import server as srv
from harness.slix import Client, connect, connected, disconnect, run, wait_for
from harness.xmpp import unique

MODULES = srv.ALL_MODULES + ("muc",)
NS_AVATAR_META = "urn:xmpp:avatar:metadata"
NS_BOOKMARKS2 = "urn:xmpp:bookmarks:1"


@pytest.fixture(scope="module")
def server(request, cert):
    s = srv.ParleyServer("test_slixmpp_im", cert, modules=MODULES)
    # The harness writes every module as "name: {}"; the register module's
    # options go in by editing the rendered text (as test_register does).
    s.write_config(s.config_text().replace("register: {}", "register: {allow_new: true}"))
    s.start()
    yield s
    s.check_stop()


def jid(user, resource=None):
    return "%s@localhost%s" % (user, "/" + resource if resource else "")


def two_users(server):
    return make_account(server, prefix="sa")[0], make_account(server, prefix="sb")[0]


def sub_state(c, other):
    return c.client_roster[other]["subscription"] if c.client_roster.has_jid(other) else None


async def befriend(a, b):
    """a asks b for a subscription through slixmpp's API; b's client approves
    and asks back (auto_authorize/auto_subscribe, slixmpp's defaults), a's
    approves: both end with 'both' (RFC 6121 §3.1)."""
    bj, aj = b.boundjid.bare, a.boundjid.bare
    a.send_presence_subscription(pto=bj)
    await wait_for(lambda: sub_state(a, bj) == "both" and sub_state(b, aj) == "both",
                   timeout=5, what="mutual subscription")


# --- RFC 6121: roster, subscriptions, presence, versioning -----------------

def test_roster_befriend_presence_remove_and_versioning(server):
    ua, ub = two_users(server)

    async def scenario():
        a = await connected(server, jid(ua, "ra"), roster=True)
        b = await connected(server, jid(ub, "rb"), roster=True)
        assert "rosterver" in a.features
        await befriend(a, b)
        # §4.2/§4.4: each sees the other's available resource.
        await wait_for(lambda: "rb" in a.client_roster[jid(ub)].resources
                       and "ra" in b.client_roster[jid(ua)].resources,
                       what="each other's presence")
        b.send_presence(pstatus="at lunch", pshow="away")
        await wait_for(lambda: a.client_roster[jid(ub)].resources.get("rb", {})
                       .get("status") == "at lunch", what="b's new status")
        assert a.client_roster[jid(ub)].resources["rb"]["show"] == "away"
        ver = a.client_roster.version
        assert ver, "§2.6.3: pushes and results carry 'ver'"
        await disconnect(a)

        # §2.6.3: a client whose cached version is current gets an empty
        # result; slixmpp sends its cached 'ver' itself.
        a = Client(jid(ua, "ra2"))
        connect(a, server)
        await asyncio.wait_for(asyncio.shield(a.started), 10)
        a.client_roster.version = ver
        r = await a.get_roster()
        assert len(r["roster"]["items"]) == 0, r
        # An unknown (stale) version gets the whole roster or pushes.
        a.client_roster.version = "stale-" + ver
        r = await a.get_roster()
        await wait_for(lambda: sub_state(a, jid(ub)) == "both", what="roster after stale ver")

        # §2.5.2: removing the item cancels both subscriptions; b keeps an
        # item with subscription 'none'.
        a.del_roster_item(jid(ub))
        await wait_for(lambda: not a.client_roster.has_jid(jid(ub))
                       or sub_state(a, jid(ub)) == "remove",
                       what="a's item removed")
        await wait_for(lambda: sub_state(b, jid(ua)) == "none",
                       what="b's item back to none")
        # The server's roster agrees (a plain get without 'ver').
        iq = a.Iq(stype="get")
        iq.enable("roster")
        r = await iq.send(timeout=5)
        assert jid(ub) not in {str(k) for k in r["roster"]["items"]}
        assert a.client_roster.version != ver, "removal changed the version"
        await disconnect(a, b)

    run(scenario())


# --- XEP-0191 blocking --------------------------------------------------------

def test_blocking_block_list_bounce_unblock(server):
    ua, ub = two_users(server)

    async def scenario():
        a = await connected(server, jid(ua, "r"), plugins=("xep_0191",))
        b = await connected(server, jid(ub, "r"))
        errors = asyncio.Queue()
        b.add_event_handler("message_error", errors.put_nowait)
        pushes = asyncio.Queue()
        a.add_event_handler("blocked", pushes.put_nowait)
        a.add_event_handler("unblocked", pushes.put_nowait)
        # Clients fetch the list first: pushes go to the resources that did
        # (XEP-0191 §3.2, §3.3).
        r = await a.plugin["xep_0191"].get_blocked(timeout=5)
        assert r["blocklist"]["items"] == set()

        await a.plugin["xep_0191"].block(jid(ub), timeout=5)
        push = await asyncio.wait_for(pushes.get(), 5)       # §3.3 push
        assert push["block"]["items"] == {slixmpp.JID(jid(ub))}
        r = await a.plugin["xep_0191"].get_blocked(timeout=5)
        assert r["blocklist"]["items"] == {slixmpp.JID(jid(ub))}

        # §3.5: a message from the blocked JID is not delivered; the sender
        # gets <service-unavailable/>.
        b.send_message(mto=jid(ua, "r"), mbody="you there?", mtype="chat")
        err = await asyncio.wait_for(errors.get(), 5)
        assert err["error"]["condition"] == "service-unavailable"
        assert err["error"]["type"] == "cancel"
        with pytest.raises(asyncio.TimeoutError):
            await a.next_message(lambda m: m["body"] == "you there?", timeout=0.7)

        await a.plugin["xep_0191"].unblock(jid(ub), timeout=5)
        push = await asyncio.wait_for(pushes.get(), 5)
        assert push["unblock"]["items"] == {slixmpp.JID(jid(ub))}
        r = await a.plugin["xep_0191"].get_blocked(timeout=5)
        assert r["blocklist"]["items"] == set()
        b.send_message(mto=jid(ua, "r"), mbody="and now?", mtype="chat")
        m = await a.next_message(lambda m: m["body"] == "and now?")
        assert m["from"] == b.boundjid
        await disconnect(a, b)

    run(scenario())


# --- XEP-0049, XEP-0054, XEP-0012 --------------------------------------------

def test_private_storage_vcard_and_last_activity(server):
    ua, ub = two_users(server)

    async def scenario():
        plugins = ("xep_0049", "xep_0054", "xep_0012")
        a = await connected(server, jid(ua, "r"), plugins=plugins, roster=True)
        b = await connected(server, jid(ub, "r"), plugins=plugins, roster=True)

        # XEP-0049: store a private element, read it back from another
        # connection of the same account.
        el = ET.fromstring("<prefs xmlns='urn:example:slix'><color>teal</color></prefs>")
        from slixmpp.xmlstream import ElementBase, register_stanza_plugin

        class Prefs(ElementBase):
            name = "prefs"
            namespace = "urn:example:slix"
            plugin_attrib = "prefs"
            interfaces = set()

        from slixmpp.plugins.xep_0049.stanza import PrivateXML
        register_stanza_plugin(PrivateXML, Prefs)
        await a.plugin["xep_0049"].store(Prefs(xml=el), timeout=5)
        a2 = await connected(server, jid(ua, "r2"), plugins=plugins)
        r = await a2.plugin["xep_0049"].retrieve("prefs", timeout=5)
        color = r["private"].xml.find("{urn:example:slix}prefs/{urn:example:slix}color")
        assert color is not None and color.text == "teal"

        # XEP-0054: a sets its vCard; b reads it at a's bare JID.
        vc = a.plugin["xep_0054"].make_vcard()
        vc["FN"] = "Alice Slix"
        vc["NICKNAME"] = "alice"
        await a.plugin["xep_0054"].publish_vcard(vc, timeout=5)
        r = await b.plugin["xep_0054"].get_vcard(jid(ua), timeout=5)
        assert r["vcard_temp"]["FN"] == "Alice Slix"
        assert r["vcard_temp"]["NICKNAME"] in ("alice", ["alice"])  # slixmpp: a list
        # Another account without a vCard: <service-unavailable/>, the same
        # as for no account at all (XEP-0054 §3.3, no harvesting).
        for who in (jid(ub), jid(unique("nobody"))):
            with pytest.raises(slixmpp.exceptions.IqError) as ei:
                await a.plugin["xep_0054"].get_vcard(who, timeout=5)
            assert ei.value.iq["error"]["condition"] == "service-unavailable"

        # XEP-0012 §3: not a contact -> <forbidden/>; a contact with 'from'
        # gets the seconds since the last logout (0 while online).
        with pytest.raises(slixmpp.exceptions.IqError) as ei:
            await b.plugin["xep_0012"].get_last_activity(jid(ua), timeout=5)
        assert ei.value.iq["error"]["condition"] == "forbidden"
        await befriend(a, b)
        r = await b.plugin["xep_0012"].get_last_activity(jid(ua), timeout=5)
        assert r["last_activity"]["seconds"] == 0
        await disconnect(a, a2)
        await asyncio.sleep(0.3)
        r = await b.plugin["xep_0012"].get_last_activity(jid(ua), timeout=5)
        assert 0 <= r["last_activity"]["seconds"] < 30
        # §5: the server's uptime.
        r = await b.plugin["xep_0012"].get_last_activity("localhost", timeout=5)
        assert r["last_activity"]["seconds"] >= 0
        await disconnect(b)

    run(scenario())


# --- XEP-0077 in-band registration -------------------------------------------

def ibr_client(j, password):
    c = Client(j, password, plugins=("xep_0077", "xep_0004", "xep_0066"))
    # slixmpp 1.8.3 queues every IQ sent before session start except bind
    # and session (XMLStream.send), so its own XEP-0077 pre-login flow
    # would wait forever for its registration form.  Its escape hatch for
    # that check is this flag; nothing else is sent before the session.
    c._always_send_everything = True
    return c


def test_inband_registration_then_login(server):
    user = unique("ibr")

    async def scenario():
        c = ibr_client(jid(user, "r"), "fresh-pass-123")
        form = {}

        async def on_register(iq):
            form["fields"] = iq["register"]["fields"]
            resp = c.Iq(stype="set")
            resp["register"]["username"] = user
            resp["register"]["password"] = "fresh-pass-123"
            await resp.send(timeout=5)
            form["done"] = True

        c.add_event_handler("register", on_register)
        connect(c, server)
        await asyncio.wait_for(asyncio.shield(c.started), 10)
        assert form.get("done"), "the register feature was not offered or used"
        assert {"username", "password"} <= set(form["fields"])
        assert c.boundjid.bare == jid(user)
        await disconnect(c)
        # A second registration of the same name is refused (§3.3 <conflict/>).
        d = ibr_client(jid(user, "r2"), "other-pass-123")
        result = {}

        async def on_register2(iq):
            resp = d.Iq(stype="set")
            resp["register"]["username"] = user
            resp["register"]["password"] = "other-pass-123"
            try:
                await resp.send(timeout=5)
                result["cond"] = None
            except slixmpp.exceptions.IqError as e:
                result["cond"] = e.iq["error"]["condition"]
            d.abort()

        d.add_event_handler("register", on_register2)
        connect(d, server)
        await wait_for(lambda: "cond" in result, what="second registration answer")
        assert result["cond"] == "conflict"

    run(scenario())
    # The account exists server-side with the new password.
    run(_login_only(server, jid(user, "x"), "fresh-pass-123"))


async def _login_only(server, j, password):
    c = await connected(server, j, password=password)
    await disconnect(c)


# --- PEP: XEP-0084 avatar metadata, XEP-0402 bookmarks ---------------------

def test_pep_avatar_metadata_notifies_interested_contact(server):
    ua, ub = two_users(server)
    data = b"\x89PNG fake avatar bytes"
    avatar_id = hashlib.sha1(data).hexdigest()

    async def scenario():
        # b is interested (xep_0084 registers urn:xmpp:avatar:metadata+notify
        # with xep_0163, xep_0115 advertises it in its caps); a is not
        # interested in anything but publishes.
        a = await connected(server, jid(ua, "r"), plugins=("xep_0060", "xep_0163", "xep_0115", "xep_0084"),
                            roster=True)
        b = Client(jid(ub, "r"), plugins=("xep_0060", "xep_0163", "xep_0115", "xep_0084"), roster=True)
        events = asyncio.Queue()
        b.add_event_handler("avatar_metadata_publish", events.put_nowait)
        connect(b, server)
        await asyncio.wait_for(asyncio.shield(b.started), 10)
        # c is a contact too, but its caps carry no +notify: no event
        # (XEP-0163 §4.2 filtering).
        uc, _ = make_account(server, prefix="sc")
        c = await connected(server, jid(uc, "r"), plugins=("xep_0060", "xep_0115"), roster=True)
        uninterested = asyncio.Queue()
        c.add_event_handler("pubsub_publish", uninterested.put_nowait)
        await befriend(a, b)
        await befriend(a, c)
        # Let the server learn b's caps (it asks b with disco#info).
        await asyncio.sleep(0.5)
        await a.plugin["xep_0084"].publish_avatar(data, timeout=5)
        await a.plugin["xep_0084"].publish_avatar_metadata(
            [{"id": avatar_id, "type": "image/png", "bytes": len(data)}], timeout=5)
        ev = await asyncio.wait_for(events.get(), 5)
        assert ev["from"] == slixmpp.JID(jid(ua))
        item = ev["pubsub_event"]["items"]["item"]
        assert item["id"] == avatar_id
        info = item["avatar_metadata"]["items"][0]
        assert info["id"] == avatar_id and int(info["bytes"]) == len(data)
        # The data node is readable by the contact (presence access model).
        r = await b.plugin["xep_0084"].retrieve_avatar(jid(ua), avatar_id, timeout=5)
        got = r["pubsub"]["items"]["item"]["avatar_data"]["value"]
        assert got == data
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(uninterested.get(), 0.5)
        await disconnect(a, b, c)

    run(scenario())


def _publish_options(**fields):
    form = slixmpp.plugins.xep_0004.stanza.Form()
    form["type"] = "submit"
    form.add_field(var="FORM_TYPE", ftype="hidden",
                   value="http://jabber.org/protocol/pubsub#publish-options")
    for k, v in fields.items():
        form.add_field(var="pubsub#" + k, value=v)
    return form


def test_bookmarks2_via_pubsub(server):
    # slixmpp 1.8.3 has no xep_0402 plugin: publish the XEP-0402 §3.2 item
    # with xep_0060 and the required publish-options, as Conversations does.
    ua, _ = make_account(server, prefix="bm")
    room = "slixroom@conference.localhost"

    async def scenario():
        plugins = ("xep_0060", "xep_0163", "xep_0115", "xep_0004")
        watcher = Client(jid(ua, "watch"), plugins=plugins)
        events = asyncio.Queue()
        watcher.add_event_handler("pubsub_publish", events.put_nowait)
        watcher.add_event_handler("session_bind", lambda _: watcher.plugin["xep_0163"]
                                  .add_interest(NS_BOOKMARKS2))
        connect(watcher, server)
        await asyncio.wait_for(asyncio.shield(watcher.started), 10)
        await asyncio.sleep(0.5)            # caps learnt by the server
        a = await connected(server, jid(ua, "pub"), plugins=plugins)
        conf = ET.fromstring("<conference xmlns='%s' name='Slix room' autojoin='true'>"
                             "<nick>alice</nick></conference>" % NS_BOOKMARKS2)
        opts = _publish_options(persist_items="true", max_items="max",
                                send_last_published_item="never", access_model="whitelist")
        await a.plugin["xep_0060"].publish(None, NS_BOOKMARKS2, id=room, payload=conf,
                                           options=opts, timeout=5)
        ev = await asyncio.wait_for(events.get(), 5)
        item = ev["pubsub_event"]["items"]["item"]
        assert ev["pubsub_event"]["items"]["node"] == NS_BOOKMARKS2
        assert item["id"] == room
        c = item.xml.find("{%s}conference" % NS_BOOKMARKS2)
        assert c is not None and c.get("name") == "Slix room"
        # XEP-0402 §3.1: the whole list from the node.
        r = await a.plugin["xep_0060"].get_items(jid(ua), NS_BOOKMARKS2, timeout=5)
        ids = [i["id"] for i in r["pubsub"]["items"]]
        assert ids == [room]
        # Whitelist: another user is refused.
        ub, _ = make_account(server, prefix="bo")
        o = await connected(server, jid(ub, "r"), plugins=plugins)
        with pytest.raises(slixmpp.exceptions.IqError) as ei:
            await o.plugin["xep_0060"].get_items(jid(ua), NS_BOOKMARKS2, timeout=5)
        # XEP-0060 §6.5.9.8 (closed node): <not-allowed/>.
        assert ei.value.iq["error"]["condition"] == "not-allowed"
        await disconnect(a, watcher, o)

    run(scenario())


# --- offline messages, MAM ------------------------------------------------

def test_offline_delivery_then_mam_history(server):
    ua, ub = two_users(server)

    async def scenario():
        a = await connected(server, jid(ua, "r"))
        for i in range(3):
            a.send_message(mto=jid(ub), mbody="offline %d" % i, mtype="chat")
        await asyncio.sleep(0.5)
        # b logs in: XEP-0160 delivery after the initial presence, in order,
        # each with a XEP-0203 delay.
        b = await connected(server, jid(ub, "r"), plugins=("xep_0203", "xep_0313", "xep_0059"))
        got = []
        for i in range(3):
            m = await b.next_message(lambda m: m["body"].startswith("offline "))
            got.append(m)
        assert [m["body"] for m in got] == ["offline 0", "offline 1", "offline 2"]
        assert all(m["delay"]["stamp"] is not None for m in got)
        assert all(m["from"].bare == jid(ua) for m in got)
        # Online exchange, then XEP-0313: b's archive has both directions.
        b.send_message(mto=a.boundjid, mbody="back online", mtype="chat")
        await a.next_message(lambda m: m["body"] == "back online")
        await asyncio.sleep(0.3)
        r = await b.plugin["xep_0313"].retrieve(with_jid=slixmpp.JID(jid(ua)), timeout=5)
        bodies = [res["mam_result"]["forwarded"]["stanza"]["body"] for res in r["mam"]["results"]]
        assert bodies == ["offline 0", "offline 1", "offline 2", "back online"]
        fin = r.xml.find("{urn:xmpp:mam:2}fin")       # §4.3: the last page
        assert fin is not None and fin.get("complete") == "true"
        await disconnect(a, b)

    run(scenario())


# --- XEP-0280 carbons ---------------------------------------------------------

def test_carbons_between_two_resources(server):
    ua, ub = two_users(server)

    async def scenario():
        a1 = await connected(server, jid(ua, "phone"), plugins=("xep_0280",))
        a2 = await connected(server, jid(ua, "desk"), plugins=("xep_0280",))
        b = await connected(server, jid(ub, "r"))
        for c in (a1, a2):
            await c.plugin["xep_0280"].enable(timeout=5)
        received, sent = asyncio.Queue(), asyncio.Queue()
        a2.add_event_handler("carbon_received", received.put_nowait)
        a2.add_event_handler("carbon_sent", sent.put_nowait)
        # b writes to a1's full JID: a2 gets a received carbon.
        b.send_message(mto=a1.boundjid, mbody="to the phone", mtype="chat")
        await a1.next_message(lambda m: m["body"] == "to the phone")
        cm = await asyncio.wait_for(received.get(), 5)
        assert cm["from"] == slixmpp.JID(jid(ua))
        fwd = cm["carbon_received"]
        assert fwd["body"] == "to the phone" and fwd["to"] == a1.boundjid
        # a1 answers: a2 gets a sent carbon.
        a1.send_message(mto=b.boundjid, mbody="from the phone", mtype="chat")
        await b.next_message(lambda m: m["body"] == "from the phone")
        cm = await asyncio.wait_for(sent.get(), 5)
        fwd = cm["carbon_sent"]
        assert fwd["body"] == "from the phone" and fwd["from"] == a1.boundjid
        # After disable, no more carbons to a2.
        await a2.plugin["xep_0280"].disable(timeout=5)
        b.send_message(mto=a1.boundjid, mbody="quiet", mtype="chat")
        await a1.next_message(lambda m: m["body"] == "quiet")
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(received.get(), 0.7)
        await disconnect(a1, a2, b)

    run(scenario())


# --- XEP-0198 stream management -----------------------------------------------

def test_stream_management_ack_and_resume(server):
    ua, ub = two_users(server)

    async def scenario():
        a = Client(jid(ua, "sm"), plugins=("xep_0198",))
        enabled, resumed = asyncio.Queue(), asyncio.Queue()
        a.add_event_handler("sm_enabled", enabled.put_nowait)
        a.add_event_handler("session_resumed", resumed.put_nowait)
        acked = asyncio.Queue()
        a.add_event_handler("stanza_acked", acked.put_nowait)
        connect(a, server)
        await asyncio.wait_for(asyncio.shield(a.started), 10)
        en = await asyncio.wait_for(enabled.get(), 5)
        sm = a.plugin["xep_0198"]
        assert en["id"] and sm.sm_id, "<enabled/> with resume='true' carries an id"
        b = await connected(server, jid(ub, "r"))

        # Ack: the server acknowledges what a sent (§4).
        a.send_message(mto=b.boundjid, mbody="acked?", mtype="chat")
        await b.next_message(lambda m: m["body"] == "acked?")
        sm.request_ack()
        await wait_for(lambda: sm.last_ack >= 2 and not sm.unacked_queue,
                       what="server <a/> covering presence and message")

        # Drop the socket without closing the stream: the session hibernates.
        full = str(a.boundjid)
        a.transport.abort()
        await asyncio.sleep(0.3)
        b.send_message(mto=full, mbody="while you were away", mtype="chat")
        await asyncio.sleep(0.3)
        connect(a, server)
        await asyncio.wait_for(resumed.get(), 10)              # §5 <resumed/>
        assert str(a.boundjid) == full
        m = await a.next_message(lambda m: m["body"] == "while you were away")
        assert m["from"] == b.boundjid
        # The resumed stream is live both ways.
        a.send_message(mto=b.boundjid, mbody="resumed", mtype="chat")
        await b.next_message(lambda m: m["body"] == "resumed")
        await disconnect(a, b)

    run(scenario())


# --- XEP-0045 multi-user chat -------------------------------------------------

def test_muc_join_groupchat_subject(server):
    ua, ub = two_users(server)
    room = "%s@conference.localhost" % unique("room")

    async def scenario():
        a = await connected(server, jid(ua, "r"), plugins=("xep_0045",))
        b = await connected(server, jid(ub, "r"), plugins=("xep_0045",))
        subjects = {c: asyncio.Queue() for c in (a, b)}
        chats = {c: asyncio.Queue() for c in (a, b)}
        for c in (a, b):
            c.add_event_handler("groupchat_subject", subjects[c].put_nowait)
            c.add_event_handler("groupchat_message", chats[c].put_nowait)
        muc_a, muc_b = a.plugin["xep_0045"], b.plugin["xep_0045"]
        await muc_a.join_muc_wait(room, "alice", maxstanzas=0, timeout=5)
        # XEP-0045 §10.1.2: a new room is locked until configured.
        form = await muc_a.get_room_config(room, timeout=5)
        await muc_a.set_room_config(room, form, timeout=5)
        await muc_b.join_muc_wait(room, "bob", maxstanzas=0, timeout=5)
        await wait_for(lambda: set(muc_a.get_roster(room)) >= {"alice", "bob"},
                       what="bob's join presence at alice")
        assert muc_b.get_jid_property(room, "alice", "affiliation") == "owner"

        b.send_message(mto=room, mbody="hi room", mtype="groupchat")
        for c in (a, b):
            while True:
                m = await asyncio.wait_for(chats[c].get(), 5)
                if m["body"] == "hi room":
                    break
            assert m["from"] == slixmpp.JID(room + "/bob")

        # §8.1: the owner (a moderator) changes the subject; everyone sees it.
        muc_a.set_subject(room, "Slix talk")
        for c in (a, b):
            while True:
                s = await asyncio.wait_for(subjects[c].get(), 5)
                if s["subject"] == "Slix talk":
                    break
            assert s["from"] == slixmpp.JID(room + "/alice")
        # A later joiner gets the subject as the last join stanza (§7.2.15).
        uc, _ = make_account(server, prefix="sc")
        c3 = await connected(server, jid(uc, "r"), plugins=("xep_0045",))
        self_pres, subject, occupants, _ = await c3.plugin["xep_0045"].join_muc_wait(
            room, "carol", maxstanzas=0, timeout=5)
        assert subject["subject"] == "Slix talk"
        assert {p["from"].resource for p in occupants} >= {"alice", "bob"}
        assert self_pres["muc"]["affiliation"] == "none"
        await disconnect(a, b, c3)

    run(scenario())
