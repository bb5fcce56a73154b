/*
 * precis.c - PRECIS (RFC 8264) with the UsernameCaseMapped and
 * OpaqueString profiles (RFC 8265), for XMPP localparts and resourceparts
 * (RFC 7622 §3.3-3.4).
 *
 * Enforcement follows RFC 8264 §7: the mappings of the profile (width or
 * additional mapping, then case mapping) in one pass per code point,
 * Unicode NFC, the Bidi Rule where the profile has it, and then the
 * behavioural rules: every code point of the result must be valid in the
 * base class, by its derived property (§8) and, for CONTEXTJ/CONTEXTO
 * code points, by its context rule (RFC 5892 Appendix A).  Unassigned
 * code points are disallowed, so the accepted set grows with the Unicode
 * version of libunistring (RFC 8264 §11).
 */
#include "core/precis.h"
#include "core/utf8.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <unictype.h>
#include <uninorm.h>
#include <unistr.h>

#define NO_CP ((ucs4_t)-1)

/* ---- Derived property (RFC 8264 §8-9) ---------------------------------- */

/* Exceptions (§9.6, the table of RFC 5892 §2.6). */
static bool exception(ucs4_t cp, enum precis_prop *p)
{
    switch (cp) {
    case 0x00DF: case 0x03C2: case 0x06FD: case 0x06FE: case 0x0F0B:
    case 0x3007:
        *p = PRECIS_PVALID;
        return true;
    case 0x00B7: case 0x0375: case 0x05F3: case 0x05F4: case 0x30FB:
        *p = PRECIS_CONTEXTO;
        return true;
    case 0x0640: case 0x07FA: case 0x302E: case 0x302F: case 0x3031:
    case 0x3032: case 0x3033: case 0x3034: case 0x3035: case 0x303B:
        *p = PRECIS_DISALLOWED;
        return true;
    default:
        break;
    }
    if ((cp >= 0x0660 && cp <= 0x0669) || (cp >= 0x06F0 && cp <= 0x06F9)) {
        *p = PRECIS_CONTEXTO;
        return true;
    }
    return false;
}

/* OldHangulJamo (§9.9): Hangul_Syllable_Type L, V or T.  libunistring
 * has no accessor for that property; its ranges have been fixed since
 * Unicode 5.2. */
static bool old_hangul_jamo(ucs4_t cp)
{
    return (cp >= 0x1100 && cp <= 0x11FF) ||      /* L, V and T */
           (cp >= 0xA960 && cp <= 0xA97C) ||      /* L */
           (cp >= 0xD7B0 && cp <= 0xD7C6) ||      /* V */
           (cp >= 0xD7CB && cp <= 0xD7FB);        /* T */
}

/* Noncharacter_Code_Point: U+FDD0-FDEF and the last two code points of
 * every plane, a set Unicode has closed.  libunistring 1.0 has no
 * accessor for it. */
static bool noncharacter(ucs4_t cp)
{
    return (cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE;
}

/* HasCompat (§9.17): toNFKC(cp) != cp.  Without a decomposition NFKC
 * keeps cp, and a compatibility decomposition always changes it, so only
 * canonical decompositions (singletons, composition exclusions, pieces
 * with compatibility mappings) need the normalizer. */
static bool has_compat(ucs4_t cp)
{
    ucs4_t d[UC_DECOMPOSITION_MAX_LENGTH];
    int type;
    if (uc_decomposition(cp, &type, d) < 0)
        return false;
    if (type != UC_DECOMP_CANONICAL)
        return true;
    ucs4_t buf[2 * UC_DECOMPOSITION_MAX_LENGTH];
    size_t len = sizeof(buf) / sizeof(buf[0]);
    ucs4_t *r = u32_normalize(UNINORM_NFKC, &cp, 1, buf, &len);
    if (!r)
        return true;                /* out of memory: refuse, not guess */
    bool same = len == 1 && r[0] == cp;
    if (r != buf)
        free(r);
    return !same;
}

#define LETTER_DIGITS (UC_CATEGORY_MASK_Ll | UC_CATEGORY_MASK_Lu | \
                       UC_CATEGORY_MASK_Lo | UC_CATEGORY_MASK_Nd | \
                       UC_CATEGORY_MASK_Lm | UC_CATEGORY_MASK_Mn | \
                       UC_CATEGORY_MASK_Mc)
