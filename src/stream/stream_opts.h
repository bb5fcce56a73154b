/*
 * stream_opts.h - the per-host options of the stream_management
 * (XEP-0198) and csi (XEP-0352) modules.  The modules own the option
 * tables; c2s reads the values through modules_instance(srv, host,
 * name)->conf and the old-session registry through ->data.
 */
#ifndef PARLEY_STREAM_STREAM_OPTS_H
#define PARLEY_STREAM_STREAM_OPTS_H

struct sm_options {
    unsigned resume_timeout;    /* s a broken stream stays resumable (hibernated) */
    unsigned max_hibernated;    /* hibernated sessions per account; 0 = no resumption */
    unsigned max_old_sessions;  /* ended SM-IDs remembered per account for <failed h/> */
    unsigned old_session_lifetime; /* s such an SM-ID is remembered */
    unsigned max_unacked;       /* unacked stanzas queued per session */
};

struct csi_options {
    unsigned max_buffered;      /* presence stanzas held while inactive */
};

#endif
