/* fields.c - see fields.h. */
#include "core/fields.h"

#include <string.h>

bool fields_split(const char *s, size_t len, char sep, size_t n, const char **f,
                  size_t *fl)
{
    const char *p = s, *end = s + len;
    size_t nf = 0;
    while (nf < n) {
        const char *at = memchr(p, sep, (size_t)(end - p));
        f[nf] = p;
        fl[nf] = at ? (size_t)(at - p) : (size_t)(end - p);
        nf++;
        if (!at)
            break;
        p = at + 1;
    }
    /* Exactly n fields: the last must run to the end. */
    return nf == n && f[n - 1] + fl[n - 1] == end;
}