/* OtherLetterDigits, Spaces, Symbols and Punctuation (§9.10, 9.14-16):
 * all "ID_DIS or FREE_PVAL". */
#define FREEFORM_ONLY (UC_CATEGORY_MASK_Lt | UC_CATEGORY_MASK_Nl | \
                       UC_CATEGORY_MASK_No | UC_CATEGORY_MASK_Me | \
                       UC_CATEGORY_MASK_Zs | UC_CATEGORY_MASK_S | \
                       UC_CATEGORY_MASK_P)

/* The algorithm of §8, in its order: the first category a code point
 * belongs to decides.  BackwardCompatible (§9.7) is empty. */
enum precis_prop precis_property(uint32_t cp)
{
    enum precis_prop p;
    if (exception(cp, &p))
        return p;
    uint32_t cat = uc_general_category(cp).bitmask;
    bool nonchar = noncharacter(cp);
    if ((cat & UC_CATEGORY_MASK_Cn) && !nonchar)
        return PRECIS_UNASSIGNED;
    if (cp >= 0x21 && cp <= 0x7E)                       /* ASCII7 */
        return PRECIS_PVALID;
    if (uc_is_property_join_control(cp))
        return PRECIS_CONTEXTJ;
    if (old_hangul_jamo(cp))
        return PRECIS_DISALLOWED;
    if (nonchar || uc_is_property_default_ignorable_code_point(cp))
        return PRECIS_DISALLOWED;                       /* §9.13 */
    if (cat & UC_CATEGORY_MASK_Cc)
        return PRECIS_DISALLOWED;
    if (has_compat(cp))
        return PRECIS_ID_DIS;
    if (cat & LETTER_DIGITS)
        return PRECIS_PVALID;
    if (cat & FREEFORM_ONLY)
        return PRECIS_ID_DIS;
    return PRECIS_DISALLOWED;
}

/* ---- Context rules (RFC 5892 Appendix A) -------------------------------- */

/* A UTF-8 string known to be valid, with the code point under test at
 * [at, next). */
struct ctx {
    const uint8_t *s;
    size_t n, at, next;
};

static ucs4_t before(const struct ctx *c)
{
    ucs4_t cp;
    return u8_prev(&cp, c->s + c->at, c->s) ? cp : NO_CP;
}

static ucs4_t after(const struct ctx *c)
{
    ucs4_t cp;
    if (c->next >= c->n)
        return NO_CP;
    u8_mbtouc(&cp, c->s + c->next, c->n - c->next);
    return cp;
}

static bool script_is(ucs4_t cp, const char *name)
{
    const uc_script_t *sc = cp == NO_CP ? NULL : uc_script(cp);
    return sc && strcmp(sc->name, name) == 0;
}

static bool after_virama(const struct ctx *c)
{
    ucs4_t b = before(c);
    return b != NO_CP && uc_combining_class(b) == UC_CCC_VR;
}

/* A.1, second rule: (Joining_Type:{L,D})(Joining_Type:T)* ZWNJ
 * (Joining_Type:T)*(Joining_Type:{R,D}). */
static bool zwnj_joins(const struct ctx *c)
{
    const uint8_t *p = c->s + c->at;
    ucs4_t cp;
    int jt;
    do {
        p = u8_prev(&cp, p, c->s);
        if (!p)
            return false;
        jt = uc_joining_type(cp);
    } while (jt == UC_JOINING_TYPE_T);
    if (jt != UC_JOINING_TYPE_L && jt != UC_JOINING_TYPE_D)
        return false;
    size_t i = c->next;
    do {
        if (i >= c->n)
            return false;
        i += (size_t)u8_mbtouc(&cp, c->s + i, c->n - i);
        jt = uc_joining_type(cp);
    } while (jt == UC_JOINING_TYPE_T);
    return jt == UC_JOINING_TYPE_R || jt == UC_JOINING_TYPE_D;
}

/* Whether the whole string has a code point for which pred() holds: the
 * rules for KATAKANA MIDDLE DOT and the two sets of Arabic digits look at
 * everything, not at neighbours. */
