/*
 * sasl_internal.h - what sasl.c (mechanism table, PLAIN, credentials) and
 * scram.c (RFC 5802/7677 exchange) share.  Not for use outside
 * src/stream/sasl/: the public contract is sasl.h.
 */
#ifndef PARLEY_STREAM_SASL_SASL_INTERNAL_H
#define PARLEY_STREAM_SASL_SASL_INTERNAL_H

#include "stream/sasl/sasl.h"

enum sasl_mech_kind {
    SASL_MECH_PLAIN,
    SASL_MECH_SCRAM,
};

struct sasl_mech {
    const char *name;               /* IANA SASL mechanism name */
    enum sasl_mech_kind kind;
    enum sasl_hash hash;            /* SCRAM only */
    bool plus;                      /* SCRAM with channel binding */
};

enum sasl_state {
    SASL_ST_START,                  /* nothing received yet */
    SASL_ST_SENT_EMPTY,             /* empty challenge sent, want the first message */
    SASL_ST_NEED_CREDS,             /* waiting for sasl_creds() */
    SASL_ST_WAIT_FINAL,             /* SCRAM: server-first sent */
    SASL_ST_DONE,                   /* success or failure reported */
};

enum scram_cb {
    SCRAM_CB_NONE,                  /* gs2 flag 'n' or 'y' */
    SCRAM_CB_EXPORTER,              /* p=tls-exporter (RFC 9266) */
    SCRAM_CB_ENDPOINT,              /* p=tls-server-end-point (RFC 5929 §4) */
};

/* Longest client message accepted (bytes, after base64 decoding).  PLAIN
 * needs at most 3*255+2; SCRAM messages carry a name, a nonce and a proof,
 * so 4 KiB leaves room for long UTF-8 names without letting a peer make us
 * copy and hash megabytes. */
#define SASL_MSG_MAX 4096

struct sasl_ctx {
    const struct sasl_mech *mech;   /* static table entry */
    struct sasl_channel ch;         /* copy of the stream's channel */
    enum sasl_state state;
    char *username;                 /* owned; decoded authcid */
    char *authzid;                  /* owned; NULL when absent */
    char *password;                 /* owned, PLAIN only; cleansed on free */
    char *test_nonce;               /* owned; sasl_set_server_nonce() */
    uint8_t fake_key[32];           /* random: fake salts for unknown users */

    /* SCRAM state, filled in step by step. */
    enum scram_cb cb;               /* channel binding the client chose */
    struct buf gs2_header;          /* "n,," / "p=tls-exporter,a=x," ... */
    struct buf client_first_bare;   /* for AuthMessage */
    struct buf server_first;        /* for AuthMessage */
    struct buf nonce;               /* client nonce, then client+server */
    bool unknown_user;              /* creds absent: fail at the end */
    struct scram_keys keys;         /* copy of the user's keys; cleansed */
};

/* Sets a failure reply and moves ctx to DONE; returns SASL_FAILURE. */
enum sasl_status sasl_fail(struct sasl_ctx *ctx, struct sasl_reply *reply,
                           const char *condition, const char *text);

/* scram.c */
enum sasl_status scram_step(struct sasl_ctx *ctx, const uint8_t *in, size_t len,
                            struct sasl_reply *reply);
enum sasl_status scram_creds(struct sasl_ctx *ctx, const struct sasl_creds *creds,
                             struct sasl_reply *reply);
/* Fills salt_out (salt_len bytes, at most 32) from the per-context key and
 * the user name, so that the same unknown name gets the same salt for the
 * life of the context. */
void scram_fake_salt(const struct sasl_ctx *ctx, const char *name,
                     uint8_t *salt_out, size_t salt_len);

#endif
