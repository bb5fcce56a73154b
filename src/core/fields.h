/*
 * fields.h - splitting a stored record into separator-delimited fields
 * (SCRAM credentials "name:ITER:SALT:STORED:SERVER", FAST token slots).
 */
#ifndef PARLEY_CORE_FIELDS_H
#define PARLEY_CORE_FIELDS_H

#include <stdbool.h>
#include <stddef.h>

/* Splits s[0..len) at 'sep' into exactly n fields (pointers into s and
 * their lengths).  True only when there are exactly n fields: fewer, or a
 * separator inside the last one, is false. */
bool fields_split(const char *s, size_t len, char sep, size_t n, const char **f,
                  size_t *fl);

#endif
