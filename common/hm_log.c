/* SPDX-License-Identifier: BSD-3-Clause */
#include "hm_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static enum hm_log_level hm_log_level = HM_LOG_INFO;

static const char *const hm_log_names[] = {
	[HM_LOG_ERR] = "error",
	[HM_LOG_WARN] = "warning",
	[HM_LOG_INFO] = "info",
	[HM_LOG_DEBUG] = "debug",
};

void hm_log_set_level(enum hm_log_level level)
{
	hm_log_level = level;
}

enum hm_log_level hm_log_get_level(void)
{
	return hm_log_level;
}

int hm_log_level_parse(const char *name, enum hm_log_level *out)
{
	static const struct {
		const char *name;
		enum hm_log_level level;
	} map[] = {
		{ "err", HM_LOG_ERR },	 { "error", HM_LOG_ERR }, { "warn", HM_LOG_WARN },
		{ "warning", HM_LOG_WARN }, { "info", HM_LOG_INFO }, { "debug", HM_LOG_DEBUG },
	};
	char *end;
	long v;

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(name, map[i].name) == 0) {
			*out = map[i].level;
			return 0;
		}
	}
	errno = 0;
	v = strtol(name, &end, 10);
	if (errno == 0 && end != name && *end == '\0' && v >= HM_LOG_ERR && v <= HM_LOG_DEBUG &&
	    hm_log_names[v] != NULL) {
		*out = (enum hm_log_level)v;
		return 0;
	}
	return -EINVAL;
}

void hm_vlog(enum hm_log_level level, const char *module, const char *fmt, va_list ap)
{
	char line[1024];
	int n, m;

	if (level > hm_log_level)
		return;
	n = snprintf(line, sizeof(line), "%s: %s: ", module,
		     level <= HM_LOG_DEBUG && hm_log_names[level] ? hm_log_names[level] : "log");
	if (n < 0)
		return;
	m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n >= sizeof(line) - 1)
		n = sizeof(line) - 2; /* truncated: keep the newline */
	if (line[n - 1] != '\n')
		line[n++] = '\n';
	/* One write(2) per line so concurrent writers do not interleave. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

void hm_log(enum hm_log_level level, const char *module, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hm_vlog(level, module, fmt, ap);
	va_end(ap);
}
