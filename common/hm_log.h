/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hm_log — logging for HyperMesh processes that are not DPDK lcores.
 *
 * DPDK code logs through its own RTE_LOG type (RTE_LOG_REGISTER_DEFAULT);
 * everything else (controld, runtime, tools, tests) logs here. Lines go to
 * stderr as "<module>: <level>: <message>", one line per call, never on a
 * packet path.
 *
 * Thread safety: hm_log() may be called from any thread; each call is one
 * write(2), so lines from different threads do not interleave.
 */
#ifndef HM_LOG_H
#define HM_LOG_H

#include <stdarg.h>

/* syslog(3) numbering, so levels read the same everywhere. */
enum hm_log_level {
	HM_LOG_ERR = 3,
	HM_LOG_WARN = 4,
	HM_LOG_INFO = 6,
	HM_LOG_DEBUG = 7,
};

/* Messages above this level are discarded. Default HM_LOG_INFO. */
void hm_log_set_level(enum hm_log_level level);
enum hm_log_level hm_log_get_level(void);

/*
 * Parse "err", "warn", "info" or "debug" (or 3..7).
 * Returns 0, or -EINVAL when @name is none of those.
 */
int hm_log_level_parse(const char *name, enum hm_log_level *out);

void hm_log(enum hm_log_level level, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void hm_vlog(enum hm_log_level level, const char *module, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

#define HM_ERR(mod, ...) hm_log(HM_LOG_ERR, mod, __VA_ARGS__)
#define HM_WARN(mod, ...) hm_log(HM_LOG_WARN, mod, __VA_ARGS__)
#define HM_INFO(mod, ...) hm_log(HM_LOG_INFO, mod, __VA_ARGS__)
#define HM_DEBUG(mod, ...) hm_log(HM_LOG_DEBUG, mod, __VA_ARGS__)

#endif /* HM_LOG_H */
