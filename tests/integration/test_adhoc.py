"""Ad-hoc commands (XEP-0050) with service administration (XEP-0133) on
the server's JID, over raw XML.

- §2.1/§2.2 discovery: the commands feature, the command list for admins
  (empty for others), disco#info of a command node (forbidden for others);
- §2.4.2 multi-stage: execute -> form with a sessionid -> submit ->
  completed; a request carrying the form completes at once;
- §2.4.3 cancel; §4.4 bad-action, malformed-action, bad-sessionid,
  bad-payload; XEP-0133 §6 forbidden for non-admins (with <text/>);
- §3.6 a failed registry command completes with <note type='error'/>;
- XEP-0133 add-user, delete-user, disable-user (ban), reenable-user,
  change-user-password, get-online-users-num/-list, announce.
"""

from xml.sax.saxutils import escape, quoteattr

import pytest

from conftest import PASSWORD, make_account
from harness import server as srv
from harness.xmpp import NS_CLIENT, q, stanza_error, tostr, unique

NS_COMMANDS = "http://jabber.org/protocol/commands"
NS_ADMIN = "http://jabber.org/protocol/admin"
NS_XDATA = "jabber:x:data"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
ADMIN = "boss"
MODULES = tuple(srv.ALL_MODULES) + ("adhoc",)
ACL = """acl:
  admins:
    user: [%s@localhost]
access_rules:
  admin:
    - allow: admins
""" % ADMIN

ALL_NODES = ["add-user", "delete-user", "disable-user", "reenable-user",
             "change-user-password", "get-online-users-num",
             "get-online-users-list", "announce"]


@pytest.fixture(scope="module")
def server(request, cert):
    s = srv.ParleyServer("test_adhoc", cert, modules=MODULES, extra=ACL)
    s.start()
    s.register(ADMIN, PASSWORD)
    yield s
    s.check_stop()


@pytest.fixture
def admin(server, clients):
    c = clients(server.c2s_port)
    c.login(ADMIN, PASSWORD, resource=unique("r"))
    return c


@pytest.fixture
def user(server, clients):
    name, _ = make_account(server)
    c = clients(server.c2s_port)
    c.login(name, PASSWORD)
    return c


def command(c, node, action=None, sid=None, fields=None, form_type="submit"):
    """Sends <command/>; returns the IQ answer."""
    attrs = " node=%s" % quoteattr(NS_ADMIN + "#" + node if "#" not in node and
                                   ":" not in node else node)
    if action:
        attrs += " action=%s" % quoteattr(action)
    if sid:
        attrs += " sessionid=%s" % quoteattr(sid)
    body = ""
    if fields is not None:
        body = "<x xmlns='%s' type='%s'>" % (NS_XDATA, form_type)
        body += ("<field var='FORM_TYPE' type='hidden'><value>%s</value></field>" % NS_ADMIN)
        for var, vals in fields.items():
            if isinstance(vals, str):
                vals = [vals]
            body += "<field var=%s>%s</field>" % (
                quoteattr(var), "".join("<value>%s</value>" % escape(v) for v in vals))
        body += "</x>"
    return c.iq("set", "<command xmlns='%s'%s>%s</command>" % (NS_COMMANDS, attrs, body),
                to="localhost")


def cmd_of(el):
    assert el.get("type") == "result", tostr(el)
    cmd = el.find(q(NS_COMMANDS, "command"))
    assert cmd is not None, tostr(el)
    return cmd


def note(cmd):
    n = cmd.find(q(NS_COMMANDS, "note"))
    return (n.get("type", "info"), n.text) if n is not None else None


def command_error(el):
    """(type, condition, XEP-0050 specific condition, text)."""
    assert el.get("type") == "error", tostr(el)
    t, cond, text = stanza_error(el)
    err = el.find(q(NS_CLIENT, "error"))
    app = [c.tag.split("}")[1] for c in err if c.tag.startswith("{%s}" % NS_COMMANDS)]
    return t, cond, (app[0] if app else None), text


def result_field(cmd, var):
    x = cmd.find(q(NS_XDATA, "x"))
    assert x is not None and x.get("type") == "result", tostr(cmd)
    for f in x.findall(q(NS_XDATA, "field")):
        if f.get("var") == var:
            return [v.text for v in f.findall(q(NS_XDATA, "value"))]
    raise AssertionError("no field %s in %s" % (var, tostr(x)))


# --- discovery ----------------------------------------------------------------

def test_disco_info_lists_commands_feature(user):
    el = user.iq("get", "<query xmlns='%s'/>" % NS_DISCO_INFO, to="localhost")
    feats = [f.get("var") for f in el.iter(q(NS_DISCO_INFO, "feature"))]
    assert NS_COMMANDS in feats and NS_DISCO_INFO in feats, tostr(el)


