/*
 * xmldoc.h - one XML element kept as text in per-user storage (private
 * XML, XEP-0049; vCards, XEP-0054) and parsed back when asked for.
 *
 * Pure logic over the XML library: no server header, unit-tested alone
 * (tests/unit/modules/test_xmldoc.c).
 */
#ifndef PARLEY_MODULES_XMLDOC_H
#define PARLEY_MODULES_XMLDOC_H

#include <stddef.h>

#include "core/buf.h"
#include "xml/xml.h"

/* Appends el (and its subtree) to out as a self-contained fragment: its
 * namespace is always declared, so it reads back the same anywhere. */
void xmldoc_encode(const struct xml_node *el, struct buf *out);

/* Parses text produced by xmldoc_encode().  Returns a new stanza whose
 * root is the element (caller unrefs), or NULL when the text is not
 * exactly one well-formed element (a damaged row). */
struct stanza *xmldoc_decode(const char *text, size_t len);

/* Bytes xmldoc_encode() would write for el: what a size limit compares
 * (the stored form, not the client's spelling of it). */
size_t xmldoc_size(const struct xml_node *el);

#endif
