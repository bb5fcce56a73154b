"""Local delivery rules (RFC 6121 §8, RFC 6120 §8.5, §10): messages and IQs
between users with several resources and priorities."""

import pytest

from conftest import PASSWORD, make_account
from harness.xmpp import NS_CLIENT, NS_PING, NS_STANZAS, q, stanza_error, tostr, new_id

QUIET = 1.0     # how long "does not receive" waits


def is_msg(body):
    def pred(e):
        if e.tag != q(NS_CLIENT, "message"):
            return False
        b = e.find(q(NS_CLIENT, "body"))
        return b is not None and b.text == body
    return pred


def user_with(logged_in, server, prios):
    """Logs one new user in with one resource per priority (None: bound but
    no initial presence, i.e. not available).  Returns (bare, [clients])."""
    user, pw = make_account(server)
    cs = []
    for i, p in enumerate(prios):
        c = logged_in(user=user, password=pw, resource="r%d" % i)
        if p is not None:
            c.send_presence(priority=p)
        cs.append(c)
    # Make sure the presences were processed: a round trip on each.
    for c in cs:
        assert c.ping().get("type") == "result"
    return "%s@localhost" % user, cs


def expect_error(c, mid, cond, kind="message"):
    el = c.expect(lambda e: e.tag == q(NS_CLIENT, kind) and e.get("id") == mid
                  and e.get("type") == "error", what="%s error id=%s" % (kind, mid))
    err = stanza_error(el)
    assert err and err[1] == cond, "expected <%s/>, got %s" % (cond, tostr(el))
    return el


@pytest.fixture
def sender(logged_in):
    return logged_in(resource="sender", presence=True)


@pytest.mark.parametrize("mtype", ["chat", "normal", None])
def test_rfc6121_8_5_2_1_1_bare_to_highest_priority(server, logged_in, sender, mtype):
    bare, (hi1, hi2, lo) = user_with(logged_in, server, [5, 5, 1])
    body = "to-bare-%s" % mtype
    sender.send_message(bare, body=body, type_=mtype)
    for c in (hi1, hi2):
        m = c.expect(is_msg(body))
        assert m.get("from") == sender.jid
        assert m.get("to") in (bare, c.jid)
    lo.expect_nothing(is_msg(body), timeout=QUIET)


def test_rfc6121_8_5_2_1_1_negative_priority_excluded(server, logged_in, sender):
    bare, (neg, zero) = user_with(logged_in, server, [-1, 0])
    sender.send_message(bare, body="neg")
    zero.expect(is_msg("neg"))
    neg.expect_nothing(is_msg("neg"), timeout=QUIET)


def test_rfc6121_8_5_2_1_1_only_negative_priority_is_unavailable(server, logged_in, sender):
    """If the only available resources have negative priority the message is
    handled as if there were none (§8.5.2.2): bounced for now."""
    bare, (neg,) = user_with(logged_in, server, [-5])
    mid = sender.send_message(bare, body="neg-only")
    expect_error(sender, mid, "service-unavailable")
    neg.expect_nothing(is_msg("neg-only"), timeout=QUIET)


def test_rfc6121_8_5_2_1_2_headline_to_all_non_negative(server, logged_in, sender):
    bare, (a, b, neg) = user_with(logged_in, server, [5, 0, -1])
    sender.send_message(bare, body="news", type_="headline")
    a.expect(is_msg("news"))
    b.expect(is_msg("news"))
    neg.expect_nothing(is_msg("news"), timeout=QUIET)


def test_rfc6121_8_5_2_1_1_not_available_resource_excluded(server, logged_in, sender):
    """A bound resource that never sent presence is not available."""
    bare, (avail, silent) = user_with(logged_in, server, [0, None])
    sender.send_message(bare, body="avail-only")
    avail.expect(is_msg("avail-only"))
    silent.expect_nothing(is_msg("avail-only"), timeout=QUIET)


def test_rfc6121_8_5_2_1_3_groupchat_to_bare_service_unavailable(server, logged_in, sender):
    bare, (a,) = user_with(logged_in, server, [0])
    mid = sender.send_message(bare, body="gc", type_="groupchat")
    expect_error(sender, mid, "service-unavailable")
    a.expect_nothing(is_msg("gc"), timeout=QUIET)


