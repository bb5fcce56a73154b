/*
 * fuzz.h - shared bits of the libFuzzer targets in fuzz/ (STYLE.md §10:
 * every parser of peer or disk input is fuzzed).  Each target defines
 * LLVMFuzzerTestOneInput and links only the static library it tests; with
 * clang it is linked with -fsanitize=fuzzer, otherwise with replay_main.c,
 * which runs the seed corpus once (see docs/fuzzing.md).
 *
 * A failed invariant calls FZ_CHECK, which aborts so that libFuzzer (or the
 * replayer under ASan) reports the input.  PL_ASSERT is not used for that
 * on purpose: it may compile out in release builds, a fuzz check must not.
 */
#ifndef PARLEY_FUZZ_FUZZ_H
#define PARLEY_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CHECK(e)                                                        \
    do {                                                                   \
        if (!(e)) {                                                        \
            fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n",          \
                    __FILE__, __LINE__, #e);                               \
            abort();                                                       \
        }                                                                  \
    } while (0)

/* A NUL-terminated heap copy of the input (caller frees).  Embedded NULs
 * stay: C-string APIs then see a prefix, which is what a peer achieves by
 * sending one. */
static inline char *fz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Splits data at the first occurrence of the 2-byte separator "\xff\xff"
 * (invalid UTF-8, so never part of a well-formed message): *head and *hlen are
 * what comes before it, and data/size advance past it.  Without a
 * separator the whole rest is the head.  Returns 0 when nothing is left. */
static inline int fz_next(const uint8_t **data, size_t *size,
                          const uint8_t **head, size_t *hlen)
{
    if (*size == 0 && *head != NULL)
        return 0;
    const uint8_t *p = *data;
    size_t n = *size;
    for (size_t i = 0; i + 1 < n; i++) {
        if (p[i] == 0xff && p[i + 1] == 0xff) {
            *head = p;
            *hlen = i;
            *data = p + i + 2;
            *size = n - i - 2;
            return 1;
        }
    }
    *head = p;
    *hlen = n;
    *data = p + n;
    *size = 0;
    return 1;
}

#endif