def test_command_list_for_admin_only(admin, user):
    payload = "<query xmlns='%s' node='%s'/>" % (NS_DISCO_ITEMS, NS_COMMANDS)
    el = admin.iq("get", payload, to="localhost")
    assert el.get("type") == "result", tostr(el)
    nodes = [i.get("node") for i in el.iter(q(NS_DISCO_ITEMS, "item"))]
    assert nodes == [NS_ADMIN + "#" + n for n in ALL_NODES]
    assert all(i.get("jid") == "localhost" and i.get("name")
               for i in el.iter(q(NS_DISCO_ITEMS, "item")))
    el = user.iq("get", payload, to="localhost")
    assert el.get("type") == "result", tostr(el)
    assert list(el.iter(q(NS_DISCO_ITEMS, "item"))) == []
    # Other disco#items queries still reach disco.c.
    el = user.iq("get", "<query xmlns='%s'/>" % NS_DISCO_ITEMS, to="localhost")
    assert el.get("type") == "result", tostr(el)


def test_command_node_info(admin, user):
    payload = "<query xmlns='%s' node='%s#add-user'/>" % (NS_DISCO_INFO, NS_ADMIN)
    el = admin.iq("get", payload, to="localhost")
    ident = el.find("%s/%s" % (q(NS_DISCO_INFO, "query"), q(NS_DISCO_INFO, "identity")))
    assert ident is not None and ident.get("category") == "automation" and \
        ident.get("type") == "command-node", tostr(el)
    feats = [f.get("var") for f in el.iter(q(NS_DISCO_INFO, "feature"))]
    assert NS_COMMANDS in feats and NS_XDATA in feats
    el = user.iq("get", payload, to="localhost")
    assert stanza_error(el)[:2] == ("cancel", "forbidden"), tostr(el)


def test_other_nodes_are_not_found(admin):
    """disco.c hands only the registered nodes to the module (XEP-0030
    §3.2/§4.2): any other node, on info or items, is <item-not-found/>,
    also on an account's bare JID where no commands are registered."""
    for ns in (NS_DISCO_INFO, NS_DISCO_ITEMS):
        el = admin.iq("get", "<query xmlns='%s' node='%s#no-such'/>" % (ns, NS_ADMIN),
                      to="localhost")
        assert stanza_error(el)[:2] == ("cancel", "item-not-found"), tostr(el)
        el = admin.iq("get", "<query xmlns='%s' node='%s'/>" % (ns, NS_COMMANDS),
                      to=admin.jid.split("/")[0])
        assert stanza_error(el)[:2] == ("cancel", "item-not-found"), tostr(el)


def test_commands_node_absent_without_module(server_factory, clients):
    """The commands node belongs to the adhoc instance of its host: a host
    whose modules do not include adhoc has no such node."""
    s = server_factory(modules=["disco", "ping"])
    name, pw = make_account(s)
    c = clients(s.c2s_port)
    c.login(name, pw)
    for ns in (NS_DISCO_INFO, NS_DISCO_ITEMS):
        el = c.iq("get", "<query xmlns='%s' node='%s'/>" % (ns, NS_COMMANDS), to="localhost")
        assert stanza_error(el)[:2] == ("cancel", "item-not-found"), tostr(el)


# --- execution --------------------------------------------------------------------

def test_add_user_multi_stage(server, admin, clients):
    name = unique("new")
    cmd = cmd_of(command(admin, "add-user"))
    assert cmd.get("status") == "executing" and cmd.get("sessionid")
    assert cmd.find("%s/%s" % (q(NS_COMMANDS, "actions"), q(NS_COMMANDS, "complete"))) \
        is not None
    x = cmd.find(q(NS_XDATA, "x"))
    assert x.get("type") == "form"
    vars_ = [f.get("var") for f in x.findall(q(NS_XDATA, "field"))]
    assert vars_[:4] == ["FORM_TYPE", "accountjid", "password", "password-verify"]
    done = cmd_of(command(admin, "add-user", sid=cmd.get("sessionid"), fields={
        "accountjid": "%s@localhost" % name, "password": "pw-1", "password-verify": "pw-1"}))
    assert done.get("status") == "completed" and done.get("sessionid") == cmd.get("sessionid")
    assert note(done)[0] == "info"
    c = clients(server.c2s_port)
    c.login(name, "pw-1")
    # The session ended: its id is no longer accepted.
    el = command(admin, "add-user", sid=cmd.get("sessionid"), fields={"accountjid": "x@localhost"})
    assert command_error(el)[:3] == ("modify", "bad-request", "bad-sessionid")
    assert "admin: adhoc: register %s localhost (password)" % name in server.log_text()


def test_failure_is_an_error_note(server, admin):
    name, _ = make_account(server)
    done = cmd_of(command(admin, "add-user", fields={
        "accountjid": "%s@localhost" % name, "password": "p", "password-verify": "p"}))
    assert done.get("status") == "completed"
    t, text = note(done)
    assert t == "error" and "already exists" in text