def test_rfc6121_8_5_3_1_full_jid_online_only_that_resource(server, logged_in, sender):
    bare, (hi, lo) = user_with(logged_in, server, [5, 1])
    sender.send_message(lo.jid, body="to-lo")
    m = lo.expect(is_msg("to-lo"))
    assert m.get("to") == lo.jid
    hi.expect_nothing(is_msg("to-lo"), timeout=QUIET)


def test_rfc6121_8_5_3_1_full_jid_negative_priority_still_delivered(server, logged_in, sender):
    bare, (neg, pos) = user_with(logged_in, server, [-1, 3])
    sender.send_message(neg.jid, body="direct-neg")
    neg.expect(is_msg("direct-neg"))
    pos.expect_nothing(is_msg("direct-neg"), timeout=QUIET)


@pytest.mark.parametrize("mtype", ["chat", "normal"])
def test_rfc6121_8_5_3_2_1_offline_full_jid_treated_as_bare(server, logged_in, sender, mtype):
    bare, (hi, lo) = user_with(logged_in, server, [5, 1])
    sender.send_message(bare + "/not-bound", body="to-gone", type_=mtype)
    hi.expect(is_msg("to-gone"))
    lo.expect_nothing(is_msg("to-gone"), timeout=QUIET)


def test_rfc6121_8_5_2_2_no_available_resource_bounced(server, logged_in, sender):
    user, _ = make_account(server)
    bare = "%s@localhost" % user
    mid = sender.send_message(bare, body="nobody-home")
    el = expect_error(sender, mid, "service-unavailable")
    assert el.get("from") == bare, tostr(el)
    assert el.get("to") == sender.jid, tostr(el)
    b = el.find(q(NS_CLIENT, "body"))
    assert b is not None and b.text == "nobody-home", "bounce does not carry the message: %s" % tostr(el)


def test_rfc6121_8_5_2_2_bound_but_unavailable_bounced(server, logged_in, sender):
    bare, (silent,) = user_with(logged_in, server, [None])
    mid = sender.send_message(bare, body="silent")
    expect_error(sender, mid, "service-unavailable")
    silent.expect_nothing(is_msg("silent"), timeout=QUIET)


def test_rfc6121_8_5_1_nonexistent_local_user(server, sender):
    mid = sender.send_message("nosuchuser-x1@localhost", body="void")
    expect_error(sender, mid, "service-unavailable")
    mid = sender.send_message("nosuchuser-x1@localhost/res", body="void2")
    expect_error(sender, mid, "service-unavailable")


def test_rfc6120_10_4_3_remote_domain(server, sender):
    mid = sender.send_message("user@remote.example", body="far")
    el = expect_error(sender, mid, "remote-server-not-found")
    assert stanza_error(el)[0] == "cancel"


def test_rfc6120_8_3_1_error_messages_never_bounced(server, sender):
    user, _ = make_account(server)
    for to in ("%s@localhost" % user, "nosuchuser-y2@localhost", "x@remote.example"):
        mid = sender.send_message(to, body="err", type_="error",
                                  extra="<error type='cancel'><item-not-found xmlns='%s'/></error>" % NS_STANZAS)
    sender.expect_nothing(lambda e: e.tag == q(NS_CLIENT, "message"), timeout=QUIET)
    assert sender.ping().get("type") == "result"


def test_rfc6120_8_5_3_2_2_message_to_domain_not_echoed_as_error_loop(server, sender):
    """A message to the server itself is not delivered to anyone; no loop."""
    sender.send_message("localhost", body="to-server", type_="chat")
    assert sender.ping().get("type") == "result"


# --- IQ ------------------------------------------------------------------------

def test_rfc6120_8_5_3_1_iq_to_online_full_jid_roundtrip(server, logged_in, sender):
    bare, (b,) = user_with(logged_in, server, [0])
    iid = new_id()
    sender.send("<iq type='get' id='%s' to='%s'><query xmlns='jabber:iq:version'/></iq>" % (iid, b.jid))
    got = b.expect(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == iid)
    assert got.get("from") == sender.jid
    assert got.get("type") == "get"
    b.send("<iq type='result' id='%s' to='%s'><query xmlns='jabber:iq:version'>"
           "<name>x</name><version>1</version></query></iq>" % (iid, sender.jid))
    res = sender.expect(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("id") == iid)
    assert res.get("type") == "result"
    assert res.get("from") == b.jid


