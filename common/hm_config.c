/* SPDX-License-Identifier: BSD-3-Clause */
#include "hm_config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define HM_CFG_LINE_MAX 4096

const struct hm_cfg_key *hm_cfg_find(const struct hm_cfg_table *t, const char *name)
{
	for (size_t i = 0; i < t->n_keys; i++)
		if (strcmp(t->keys[i].name, name) == 0)
			return &t->keys[i];
	return NULL;
}

static int parse_int(const char *text, bool is_signed, int64_t *out, char *why, size_t whylen)
{
	char *end;

	errno = 0;
	if (is_signed) {
		long long v = strtoll(text, &end, 0);
		*out = v;
	} else {
		if (text[0] == '-') {
			snprintf(why, whylen, "must not be negative");
			return -EINVAL;
		}
		unsigned long long v = strtoull(text, &end, 0);
		if (v > INT64_MAX)
			errno = ERANGE;
		*out = (int64_t)v;
	}
	if (end == text || *end != '\0') {
		snprintf(why, whylen, "not an integer");
		return -EINVAL;
	}
	if (errno == ERANGE) {
		snprintf(why, whylen, "out of range");
		return -EINVAL;
	}
	return 0;
}

static int parse_bool(const char *text, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(text, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(text, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* Parse @text into the field of @obj; on error, @why gets the reason. */
static int key_parse(const struct hm_cfg_key *k, void *obj, const char *text, char *why,
		     size_t whylen)
{
	void *field = (char *)obj + k->offset;
	int64_t iv;
	int ret;

	switch (k->type) {
	case HM_CFG_U32:
	case HM_CFG_I32:
	case HM_CFG_U64:
		ret = parse_int(text, k->type == HM_CFG_I32, &iv, why, whylen);
		if (ret)
			return ret;
		if (iv < k->min || (k->max != 0 && iv > k->max) ||
		    (k->type == HM_CFG_U32 && iv > UINT32_MAX)) {
			snprintf(why, whylen, "must be between %" PRId64 " and %" PRId64, k->min,
				 k->max ? k->max : (k->type == HM_CFG_U32 ? UINT32_MAX : INT64_MAX));
			return -EINVAL;
		}
		if (k->type == HM_CFG_U32)
			*(uint32_t *)field = (uint32_t)iv;
		else if (k->type == HM_CFG_I32)
			*(int32_t *)field = (int32_t)iv;
		else
			*(uint64_t *)field = (uint64_t)iv;
		break;
	case HM_CFG_DOUBLE: {
		char *end;
		double d;

		errno = 0;
		d = strtod(text, &end);
		if (end == text || *end != '\0' || errno == ERANGE || !isfinite(d)) {
			snprintf(why, whylen, "not a number");
			return -EINVAL;
		}
		if (d < k->dmin || d > k->dmax) {
			snprintf(why, whylen, "must be between %g and %g", k->dmin, k->dmax);
			return -EINVAL;
		}
		*(double *)field = d;
		break;
	}
	case HM_CFG_BOOL:
		if (parse_bool(text, (bool *)field)) {
			snprintf(why, whylen, "must be true or false");
			return -EINVAL;
		}
		break;
	case HM_CFG_STR:
		if (strlen(text) >= k->size) {
			snprintf(why, whylen, "longer than %zu characters", k->size - 1);
			return -EINVAL;
		}
		strcpy((char *)field, text);
		break;
	case HM_CFG_ENUM: {
		size_t i;
		size_t n = 0;
		char list[256];

		for (i = 0; k->enum_names[i]; i++) {
			if (strcmp(text, k->enum_names[i]) == 0) {
				*(int *)field = (int)i;
				return 0;
			}
		}
		list[0] = '\0';
		for (i = 0; k->enum_names[i] && n < sizeof(list); i++)
			n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "",
					      k->enum_names[i]);
		snprintf(why, whylen, "must be one of: %s", list);
		return -EINVAL;
	}
	case HM_CFG_CUSTOM:
		return k->parse(text, field, why, whylen);
	}
	return 0;
}

/* Parse + validate one key into @obj; @err gets "\"key\" is value: why". */
static int key_set(const struct hm_cfg_key *k, void *obj, const char *text, char *err,
		   size_t errlen)
{
	char why[256] = "";
	int ret;

	ret = key_parse(k, obj, text, why, sizeof(why));
	if (ret == 0 && k->validate)
		ret = k->validate(k, obj, why, sizeof(why));
	if (ret && err)
		snprintf(err, errlen, "\"%s\" is %s: %s", k->name, text[0] ? text : "empty",
			 why[0] ? why : "invalid");
	return ret;
}

int hm_cfg_defaults(const struct hm_cfg_table *t, void *obj, char *err, size_t errlen)
{
	memset(obj, 0, t->obj_size);
	for (size_t i = 0; i < t->n_keys; i++) {
		int ret = key_set(&t->keys[i], obj, t->keys[i].def ? t->keys[i].def : "", err,
				  errlen);
		if (ret)
			return ret;
	}
	return 0;
}

int hm_cfg_set(const struct hm_cfg_table *t, void *obj, const char *name, const char *value,
	       bool only_runtime, char *err, size_t errlen)
{
	const struct hm_cfg_key *k = hm_cfg_find(t, name);
	void *scratch;
	int ret;

	if (!k) {
		if (err)
			snprintf(err, errlen, "\"%s\": unknown key in %s", name, t->what);
		return -ENOENT;
	}
	if (only_runtime && !k->runtime) {
		if (err)
			snprintf(err, errlen, "\"%s\" cannot change while running; restart to apply",
				 name);
		return -EPERM;
	}
	scratch = malloc(t->obj_size);
	if (!scratch) {
		if (err)
			snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memcpy(scratch, obj, t->obj_size);
	ret = key_set(k, scratch, value, err, errlen);
	if (ret == 0)
		memcpy(obj, scratch, t->obj_size);
	free(scratch);
	return ret;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Split one line into key and value. Returns 1 for a key line, 0 for a blank one. */
static int split_line(char *line, char **key, char **value, char *why, size_t whylen)
{
	char *eq, *hash, *v;
	bool quoted = false;

	/* '#' starts a comment unless it is inside a quoted value. */
	for (hash = line; *hash; hash++) {
		if (*hash == '"')
			quoted = !quoted;
		else if (*hash == '#' && !quoted)
			break;
	}
	*hash = '\0';
	line = trim(line);
	if (*line == '\0')
		return 0;
	eq = strchr(line, '=');
	if (!eq) {
		snprintf(why, whylen, "expected \"key = value\", got \"%s\"", line);
		return -EINVAL;
	}
	*eq = '\0';
	*key = trim(line);
	v = trim(eq + 1);
	if (*v == '"') {
		size_t n = strlen(v);

		if (n < 2 || v[n - 1] != '"') {
			snprintf(why, whylen, "\"%s\": unterminated quoted value", *key);
			return -EINVAL;
		}
		v[n - 1] = '\0';
		v++;
	}
	if (**key == '\0') {
		snprintf(why, whylen, "missing key before '='");
		return -EINVAL;
	}
	*value = v;
	return 1;
}

int hm_cfg_load_string(const struct hm_cfg_table *t, void *obj, const char *text,
		       const char *name, char *err, size_t errlen)
{
	char line[HM_CFG_LINE_MAX];
	void *scratch;
	unsigned int lineno = 0;
	const char *p = text;
	int ret = 0;

	scratch = malloc(t->obj_size);
	if (!scratch) {
		if (err)
			snprintf(err, errlen, "%s: out of memory", name);
		return -ENOMEM;
	}
	memcpy(scratch, obj, t->obj_size);

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char why[512] = "";
		char *key, *value;
		const struct hm_cfg_key *k;

		lineno++;
		if (n >= sizeof(line)) {
			snprintf(why, sizeof(why), "line longer than %zu characters", sizeof(line) - 1);
			ret = -EINVAL;
			goto bad_line;
		}
		memcpy(line, p, n);
		line[n] = '\0';
		p += n + (nl ? 1 : 0);

		ret = split_line(line, &key, &value, why, sizeof(why));
		if (ret < 0)
			goto bad_line;
		if (ret == 0)
			continue;
		k = hm_cfg_find(t, key);
		if (!k) {
			snprintf(why, sizeof(why), "\"%s\": unknown key in %s", key, t->what);
			ret = -EINVAL;
			goto bad_line;
		}
		ret = key_set(k, scratch, value, why, sizeof(why));
		if (ret)
			goto bad_line;
		continue;
bad_line:
		if (err)
			snprintf(err, errlen, "%s:%u: %s", name, lineno, why);
		free(scratch);
		return ret;
	}
	memcpy(obj, scratch, t->obj_size);
	free(scratch);
	return 0;
}

int hm_cfg_load_file(const struct hm_cfg_table *t, void *obj, const char *path, char *err,
		     size_t errlen)
{
	FILE *f;
	char *buf = NULL;
	size_t cap = 0, len = 0;
	int ret;

	f = fopen(path, "r");
	if (!f) {
		ret = -errno;
		if (err)
			snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return ret;
	}
	for (;;) {
		if (len + 4096 + 1 > cap) {
			size_t ncap = cap ? cap * 2 : 8192;
			char *nbuf;

			if (ncap > (1u << 24)) {
				if (err)
					snprintf(err, errlen, "%s: larger than 16 MiB", path);
				ret = -EFBIG;
				goto out;
			}
			nbuf = realloc(buf, ncap);
			if (!nbuf) {
				ret = -ENOMEM;
				if (err)
					snprintf(err, errlen, "%s: out of memory", path);
				goto out;
			}
			buf = nbuf;
			cap = ncap;
		}
		size_t n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		ret = -EIO;
		if (err)
			snprintf(err, errlen, "%s: read error", path);
		goto out;
	}
	buf[len] = '\0';
	if (strlen(buf) != len) {
		ret = -EINVAL;
		if (err)
			snprintf(err, errlen, "%s: contains a NUL byte", path);
		goto out;
	}
	ret = hm_cfg_load_string(t, obj, buf, path, err, errlen);
out:
	free(buf);
	fclose(f);
	return ret;
}

int hm_cfg_format(const struct hm_cfg_key *k, const void *obj, char *buf, size_t buflen)
{
	const void *field = (const char *)obj + k->offset;
	int n;

	switch (k->type) {
	case HM_CFG_U32:
		n = snprintf(buf, buflen, "%" PRIu32, *(const uint32_t *)field);
		break;
	case HM_CFG_I32:
		n = snprintf(buf, buflen, "%" PRId32, *(const int32_t *)field);
		break;
	case HM_CFG_U64:
		n = snprintf(buf, buflen, "%" PRIu64, *(const uint64_t *)field);
		break;
	case HM_CFG_DOUBLE:
		n = snprintf(buf, buflen, "%g", *(const double *)field);
		break;
	case HM_CFG_BOOL:
		n = snprintf(buf, buflen, "%s", *(const bool *)field ? "true" : "false");
		break;
	case HM_CFG_STR:
		n = snprintf(buf, buflen, "%s", (const char *)field);
		break;
	case HM_CFG_ENUM:
		n = snprintf(buf, buflen, "%s", k->enum_names[*(const int *)field]);
		break;
	case HM_CFG_CUSTOM:
		return k->format ? k->format(field, buf, buflen) : -ENOTSUP;
	default:
		return -EINVAL;
	}
	return (n < 0 || (size_t)n >= buflen) ? -ENOSPC : 0;
}

void hm_cfg_print(const struct hm_cfg_table *t, const void *obj, FILE *out)
{
	char buf[1024];

	for (size_t i = 0; i < t->n_keys; i++) {
		if (hm_cfg_format(&t->keys[i], obj, buf, sizeof(buf)))
			snprintf(buf, sizeof(buf), "?");
		fprintf(out, "%s = %s\n", t->keys[i].name, buf);
	}
}

static const char *type_name(const struct hm_cfg_key *k)
{
	switch (k->type) {
	case HM_CFG_U32:
	case HM_CFG_I32:
	case HM_CFG_U64:
		return "integer";
	case HM_CFG_DOUBLE:
		return "number";
	case HM_CFG_BOOL:
		return "bool";
	case HM_CFG_STR:
		return "string";
	case HM_CFG_ENUM:
		return "enum";
	case HM_CFG_CUSTOM:
		return "value";
	}
	return "?";
}

void hm_cfg_print_help(const struct hm_cfg_table *t, FILE *out)
{
	for (size_t i = 0; i < t->n_keys; i++) {
		const struct hm_cfg_key *k = &t->keys[i];

		fprintf(out, "  %-22s %s, default \"%s\"", k->name, type_name(k), k->def ? k->def : "");
		if (k->type == HM_CFG_U32 || k->type == HM_CFG_I32 || k->type == HM_CFG_U64)
			fprintf(out, ", %" PRId64 "..%" PRId64, k->min, k->max);
		if (k->type == HM_CFG_ENUM) {
			fprintf(out, ", one of");
			for (size_t j = 0; k->enum_names[j]; j++)
				fprintf(out, " %s", k->enum_names[j]);
		}
		if (k->runtime)
			fprintf(out, ", runtime");
		fprintf(out, "\n      %s\n", k->help ? k->help : "");
	}
}

int hm_cfg_validate_pow2(const struct hm_cfg_key *key, const void *obj, char *why, size_t whylen)
{
	uint32_t v = *(const uint32_t *)((const char *)obj + key->offset);

	if (v == 0 || (v & (v - 1)) != 0) {
		snprintf(why, whylen, "must be a power of two");
		return -EINVAL;
	}
	return 0;
}
