/*
 * precis.h - PRECIS string preparation (RFC 8264) and the two profiles of
 * RFC 8265 that XMPP addresses use (RFC 7622 §3.3-3.4):
 * UsernameCaseMapped (IdentifierClass) and OpaqueString (FreeformClass).
 *
 * The Unicode data is libunistring's (Unicode 14 in Debian 12); nothing
 * is cached, so the code holds no state.
 */
#ifndef PARLEY_CORE_PRECIS_H
#define PARLEY_CORE_PRECIS_H

#include <stddef.h>
#include <stdint.h>

/* Longest input precis_enforce() accepts (bytes).  It bounds the stack
 * and CPU a peer can make us spend; callers refuse longer strings first. */
#define PRECIS_IN_MAX 4095

enum precis_profile {
    PRECIS_USERNAME_CASEMAPPED,     /* RFC 8265 §3.3 */
    PRECIS_OPAQUE_STRING,           /* RFC 8265 §4.2 */
};

/* The derived property of a code point (RFC 8264 §8).  ID_DIS is the
 * value the RFC calls "ID_DIS or FREE_PVAL": disallowed in the
 * IdentifierClass, valid in the FreeformClass. */
enum precis_prop {
    PRECIS_PVALID,
    PRECIS_ID_DIS,
    PRECIS_CONTEXTJ,
    PRECIS_CONTEXTO,
    PRECIS_DISALLOWED,
    PRECIS_UNASSIGNED,
};

enum precis_prop precis_property(uint32_t cp);

/* Enforces 'profile' on in[0..n) (UTF-8, checked here) and writes the
 * result, NUL-terminated, to out (cap bytes).  Returns the result's
 * length, or -1 when the input is bad UTF-8, longer than PRECIS_IN_MAX,
 * violates the profile, is empty, or its result does not fit in cap-1
 * bytes. */
int precis_enforce(enum precis_profile profile, const char *in, size_t n,
                   char *out, size_t cap);

#endif