def test_rfc6120_8_5_3_2_2_iq_to_unavailable_full_jid(server, logged_in, sender):
    bare, (b,) = user_with(logged_in, server, [0])
    el = sender.iq("get", "<query xmlns='jabber:iq:version'/>", to=bare + "/nope")
    assert el.get("type") == "error"
    assert stanza_error(el)[1] == "service-unavailable", tostr(el)
    b.expect_nothing(lambda e: e.tag == q(NS_CLIENT, "iq"), timeout=QUIET)


def test_rfc6120_8_5_2_1_2_iq_ping_to_bare_jid_handled_by_server(server, logged_in, sender):
    bare, (b,) = user_with(logged_in, server, [0])
    el = sender.ping(to=bare)
    assert el.get("type") == "result", tostr(el)
    assert el.get("from") == bare
    b.expect_nothing(lambda e: e.tag == q(NS_CLIENT, "iq"), timeout=QUIET)
    # Also for an account that is offline.
    user, _ = make_account(server)
    assert sender.ping(to="%s@localhost" % user).get("type") == "result"


def test_rfc6120_8_5_2_1_2_iq_unknown_ns_to_bare_jid(server, logged_in, sender):
    bare, (b,) = user_with(logged_in, server, [0])
    el = sender.iq("get", "<query xmlns='urn:example:unknown'/>", to=bare)
    assert el.get("type") == "error"
    assert stanza_error(el)[1] == "service-unavailable", tostr(el)


def test_rfc6120_8_5_1_iq_to_nonexistent_user(server, sender):
    for to in ("nosuchuser-z3@localhost", "nosuchuser-z3@localhost/r"):
        el = sender.ping(to=to)
        assert el.get("type") == "error", tostr(el)
        assert stanza_error(el)[1] == "service-unavailable", tostr(el)


def test_rfc6120_8_2_3_iq_without_id_bad_request(server, sender):
    sender.send("<iq type='get' to='localhost'><ping xmlns='%s'/></iq>" % NS_PING)
    el = sender.expect(lambda e: e.tag == q(NS_CLIENT, "iq") and e.get("type") == "error")
    assert stanza_error(el)[1] == "bad-request", tostr(el)
    assert sender.ping().get("type") == "result"


@pytest.mark.parametrize("payload", ["", "<ping xmlns='urn:xmpp:ping'/><ping xmlns='urn:xmpp:ping'/>"],
                         ids=["no_child", "two_children"])
def test_rfc6120_8_2_3_iq_wrong_child_count_bad_request(server, sender, payload):
    el = sender.iq("get", payload, to="localhost")
    assert el.get("type") == "error", tostr(el)
    assert stanza_error(el)[1] == "bad-request", tostr(el)


def test_rfc6120_8_2_3_iq_result_to_server_not_answered(server, sender):
    sender.send("<iq type='result' id='unsolicited' to='localhost'/>")
    sender.send("<iq type='error' id='unsolicited2' to='localhost'>"
                "<error type='cancel'><item-not-found xmlns='%s'/></error></iq>" % NS_STANZAS)
    sender.expect_nothing(lambda e: e.tag == q(NS_CLIENT, "iq"), timeout=QUIET)


def test_rfc6121_8_5_cross_virtual_host_delivery(server, logged_in, sender):
    user, pw = make_account(server, host="example.test")
    b = logged_in(user=user, password=pw, resource="vh", presence=True, host="example.test")
    assert b.jid == "%s@example.test/vh" % user
    sender.send_message("%s@example.test" % user, body="cross-host")
    assert b.expect(is_msg("cross-host")).get("from") == sender.jid
    b.send_message(sender.jid, body="back")
    assert sender.expect(is_msg("back")).get("from") == b.jid


def test_rfc6121_8_5_same_localpart_other_host_is_other_account(server, logged_in, sender):
    user, pw = make_account(server)          # only on localhost
    b = logged_in(user=user, password=pw, resource="x", presence=True)
    mid = sender.send_message("%s@example.test" % user, body="wrong-host")
    expect_error(sender, mid, "service-unavailable")
    b.expect_nothing(is_msg("wrong-host"), timeout=QUIET)
