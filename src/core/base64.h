/*
 * base64.h - strict base64 (RFC 4648 §4), as SASL requires (RFC 6120 §6.4.2:
 * no line breaks, no whitespace; bad input is <incorrect-encoding/>).
 */
#ifndef PARLEY_CORE_BASE64_H
#define PARLEY_CORE_BASE64_H

#include <stddef.h>
#include "core/buf.h"

void base64_encode(struct buf *out, const void *data, size_t len);
/* Appends the decoded bytes to out.  Returns 0, or -1 on any character
 * outside the alphabet, bad padding or a length not a multiple of 4. */
int base64_decode(struct buf *out, const char *s, size_t len);

#endif
