/*
 * carbons_rules.c - the pure rules of Message Carbons (XEP-0280 §6.1, §7,
 * §8, §9, §11) and of XEP-0334's <no-copy/> hint.  See carbons_rules.h.
 */
#include "modules/carbons_rules.h"

#include <string.h>

#include "xml/xml.h"

#define NS_RECEIPTS     "urn:xmpp:receipts"                     /* XEP-0184 */
#define NS_CHATSTATES   "http://jabber.org/protocol/chatstates" /* XEP-0085 */
#define NS_MARKERS      "urn:xmpp:chat-markers:0"               /* XEP-0333 */
#define NS_CONFERENCE   "jabber:x:conference"                   /* XEP-0249 */
#define NS_MUC_USER     "http://jabber.org/protocol/muc#user"   /* XEP-0045 */

static bool has_child_ns(const struct xml_node *msg, const char *ns)
{
    return xml_child(msg, ns, NULL) != NULL;
}

/* XEP-0280 §6.1 third rule: "payload elements typically used in IM". */
static bool has_im_payload(const struct xml_node *msg)
{
    return has_child_ns(msg, NS_RECEIPTS) || has_child_ns(msg, NS_CHATSTATES) ||
           has_child_ns(msg, NS_MARKERS);
}

bool carbons_has_wrapper(const struct xml_node *msg)
{
    return xml_child(msg, NS_CARBONS, "sent") || xml_child(msg, NS_CARBONS, "received");
}

bool carbons_is_eligible(const struct xml_node *msg, enum carbons_dir dir)
{
    if (!msg || strcmp(msg->name, "message") != 0)
        return false;
    /* §6.1 "does not contain a <private/> child", §9; XEP-0334 §4
     * <no-copy/>.  The elements stay in the message (§9 interoperability
     * note: stripping them was dropped as a security risk). */
    if (xml_child(msg, NS_CARBONS, "private") || xml_child(msg, NS_HINTS, "no-copy"))
        return false;
    /* A carbon is never copied again (it would loop between resources),
     * and an inbound message claiming to be one is refused before this
     * (carbons_is_forged). */
    if (carbons_has_wrapper(msg))
        return false;
    const char *type = xml_attr(msg, "type");
    if (!type)
        type = "normal";        /* RFC 6121 §5.2.2 */
    /* §6.1 MUC rules: groupchat is already replicated by the room. */
    if (strcmp(type, "groupchat") == 0)
        return false;
    struct xml_node *muc = xml_child(msg, NS_MUC_USER, "x");
    bool mediated_invite = muc && xml_child(muc, NS_MUC_USER, "invite");
    /* §6.1: invitations, direct (XEP-0249) or mediated, are copied. */
    if (mediated_invite || xml_child(msg, NS_CONFERENCE, "x"))
        return true;
    /* §6.1: a private message received from a room occupant is already
     * sent by the room to each of the user's joined clients. */
    if (muc && dir == CARBONS_RECEIVED)
        return false;
    /* Headlines are notifications (RFC 6121 §5.2.2: no reply expected),
     * not conversation: not copied even with an IM payload.  This is why
     * we do not advertise urn:xmpp:carbons:rules:0 (§6.2). */
    if (strcmp(type, "headline") == 0)
        return false;
    if (strcmp(type, "chat") == 0)
        return true;
    bool body = xml_child(msg, XML_NS_CLIENT, "body") != NULL;
    if (strcmp(type, "normal") == 0)
        return body || has_im_payload(msg);
    if (strcmp(type, "error") == 0) {
        /* §6.1: an error "sent in response to a <message/> that was
         * eligible".  The server keeps no record of what it relayed, so it
         * judges by the original payload an error SHOULD carry (RFC 6120
         * §8.3.1): a body or an IM payload means an IM message bounced. */
        return body || has_im_payload(msg);
    }
    return false;               /* an unknown type: not IM */
}

bool carbons_is_forged(const struct xml_node *msg, const char *user_bare)
{
    if (!carbons_has_wrapper(msg))
        return false;
    const char *from = xml_attr(msg, "from");
    return !from || strcmp(from, user_bare) != 0;
}

struct stanza *carbons_wrap(const struct stanza *orig, enum carbons_dir dir,
                            const char *user_bare, const char *to_full)
{
    struct stanza *st = stanza_new(XML_NS_CLIENT, "message");
    struct arena *a = st->arena;
    /* §7 / §8: from the bare JID, to the copy's full JID, same type. */
    xml_set_attr(a, st->root, "from", user_bare);
    xml_set_attr(a, st->root, "to", to_full);
    const char *type = xml_attr(orig->root, "type");
    if (type)
        xml_set_attr(a, st->root, "type", type);
    struct xml_node *w = xml_add_child(a, st->root, NS_CARBONS,
                                       dir == CARBONS_SENT ? "sent" : "received");
    struct xml_node *fwd = xml_add_child(a, w, NS_FORWARD, "forwarded");
    xml_append(fwd, xml_copy(a, orig->root));
    return st;
}
