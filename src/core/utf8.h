/*
 * utf8.h - strict UTF-8 validation (RFC 3629): no overlong forms, no
 * surrogates, nothing above U+10FFFF, and no NUL, which no XMPP string
 * (JID part, SASL field, password) may contain.
 */
#ifndef PARLEY_CORE_UTF8_H
#define PARLEY_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

bool utf8_valid(const void *s, size_t len);

#endif
