/*
 * pep_caps.c - Entity Capabilities verification string and hash
 * (XEP-0115 §5.1 generation, §5.4 processing).
 *
 * Sorting is by "i;octet" collation (§5.1 note): strcmp() on UTF-8 bytes.
 * Pure logic: links only pl_xml, pl_util and libcrypto.
 */
#include "modules/pep_caps.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/base64.h"
#include "core/mem.h"
#include "xml/xml.h"

#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DATA       "jabber:x:data"

/* A disco#info answer with more entries than this is not a client we
 * want to spend sorting time on (real clients have < 100 features). */
#define CAPS_MAX_ENTRIES 1024

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorts v and reports whether two entries are equal (§5.4 3.3-3.4). */
static bool sort_has_dup(const char **v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_str);
    for (size_t i = 1; i < n; i++)
        if (strcmp(v[i - 1], v[i]) == 0)
            return true;
    return false;
}

static const char *attr_or_empty(const struct xml_node *n, const char *name)
{
    const char *v = xml_attr(n, name);
    return v ? v : "";
}

struct form {
    const char *type;               /* FORM_TYPE value */
    const struct xml_node *x;
};

static int cmp_form(const void *a, const void *b)
{
    return strcmp(((const struct form *)a)->type, ((const struct form *)b)->type);
}

struct field {
    const char *var;
    const struct xml_node *f;
};

static int cmp_field(const void *a, const void *b)
{
    return strcmp(((const struct field *)a)->var, ((const struct field *)b)->var);
}

/* The FORM_TYPE of an XEP-0128 form, NULL when the form must be ignored
 * (§5.4 3.6: no FORM_TYPE, or not hidden); *bad set when its values
 * differ (§5.4 3.5). */
static const char *form_type(struct arena *a, const struct xml_node *x, bool *bad)
{
    for (struct xml_node *f = xml_child(x, NS_DATA, "field"); f;
         f = xml_next(f, NS_DATA, "field")) {
        const char *var = xml_attr(f, "var");
        if (!var || strcmp(var, "FORM_TYPE") != 0)
            continue;
        const char *type = xml_attr(f, "type");
        if (!type || strcmp(type, "hidden") != 0)
            return NULL;
        const char *first = NULL;
        for (struct xml_node *v = xml_child(f, NS_DATA, "value"); v;
             v = xml_next(v, NS_DATA, "value")) {
            const char *t = xml_text(a, v);
            if (!first)
                first = t;
            else if (strcmp(first, t) != 0)
                *bad = true;
        }
        return first;
    }
    return NULL;
}

/* §5.1 step 7 for one form: the caller appended FORM_TYPE already. */
static int append_form(struct arena *a, const struct xml_node *x, struct buf *out)
{
    size_t nf = 0;
    for (struct xml_node *f = xml_child(x, NS_DATA, "field"); f;
         f = xml_next(f, NS_DATA, "field"))
        nf++;
    if (nf > CAPS_MAX_ENTRIES)
        return CAPS_TOO_BIG;
    struct field *fields = arena_alloc(a, (nf ? nf : 1) * sizeof(*fields));
    size_t n = 0;
    for (struct xml_node *f = xml_child(x, NS_DATA, "field"); f;
         f = xml_next(f, NS_DATA, "field")) {
        const char *var = xml_attr(f, "var");
        if (!var || strcmp(var, "FORM_TYPE") == 0)
            continue;           /* step 7.3: every field other than FORM_TYPE */
        fields[n++] = (struct field){ var, f };
    }
    qsort(fields, n, sizeof(*fields), cmp_field);
    for (size_t i = 0; i < n; i++) {
        buf_puts(out, fields[i].var);
        buf_putc(out, '<');
        size_t nv = 0;
        for (struct xml_node *v = xml_child(fields[i].f, NS_DATA, "value"); v;
             v = xml_next(v, NS_DATA, "value"))
            nv++;
        if (nv > CAPS_MAX_ENTRIES)
            return CAPS_TOO_BIG;
        const char **vals = arena_alloc(a, (nv ? nv : 1) * sizeof(*vals));
        size_t k = 0;
        for (struct xml_node *v = xml_child(fields[i].f, NS_DATA, "value"); v;
             v = xml_next(v, NS_DATA, "value"))
            vals[k++] = xml_text(a, v);
        qsort(vals, k, sizeof(*vals), cmp_str);
        for (size_t j = 0; j < k; j++) {
            buf_puts(out, vals[j]);
            buf_putc(out, '<');
        }
    }
    return CAPS_OK;
}

