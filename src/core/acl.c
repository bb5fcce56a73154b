/* acl.c - access rules (acl.h).  (stub: being written) */
#include "core/acl.h"

#include <string.h>

bool acl_allowed(const struct conf *c, const char *rule, const struct acl_subject *who)
{
    (void)c;
    (void)who;
    return strcmp(rule, "all") == 0;
}
