/*
 * persist.c - persistent rooms (XEP-0045 §10.1.3 / muc#roomconfig_
 * persistentroom): configuration, affiliations with their registered
 * nicknames (§7.10) and subject survive a restart; occupants and history
 * do not.
 *
 * Storage: rooms belong to no account, so the per-user key/value store
 * (which needs one) cannot hold them.  The log store can: appends with
 * need_account=false are what room archives use.  Each persistent room is
 * one row of area "muc_room" under the pseudo-user "@rooms" of the service
 * domain ('@' cannot appear in a localpart, RFC 7622 §3.3, so no room or
 * account collides with it), whose id is the room name and whose value is
 * the serialized state.  A save deletes the old row and appends the new
 * one; both are queued in the same loop turn and so land in the same
 * group-commit transaction (store.h).
 *
 * Durability (ARCHITECTURE.md principle 5): the stanza that caused a write
 * (a configuration form, an affiliation change, a subject, an invitation
 * into a members-only room) is held until the write completed, so that an
 * XEP-0198 <a/> acknowledging it means the change is stored.
 */
#include "muc/muc.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/server.h"
#include "modules/mam_util.h"
#include "storage/store.h"
#include "xml/xml.h"

#define ROOMS_USER  "@rooms"
#define ROOMS_AREA  "muc_room"

/* One storage operation on a room's row: the room's name for the log and
 * the stanza held until the operation completed (NULL when none). */
struct write_op {
    char *name;
    struct stanza *cause;
};

static struct write_op *write_op_new(const char *name, struct stanza *cause)
{
    struct write_op *w = pl_calloc(1, sizeof(*w));
    w->name = pl_strdup(name);
    if (cause) {
        w->cause = stanza_ref(cause);
        stanza_hold(cause);
    }
    return w;
}

static void written(const struct store_result *res, void *ud)
{
    struct write_op *w = ud;
    if (res->status != STORE_OK)
        log_error("muc: cannot store room '%s' (status %d)", w->name, res->status);
    if (w->cause) {
        stanza_unhold(w->cause);
        stanza_unref(w->cause);
    }
    free(w->name);
    free(w);
}

void muc_persist_save(struct muc_room *room, struct stanza *cause)
{
    struct muc_service *svc = room->svc;
    struct stanza *st = stanza_new("", "room");
    struct arena *a = st->arena;
    xml_set_attr(a, st->root, "name", room->name);
    if (room->creator)
        xml_set_attr(a, st->root, "creator", room->creator);
    muc_config_store(a, st->root, &room->cfg);
    void *v;
    for (size_t i = 0; hashmap_next(&room->affils, &i, NULL, &v);) {
        struct muc_affiliation *af = v;
        struct xml_node *n = xml_add_child(a, st->root, NULL, "affiliation");
        xml_set_attr(a, n, "jid", af->jid);
        xml_set_attr(a, n, "affiliation", muc_affil_name(af->affil));
        if (af->reason)
            xml_set_attr(a, n, "reason", af->reason);
        if (af->nick)
            xml_set_attr(a, n, "nick", af->nick);   /* §7.10 registration */
    }
    if (room->subject) {
        struct xml_node *s = xml_add_text_child(a, st->root, NULL, "subject", room->subject);
        xml_set_attr(a, s, "by", room->subject_by ? room->subject_by : "");
    }
    struct buf b = BUF_INIT;
    xml_serialize(st->root, XML_NS_CLIENT, &b);
    stanza_unref(st);

    /* Both operations hold the cause: either may complete last. */
    const char *ids[] = { room->name, NULL };
    store_log_delete(svc->srv->store, ROOMS_USER, svc->domain, ROOMS_AREA, ids, 0,
                     written, write_op_new(room->name, cause));
    struct store_log_append_args args = {
        .user = ROOMS_USER, .host = svc->domain, .area = ROOMS_AREA,
        .id = room->name, .stamp = muc_now_us(),
        .value = b.data, .value_len = b.len, .need_account = false,
    };
    store_log_append(svc->srv->store, &args, written, write_op_new(room->name, cause));
    buf_release(&b);
}

void muc_persist_forget(struct muc_service *svc, const char *name, struct stanza *cause)
{
    const char *ids[] = { name, NULL };
    store_log_delete(svc->srv->store, ROOMS_USER, svc->domain, ROOMS_AREA, ids, 0,
                     written, write_op_new(name, cause));
}

static void load_room(struct muc_service *svc, const struct store_item *it)
{
    struct stanza *st = mam_parse_stored(it->value, it->value_len);
    if (!st) {
        log_error("muc: stored room '%s' on %s is corrupt", it->key, svc->domain);
        return;
    }
    const char *name = xml_attr(st->root, "name");
    if (!name || muc_room_find(svc, name)) {
        stanza_unref(st);
        return;
    }
    struct muc_room *room = muc_room_new(svc, name);
    const char *creator = xml_attr(st->root, "creator");
    if (creator)
        room->creator = pl_strdup(creator);
    struct xml_node *cfg = xml_child(st->root, NULL, "config");
    if (cfg)
        muc_config_load(&room->cfg, cfg);
    room->cfg.persistent = true;
    for (struct xml_node *n = xml_child(st->root, NULL, "affiliation"); n;
         n = xml_next(n, NULL, "affiliation")) {
        const char *jid = xml_attr(n, "jid");
        int af = muc_affil_parse(xml_attr(n, "affiliation"));
        if (!jid || af < 0 || af == MUC_AFFIL_NONE)
            continue;
        muc_affil_set(room, jid, (enum muc_affil)af, xml_attr(n, "reason"));
        const char *nick = xml_attr(n, "nick");
        if (nick && !muc_nick_registrant(room, nick))
            muc_affil_set_nick(room, jid, nick);
    }
    struct xml_node *s = xml_child(st->root, NULL, "subject");
    if (s) {
        struct arena *a = arena_new(256);
        room->subject = pl_strdup(xml_text(a, s));
        arena_free(a);
        const char *by = xml_attr(s, "by");
        room->subject_by = pl_strdup(by ? by : "");
    }
    stanza_unref(st);
}

static void loaded(const struct store_result *res, void *ud)
{
    struct muc_service *svc = ud;
    if (!svc->dead) {
        if (res->status != STORE_OK)
            log_error("muc: cannot read the rooms of %s (status %d)", svc->domain, res->status);
        for (size_t i = 0; i < res->nitems; i++)
            load_room(svc, &res->items[i]);
        log_info("muc: %s: %zu persistent rooms", svc->domain, res->nitems);
        svc->loaded = true;
    }
    muc_service_unref(svc);
}

void muc_persist_load(struct muc_service *svc)
{
    struct store_log_query_args q = {
        .user = ROOMS_USER, .host = svc->domain, .area = ROOMS_AREA,
    };
    store_log_query(svc->srv->store, &q, loaded, muc_service_ref(svc));
}