static int ver_string(struct arena *a, const struct xml_node *query, struct buf *out)
{
    size_t ni = 0, nf = 0, nx = 0;
    for (struct xml_node *c = query->children; c; c = c->next) {
        if (c->kind != XML_ELEMENT)
            continue;
        if (xml_is(c, NS_DISCO_INFO, "identity"))
            ni++;
        else if (xml_is(c, NS_DISCO_INFO, "feature"))
            nf++;
        else if (xml_is(c, NS_DATA, "x"))
            nx++;
    }
    if (ni > CAPS_MAX_ENTRIES || nf > CAPS_MAX_ENTRIES || nx > CAPS_MAX_ENTRIES)
        return CAPS_TOO_BIG;
    const char **ids = arena_alloc(a, (ni ? ni : 1) * sizeof(*ids));
    const char **feats = arena_alloc(a, (nf ? nf : 1) * sizeof(*feats));
    struct form *forms = arena_alloc(a, (nx ? nx : 1) * sizeof(*forms));
    size_t i = 0, f = 0, x = 0;
    bool bad = false;
    for (struct xml_node *c = query->children; c; c = c->next) {
        if (c->kind != XML_ELEMENT)
            continue;
        if (xml_is(c, NS_DISCO_INFO, "identity")) {
            /* Step 2: CATEGORY '/' [TYPE] '/' [LANG] '/' [NAME]; sorting
             * the formatted strings sorts by category, type, then lang. */
            ids[i++] = arena_printf(a, "%s/%s/%s/%s", attr_or_empty(c, "category"),
                                    attr_or_empty(c, "type"),
                                    attr_or_empty(c, "xml:lang"),
                                    attr_or_empty(c, "name"));
        } else if (xml_is(c, NS_DISCO_INFO, "feature")) {
            feats[f++] = attr_or_empty(c, "var");
        } else if (xml_is(c, NS_DATA, "x")) {
            const char *t = form_type(a, c, &bad);
            if (t)
                forms[x++] = (struct form){ t, c };
        }
    }
    if (bad || sort_has_dup(ids, i) || sort_has_dup(feats, f))
        return CAPS_ILL_FORMED;
    qsort(forms, x, sizeof(*forms), cmp_form);
    for (size_t k = 1; k < x; k++)
        if (strcmp(forms[k - 1].type, forms[k].type) == 0)
            return CAPS_ILL_FORMED;     /* §5.4 3.5 */
    for (size_t k = 0; k < i; k++) {
        buf_puts(out, ids[k]);
        buf_putc(out, '<');
    }
    for (size_t k = 0; k < f; k++) {
        buf_puts(out, feats[k]);
        buf_putc(out, '<');
    }
    for (size_t k = 0; k < x; k++) {
        buf_puts(out, forms[k].type);
        buf_putc(out, '<');
        int rc = append_form(a, forms[k].x, out);
        if (rc != CAPS_OK)
            return rc;
    }
    return CAPS_OK;
}

int caps_ver_string(const struct xml_node *query, struct buf *out)
{
    struct arena *a = arena_new(0);
    int rc = ver_string(a, query, out);
    arena_free(a);
    return rc;
}

static const EVP_MD *digest_of(const char *hash)
{
    /* The names of the IANA Hash Function Textual Names registry. */
    static const struct {
        const char *name;
        const EVP_MD *(*md)(void);
    } table[] = {
        { "sha-1", EVP_sha1 },
        { "sha-224", EVP_sha224 },
        { "sha-256", EVP_sha256 },
        { "sha-384", EVP_sha384 },
        { "sha-512", EVP_sha512 },
    };
    if (!hash)
        return NULL;
    for (size_t i = 0; i < PL_ARRAY_LEN(table); i++)
        if (strcmp(table[i].name, hash) == 0)
            return table[i].md();
    return NULL;
}

bool caps_hash_supported(const char *hash)
{
    return digest_of(hash) != NULL;
}

int caps_ver(const char *hash, const struct xml_node *query, struct buf *out)
{
    const EVP_MD *md = digest_of(hash);
    if (!md)
        return CAPS_UNSUPPORTED_HASH;
    struct buf s = BUF_INIT;
    int rc = caps_ver_string(query, &s);
    if (rc == CAPS_OK) {
        unsigned char dg[EVP_MAX_MD_SIZE];
        unsigned int dlen = 0;
        /* EVP_Digest fails only on allocation failure inside OpenSSL. */
        int ok = EVP_Digest(s.data ? s.data : "", s.len, dg, &dlen, md, NULL);
        PL_ASSERT(ok == 1);
        base64_encode(out, dg, dlen);
    }
    buf_release(&s);
    return rc;
}

bool caps_verify(const char *hash, const char *ver, const struct xml_node *query)
{
    if (!ver)
        return false;
    struct buf b = BUF_INIT;
    bool ok = caps_ver(hash, query, &b) == CAPS_OK && b.len == strlen(ver) &&
              memcmp(b.data, ver, b.len) == 0;
    buf_release(&b);
    return ok;
}
