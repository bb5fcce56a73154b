"""Presence without rosters (RFC 6121 §4.2 initial presence broadcast to
the user's own resources, §4.6 directed presence and its tracking, §4.5
unavailable presence)."""

from conftest import make_account
from harness.xmpp import NS_CLIENT, q, tostr

QUIET = 1.0


def is_presence(frm, type_=None):
    return lambda e: (e.tag == q(NS_CLIENT, "presence") and e.get("from") == frm
                      and e.get("type") == type_)


def test_rfc6121_4_6_directed_presence_to_full_jid(server, logged_in):
    a = logged_in(resource="a", presence=True)
    b = logged_in(resource="b", presence=True)
    a.send_presence(to=b.jid, extra="<status>hello</status>")
    p = b.expect(is_presence(a.jid))
    assert p.findtext(q(NS_CLIENT, "status")) == "hello"


def test_rfc6121_4_6_directed_presence_to_bare_jid_all_available(server, logged_in):
    user, pw = make_account(server)
    b1 = logged_in(user=user, password=pw, resource="one", presence=0)
    b2 = logged_in(user=user, password=pw, resource="two", presence=-1)
    b3 = logged_in(user=user, password=pw, resource="silent")   # not available
    for c in (b1, b2, b3):
        c.ping()
    a = logged_in(resource="a", presence=True)
    a.send_presence(to="%s@localhost" % user)
    b1.expect(is_presence(a.jid))
    b2.expect(is_presence(a.jid))
    b3.expect_nothing(is_presence(a.jid), timeout=QUIET)


def test_rfc6121_4_6_3_directed_presence_tracked_unavailable(server, logged_in):
    a = logged_in(resource="a", presence=True)
    b = logged_in(resource="b", presence=True)
    a.send_presence(to=b.jid)
    b.expect(is_presence(a.jid))
    a.send_presence(type_="unavailable")     # broadcast unavailable, no 'to'
    b.expect(is_presence(a.jid, "unavailable"))


def test_rfc6121_4_6_3_directed_presence_tracked_on_disconnect(server, logged_in):
    a = logged_in(resource="a", presence=True)
    b = logged_in(resource="b", presence=True)
    a.send_presence(to=b.jid)
    b.expect(is_presence(a.jid))
    a_jid = a.jid
    a.close()
    b.expect(is_presence(a_jid, "unavailable"))


def test_rfc6121_4_6_3_directed_presence_tracked_on_abrupt_close(server, logged_in):
    a = logged_in(resource="a", presence=True)
    b = logged_in(resource="b", presence=True)
    a.send_presence(to=b.jid)
    b.expect(is_presence(a.jid))
    a_jid = a.jid
    a.sock.close()          # no </stream:stream>
    a.sock = None
    b.expect(is_presence(a_jid, "unavailable"))


def test_rfc6121_4_6_directed_unavailable_ends_tracking(server, logged_in):
    a = logged_in(resource="a", presence=True)
    b = logged_in(resource="b", presence=True)
    a.send_presence(to=b.jid)
    b.expect(is_presence(a.jid))
    a.send_presence(to=b.jid, type_="unavailable")
    b.expect(is_presence(a.jid, "unavailable"))
    a.send_presence(type_="unavailable")
    b.expect_nothing(is_presence(a.jid, "unavailable"), timeout=QUIET)


def test_rfc6121_4_2_2_initial_presence_to_own_resources(server, logged_in):
    user, pw = make_account(server)
    r1 = logged_in(user=user, password=pw, resource="r1", presence=1)
    r1.ping()
    r2 = logged_in(user=user, password=pw, resource="r2")
    r2.send_presence(priority=2, extra="<show>away</show>")
    p = r1.expect(is_presence(r2.jid))
    assert p.findtext(q(NS_CLIENT, "show")) == "away"
    assert p.findtext(q(NS_CLIENT, "priority")) == "2"


def test_rfc6121_4_5_2_unavailable_to_own_resources(server, logged_in):
    user, pw = make_account(server)
    r1 = logged_in(user=user, password=pw, resource="r1", presence=True)
    r2 = logged_in(user=user, password=pw, resource="r2", presence=True)
    r1.expect(is_presence(r2.jid))
    r2_jid = r2.jid
    r2.close()
    r1.expect(is_presence(r2_jid, "unavailable"))


def test_rfc6121_4_6_presence_from_is_stamped(server, logged_in):
    a = logged_in(resource="a", presence=True)
    b = logged_in(resource="b", presence=True)
    a.send("<presence to='%s' from='evil@localhost/x'/>" % b.jid)
    b.expect(is_presence(a.jid))


def test_rfc6121_4_6_directed_presence_to_unknown_user_is_silent(server, logged_in):
    """Presence to a nonexistent user is silently dropped (RFC 6121 §8.5.1),
    no error comes back."""
    a = logged_in(resource="a", presence=True)
    a.send_presence(to="nosuchuser-p@localhost")
    a.expect_nothing(lambda e: e.tag == q(NS_CLIENT, "presence") and e.get("type") == "error",
                     timeout=QUIET)
    assert a.ping().get("type") == "result"