static bool any_cp(const struct ctx *c, bool (*pred)(ucs4_t))
{
    for (size_t i = 0; i < c->n; ) {
        ucs4_t cp;
        i += (size_t)u8_mbtouc(&cp, c->s + i, c->n - i);
        if (pred(cp))
            return true;
    }
    return false;
}

static bool is_japanese(ucs4_t cp)
{
    return script_is(cp, "Hiragana") || script_is(cp, "Katakana") ||
           script_is(cp, "Han");
}

static bool is_arabic_indic(ucs4_t cp)
{
    return cp >= 0x0660 && cp <= 0x0669;
}

static bool is_ext_arabic_indic(ucs4_t cp)
{
    return cp >= 0x06F0 && cp <= 0x06F9;
}

static bool context_ok(ucs4_t cp, const struct ctx *c)
{
    switch (cp) {
    case 0x200C:                                /* A.1 ZERO WIDTH NON-JOINER */
        return after_virama(c) || zwnj_joins(c);
    case 0x200D:                                /* A.2 ZERO WIDTH JOINER */
        return after_virama(c);
    case 0x00B7:                                /* A.3 MIDDLE DOT: l·l */
        return before(c) == 'l' && after(c) == 'l';
    case 0x0375:                                /* A.4 GREEK KERAIA */
        return script_is(after(c), "Greek");
    case 0x05F3: case 0x05F4:                   /* A.5-6 GERESH, GERSHAYIM */
        return script_is(before(c), "Hebrew");
    case 0x30FB:                                /* A.7 KATAKANA MIDDLE DOT */
        return any_cp(c, is_japanese);
    default:
        break;
    }
    if (is_arabic_indic(cp))                    /* A.8 */
        return !any_cp(c, is_ext_arabic_indic);
    if (is_ext_arabic_indic(cp))                /* A.9 */
        return !any_cp(c, is_arabic_indic);
    return false;
}

/* Whether every code point of s is valid in the class (RFC 8264 §4.2.1,
 * §4.3.1): ID_DIS ones only in the FreeformClass. */
static bool class_ok(const uint8_t *s, size_t n, bool freeform)
{
    struct ctx c = { .s = s, .n = n };
    for (size_t i = 0; i < n; ) {
        ucs4_t cp;
        int k = u8_mbtouc(&cp, s + i, n - i);
        c.at = i;
        c.next = i + (size_t)k;
        switch (precis_property(cp)) {
        case PRECIS_PVALID:
            break;
        case PRECIS_ID_DIS:
            if (!freeform)
                return false;
            break;
        case PRECIS_CONTEXTJ:
        case PRECIS_CONTEXTO:
            if (!context_ok(cp, &c))
                return false;
            break;
        default:
            return false;
        }
        i = c.next;
    }
    return true;
}

/* ---- The Bidi Rule (RFC 5893 §2) ---------------------------------------- */

static bool is_rtl_class(int bc)
{
    return bc == UC_BIDI_R || bc == UC_BIDI_AL || bc == UC_BIDI_AN;
}

/* Conditions 2 and 5: the classes an RTL or LTR string may contain. */
static bool bidi_allowed(int bc, bool rtl)
{
    switch (bc) {
    case UC_BIDI_EN: case UC_BIDI_ES: case UC_BIDI_CS: case UC_BIDI_ET:
    case UC_BIDI_ON: case UC_BIDI_BN: case UC_BIDI_NSM:
        return true;
    case UC_BIDI_L:
        return !rtl;
    case UC_BIDI_R: case UC_BIDI_AL: case UC_BIDI_AN:
        return rtl;
    default:
        return false;
    }
}

/* The rule constrains only strings with an R, AL or AN character (a
 * "Bidi domain name", §1.4); the others, ASCII included, pass. */