def test_bad_payload(admin):
    el = command(admin, "add-user", fields={
        "accountjid": "%s@localhost" % unique("x"), "password": "a", "password-verify": "b"})
    t, cond, app, text = command_error(el)
    assert (t, cond, app) == ("modify", "bad-request", "bad-payload") and "match" in text
    el = command(admin, "delete-user", fields={"accountjids": ["someone@example.test"]})
    assert command_error(el)[2] == "bad-payload"
    el = command(admin, "delete-user", fields={})
    assert command_error(el)[2] == "bad-payload"


def test_cancel(admin):
    cmd = cmd_of(command(admin, "announce"))
    sid = cmd.get("sessionid")
    done = cmd_of(command(admin, "announce", action="cancel", sid=sid))
    assert done.get("status") == "canceled" and done.get("sessionid") == sid
    el = command(admin, "announce", sid=sid, fields={"announcement": "late"})
    assert command_error(el)[:3] == ("modify", "bad-request", "bad-sessionid")


def test_bad_and_malformed_action(admin, user):
    cmd = cmd_of(command(admin, "announce"))
    sid = cmd.get("sessionid")
    for act in ("prev", "next"):
        el = command(admin, "announce", action=act, sid=sid)
        assert command_error(el)[:3] == ("modify", "bad-request", "bad-action")
    el = command(admin, "announce", action="dance", sid=sid)
    assert command_error(el)[:3] == ("modify", "bad-request", "malformed-action")
    # A session belongs to its requester.
    el = command(user, "announce", sid=sid, fields={"announcement": "x"})
    assert command_error(el)[1] == "forbidden"
    # Still usable by its owner after the refusals.
    done = cmd_of(command(admin, "announce", sid=sid, action="complete",
                          fields={"announcement": "still here"}))
    assert done.get("status") == "completed"


def test_non_admin_forbidden(user):
    el = command(user, "add-user")
    t, cond, app, text = command_error(el)
    assert (t, cond) == ("cancel", "forbidden") and text
    el = command(user, "announce", fields={"announcement": "hi all"})
    assert command_error(el)[1] == "forbidden"


def test_unknown_node(admin):
    el = command(admin, "urn:example:nothing")
    assert command_error(el)[:2] == ("cancel", "item-not-found")


def test_disable_and_reenable_user(server, admin, clients):
    name, _ = make_account(server)
    victim = clients(server.c2s_port)
    victim.login(name, PASSWORD)
    done = cmd_of(command(admin, "disable-user", fields={
        "accountjids": ["%s@localhost" % name], "reason": "adhoc ban"}))
    assert done.get("status") == "completed" and note(done)[0] == "info", tostr(done)
    assert victim.expect_stream_error() == ("policy-violation", "adhoc ban")
    out = server.ctl("get_ban_details", name, "localhost").stdout
    assert "reason: adhoc ban" in out
    assert "audit: ban_account %s@localhost by adhoc" % name in server.log_text()
    done = cmd_of(command(admin, "reenable-user", fields={"accountjids": ["%s@localhost" % name]}))
    assert done.get("status") == "completed" and note(done)[0] == "info", tostr(done)
    assert "is not banned" in server.ctl("get_ban_details", name, "localhost").stdout
    # Re-enabling again fails: an error note naming the account.
    done = cmd_of(command(admin, "reenable-user", fields={"accountjids": ["%s@localhost" % name]}))
    t, text = note(done)
    assert t == "error" and "%s@localhost" % name in text and "not banned" in text


def test_change_password_and_delete_user(server, admin, clients):
    name, _ = make_account(server)
    done = cmd_of(command(admin, "change-user-password", fields={
        "accountjid": "%s@localhost" % name, "password": "n3w-pass"}))
    assert note(done)[0] == "info", tostr(done)
    c = clients(server.c2s_port)
    c.login(name, "n3w-pass")
    done = cmd_of(command(admin, "delete-user", fields={"accountjids": ["%s@localhost" % name]}))
    assert note(done)[0] == "info", tostr(done)
    c.expect_stream_error()
    assert server.ctl("check_account", name, "localhost").returncode != 0


def test_online_users(server, admin, user):
    me = user.jid.split("/")[0]
    done = cmd_of(command(admin, "get-online-users-num"))
    assert done.get("status") == "completed"
    assert int(result_field(done, "onlineusersnum")[0]) >= 2
    cmd = cmd_of(command(admin, "get-online-users-list"))
    done = cmd_of(command(admin, "get-online-users-list", sid=cmd.get("sessionid"),
                          fields={"max_items": "none"}))
    jids = result_field(done, "onlineuserjids")
    assert me in jids and "%s@localhost" % ADMIN in jids and jids == sorted(set(jids))
    done = cmd_of(command(admin, "get-online-users-list", fields={"max_items": "1"}))
    assert len(result_field(done, "onlineuserjids")) == 1


def test_announce(admin, user):
    done = cmd_of(command(admin, "announce", fields={"announcement": ["line one", "line two"]}))
    assert done.get("status") == "completed" and note(done)[0] == "info", tostr(done)
    m = user.expect_message(body="line one\nline two", type_="headline")
    assert m.get("from") == "localhost"
