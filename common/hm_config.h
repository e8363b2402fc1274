/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hm_config — configuration as a table (in the spirit of Redis'
 * standardConfig and HAProxy's keyword lists).
 *
 * A module describes each of its keys once: name, type, default, bounds,
 * whether it may change at run time, an optional validate hook and a help
 * line. The same table then sets defaults, loads "key = value" files,
 * applies single changes (e.g. from a control socket), prints the current
 * values and generates --help text, so no key is documented or checked in
 * two places.
 *
 * File format: one "key = value" per line; '#' starts a comment; blank lines
 * are ignored; values may be double-quoted. Unknown keys are errors.
 *
 * Errors: every function that can fail returns 0 or a negative errno and,
 * when @err is not NULL, writes one line naming the key and the value, e.g.
 *   "ring_size" is 1000: must be a power of two
 * A failed load or set leaves the target object untouched: values are
 * parsed into a scratch copy and committed only when all of them are valid.
 *
 * Thread safety: none; callers serialise access to the object.
 */
#ifndef HM_CONFIG_H
#define HM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum hm_cfg_type {
	HM_CFG_U32,    /* uint32_t, bounds min..max */
	HM_CFG_I32,    /* int32_t, bounds min..max */
	HM_CFG_U64,    /* uint64_t, bounds min..max (max 0 = no upper bound) */
	HM_CFG_DOUBLE, /* double, bounds dmin..dmax */
	HM_CFG_BOOL,   /* bool: true/false, yes/no, on/off, 1/0 */
	HM_CFG_STR,    /* char[size], NUL-terminated; longer values are errors */
	HM_CFG_ENUM,   /* int, index into enum_names */
	HM_CFG_CUSTOM, /* parsed by the parse hook into size bytes at offset */
};

struct hm_cfg_key;

/*
 * Validate or parse hooks write one reason (without the key name, which the
 * caller adds) into @why and return -EINVAL when the value is refused.
 * @obj is the whole scratch object, so a hook may check one key against
 * another that was set earlier in the same file.
 */
typedef int (*hm_cfg_validate_fn)(const struct hm_cfg_key *key, const void *obj, char *why,
				  size_t whylen);
typedef int (*hm_cfg_parse_fn)(const char *text, void *field, char *why, size_t whylen);
typedef int (*hm_cfg_format_fn)(const void *field, char *buf, size_t buflen);

struct hm_cfg_key {
	const char *name;
	enum hm_cfg_type type;
	const char *def;	 /* default, as text; parsed like a file value */
	size_t offset;		 /* offsetof() the field in the config struct */
	size_t size;		 /* sizeof the field (STR buffer size, CUSTOM size) */
	int64_t min, max;	 /* integer bounds, inclusive */
	double dmin, dmax;	 /* double bounds, inclusive */
	const char *const *enum_names; /* ENUM: NULL-terminated list */
	bool runtime;		 /* may change while the process runs */
	hm_cfg_validate_fn validate;
	hm_cfg_parse_fn parse;	 /* CUSTOM only */
	hm_cfg_format_fn format; /* CUSTOM only: for printing */
	const char *help;
};

/* Field helpers for table entries. */
#define HM_CFG_FIELD(type_, member) .offset = offsetof(type_, member), .size = sizeof(((type_ *)0)->member)

/* A config table: keys plus the size of the object they fill. */
struct hm_cfg_table {
	const char *what; /* e.g. "dataplane config", used in messages */
	const struct hm_cfg_key *keys;
	size_t n_keys;
	size_t obj_size;
};

/* Find a key by name; NULL when there is none. */
const struct hm_cfg_key *hm_cfg_find(const struct hm_cfg_table *t, const char *name);

/*
 * Fill @obj with every key's default. Returns 0, or -EINVAL when a default
 * in the table itself is invalid (a programming error, reported in @err).
 */
int hm_cfg_defaults(const struct hm_cfg_table *t, void *obj, char *err, size_t errlen);

/*
 * Set one key from text. @only_runtime refuses keys not marked runtime with
 * -EPERM. Returns 0, -ENOENT for an unknown key, -EINVAL for a bad value,
 * -EPERM; @obj is unchanged on error.
 */
int hm_cfg_set(const struct hm_cfg_table *t, void *obj, const char *name, const char *value,
	       bool only_runtime, char *err, size_t errlen);

/*
 * Load a file into @obj (which should already hold defaults). All lines are
 * checked; the first error is reported as "path:line: <reason>". Returns 0,
 * -ENOENT/-EACCES/... when the file cannot be read, -EINVAL on a bad line.
 * @obj is unchanged on error.
 */
int hm_cfg_load_file(const struct hm_cfg_table *t, void *obj, const char *path, char *err,
		     size_t errlen);

/* Same as hm_cfg_load_file() on a string already in memory; @name is used in messages. */
int hm_cfg_load_string(const struct hm_cfg_table *t, void *obj, const char *text,
		       const char *name, char *err, size_t errlen);

/* Format one key's current value into @buf. Returns 0 or -ENOSPC. */
int hm_cfg_format(const struct hm_cfg_key *key, const void *obj, char *buf, size_t buflen);

/* Print "key = value" for every key. */
void hm_cfg_print(const struct hm_cfg_table *t, const void *obj, FILE *out);

/* Print the keys with type, default, bounds and help, for --help. */
void hm_cfg_print_help(const struct hm_cfg_table *t, FILE *out);

/* Shared validate hook: the U32 value must be a power of two. */
int hm_cfg_validate_pow2(const struct hm_cfg_key *key, const void *obj, char *why, size_t whylen);

#endif /* HM_CONFIG_H */