static bool bidi_rule_ok(const uint8_t *s, size_t n)
{
    bool bidi = false;
    for (size_t i = 0; i < n && !bidi; ) {
        ucs4_t cp;
        i += (size_t)u8_mbtouc(&cp, s + i, n - i);
        bidi = is_rtl_class(uc_bidi_class(cp));
    }
    if (!bidi)
        return true;
    ucs4_t cp;
    u8_mbtouc(&cp, s, n);
    int first = uc_bidi_class(cp);
    if (first != UC_BIDI_L && first != UC_BIDI_R && first != UC_BIDI_AL)
        return false;                                           /* 1 */
    bool rtl = first != UC_BIDI_L, en = false, an = false;
    int last = first;                   /* last class other than NSM */
    for (size_t i = 0; i < n; ) {
        i += (size_t)u8_mbtouc(&cp, s + i, n - i);
        int bc = uc_bidi_class(cp);
        if (!bidi_allowed(bc, rtl))
            return false;                                       /* 2, 5 */
        en |= bc == UC_BIDI_EN;
        an |= bc == UC_BIDI_AN;
        if (bc != UC_BIDI_NSM)
            last = bc;
    }
    if (rtl)
        return !(en && an) &&                                   /* 4 */
               (last == UC_BIDI_R || last == UC_BIDI_AL ||      /* 3 */
                last == UC_BIDI_EN || last == UC_BIDI_AN);
    return last == UC_BIDI_L || last == UC_BIDI_EN;             /* 6 */
}

/* ---- Profiles (RFC 8265) ------------------------------------------------ */

/* Width mapping (§3.3.1 rule 1): fullwidth and halfwidth forms to their
 * decomposition, which is always one code point. */
static ucs4_t width_map(ucs4_t cp)
{
    ucs4_t d[UC_DECOMPOSITION_MAX_LENGTH];
    int type;
    if (cp < 0x80 || uc_decomposition(cp, &type, d) != 1)
        return cp;
    return type == UC_DECOMP_WIDE || type == UC_DECOMP_NARROW ? d[0] : cp;
}

/* The mapping rules of a profile for one code point, into out (room for
 * at least 6 bytes).  UsernameCaseMapped: width mapping, then Unicode
 * toLowerCase() (rule 3).  The full lower-case mapping differs from the
 * simple one only for U+0130 and under conditions: Final_Sigma, which
 * PRECIS does not apply (RFC 7622 §3.5 examples 9-11), and
 * language-specific ones, which it forbids; so the simple mapping plus
 * U+0130 is exactly the operation.  OpaqueString: non-ASCII spaces to
 * U+0020 (§4.2.1 rule 2), nothing else.  Returns the bytes written. */
static size_t map_cp(enum precis_profile profile, ucs4_t cp, uint8_t *out)
{
    if (profile == PRECIS_OPAQUE_STRING) {
        if (cp >= 0x80 && uc_is_general_category(cp, UC_CATEGORY_Zs))
            cp = ' ';
        return (size_t)u8_uctomb(out, cp, 6);
    }
    cp = width_map(cp);
    if (cp == 0x0130) {                         /* İ -> i + COMBINING DOT ABOVE */
        memcpy(out, "i\xcc\x87", 3);
        return 3;
    }
    return (size_t)u8_uctomb(out, uc_tolower(cp), 6);
}

int precis_enforce(enum precis_profile profile, const char *in, size_t n,
                   char *out, size_t cap)
{
    if (!in || n == 0 || n > PRECIS_IN_MAX || cap == 0 || !utf8_valid(in, n))
        return -1;
    /* The mappings grow a string at most by half: the worst are 2-byte
     * code points with 3-byte lower-case forms (U+0130, U+023A, U+023E);
     * width mapping and the space mapping never lengthen. */
    uint8_t mapped[PRECIS_IN_MAX + PRECIS_IN_MAX / 2 + 8];
    size_t m = 0;
    const uint8_t *s = (const uint8_t *)in;
    for (size_t i = 0; i < n; ) {
        ucs4_t cp;
        i += (size_t)u8_mbtouc(&cp, s + i, n - i);
        m += map_cp(profile, cp, mapped + m);
    }
    /* NFC straight into out; a result that does not fit comes back in a
     * buffer of libunistring's and is too long anyway. */
    size_t len = cap - 1;
    uint8_t *r = u8_normalize(UNINORM_NFC, mapped, m, (uint8_t *)out, &len);
    if (!r)
        return -1;
    if (r != (uint8_t *)out) {
        free(r);
        return -1;
    }
    out[len] = '\0';
    if (len == 0)
        return -1;
    bool freeform = profile == PRECIS_OPAQUE_STRING;
    /* The Bidi Rule is UsernameCaseMapped's directionality rule; the
     * OpaqueString profile has none. */
    if (!freeform && !bidi_rule_ok(r, len))
        return -1;
    if (!class_ok(r, len, freeform))
        return -1;
    return (int)len;
}
