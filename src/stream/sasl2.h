/*
 * sasl2.h - what c2s's SASL2/Bind2 code (XEP-0388, XEP-0386) calls in
 * modules: functions with a module-side body that c2s needs for inline
 * features.  Kept tiny; the modules include it for the prototype.
 */
#ifndef PARLEY_STREAM_SASL2_H
#define PARLEY_STREAM_SASL2_H

struct pl_module_ctx;

/* modules/carbons.c: XEP-0386 §3.2 inline <enable xmlns='urn:xmpp:carbons:2'/>
 * for the session 'full' of the carbons instance m (it "MUST succeed" and
 * has no answer of its own). */
void carbons_enable_session(const struct pl_module_ctx *m, const char *full);

#endif
