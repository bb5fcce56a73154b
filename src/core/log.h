/*
 * log.h - leveled logging to stderr.
 *
 * The level is tested before anything is formatted.  The logger is the one
 * piece of process-wide mutable state (rule zero: every library layer logs,
 * and threading a context through xml/ and jid/ for it would couple them to
 * the server); it is set once at start-up and on reload, from the loop thread.
 * Never log passwords, SASL payloads or tokens.
 */
#ifndef PARLEY_CORE_LOG_H
#define PARLEY_CORE_LOG_H

enum log_level {
    LOG_DEBUG,
    LOG_INFO,
    LOG_NOTICE,
    LOG_WARN,
    LOG_ERROR,
};

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Returns 0 and sets *out, or -1 for an unknown name. */
int log_level_parse(const char *name, enum log_level *out);
const char *log_level_name(enum log_level level);

void log_write(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define PL_LOG(lvl, ...) \
    do { if ((lvl) >= log_get_level()) log_write((lvl), __VA_ARGS__); } while (0)
#define log_debug(...)  PL_LOG(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)   PL_LOG(LOG_INFO, __VA_ARGS__)
#define log_notice(...) PL_LOG(LOG_NOTICE, __VA_ARGS__)
#define log_warn(...)   PL_LOG(LOG_WARN, __VA_ARGS__)
#define log_error(...)  PL_LOG(LOG_ERROR, __VA_ARGS__)

#endif
