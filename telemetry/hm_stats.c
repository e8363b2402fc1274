/* SPDX-License-Identifier: BSD-3-Clause */
#include "hm_stats.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hm_log.h"

#define MOD	   "hm_stats"
#define ALIGN64(x) (((x) + 63) & ~(size_t)63)

struct hm_stats {
	struct hm_stats_hdr *hdr;
	size_t size;
	uint32_t next_word; /* HM_STATS_WORD_AUTO allocation */
	dev_t dev;
	ino_t ino;
	char path[PATH_MAX];
};

struct hm_stats_reader {
	const struct hm_stats_hdr *hdr;
	size_t size;
	dev_t dev;
	ino_t ino;
	char path[PATH_MAX];
};

const char *hm_stats_type_name(unsigned int type)
{
	switch (type) {
	case HM_STATS_COUNTER:
		return "counter";
	case HM_STATS_GAUGE:
		return "gauge";
	case HM_STATS_HISTOGRAM:
		return "histogram";
	}
	return "?";
}

static bool name_ok(const char *n, size_t max)
{
	size_t len = strnlen(n, max);

	if (len == 0 || len == max || !((n[0] >= 'a' && n[0] <= 'z') || n[0] == '_'))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= '0' && n[i] <= '9') || n[i] == '_'))
			return false;
	return true;
}

/* "" or "k=v[,k=v]...": keys are names, values have no ',', '=', '"' or '\'. */
static bool labels_ok(const char *l)
{
	size_t len = strnlen(l, HM_STATS_LABELS_MAX);
	const char *p = l;

	if (len == HM_STATS_LABELS_MAX)
		return false;
	while (*p) {
		const char *eq = strchr(p, '='), *end = strchr(p, ',');
		char key[HM_STATS_LABELS_MAX];

		if (end == NULL)
			end = p + strlen(p);
		if (eq == NULL || eq > end || eq == p || eq + 1 == end)
			return false;
		memcpy(key, p, (size_t)(eq - p));
		key[eq - p] = '\0';
		if (!name_ok(key, sizeof(key)))
			return false;
		for (const char *v = eq + 1; v < end; v++)
			if (*v == '=' || *v == '"' || *v == '\\' || (unsigned char)*v < 0x20)
				return false;
		p = *end ? end + 1 : end;
		if (*end && *p == '\0')
			return false; /* trailing comma */
	}
	return true;
}

static bool process_ok(const char *p)
{
	size_t len = strnlen(p, HM_STATS_PROCESS_MAX);

	if (len == 0 || len == HM_STATS_PROCESS_MAX || p[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
		      (p[i] >= '0' && p[i] <= '9') || p[i] == '_' || p[i] == '-' || p[i] == '.'))
			return false;
	return true;
}

int hm_stats_path(const char *process, char *buf, size_t len)
{
	const char *dir = getenv("HMESH_STATS_DIR");
	int n;

	if (process == NULL || !process_ok(process))
		return -EINVAL;
	if (dir == NULL || *dir == '\0')
		dir = HM_STATS_DIR_DEFAULT;
	n = snprintf(buf, len, "%s/hmesh-%s", dir, process);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static inline char *blk_labels(struct hm_stats_hdr *h, unsigned int b)
{
	return (char *)h + h->labels_off + (size_t)b * HM_STATS_LABELS_MAX;
}

static inline struct hm_stats_entry *dir_entry(struct hm_stats_hdr *h, unsigned int i)
{
	return (struct hm_stats_entry *)((char *)h + h->dir_off) + i;
}

struct hm_stats *hm_stats_create(const char *process, unsigned int n_blocks, size_t block_bytes,
				 unsigned int max_entries)
{
	struct hm_stats *s;
	struct hm_stats_hdr *h;
	char tmp[PATH_MAX + 32];
	size_t labels_off, dir_off, data_off, size, block_words;
	struct stat st;
	struct timespec ts;
	int fd, err;

	block_words = ALIGN64(block_bytes) / 8;
	if (process == NULL || !process_ok(process) || n_blocks == 0 || n_blocks > 65536 ||
	    block_words == 0 || block_words > UINT32_MAX / 2 || max_entries == 0 ||
	    max_entries > 1u << 20) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	err = -hm_stats_path(process, s->path, sizeof(s->path));
	if (err)
		goto err_free;
	labels_off = ALIGN64(sizeof(*h));
	dir_off = ALIGN64(labels_off + (size_t)n_blocks * HM_STATS_LABELS_MAX);
	data_off = ALIGN64(dir_off + (size_t)max_entries * sizeof(struct hm_stats_entry));
	size = data_off + (size_t)n_blocks * block_words * 8;

	/* Build under a temporary name; readers only ever see a whole segment. */
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", s->path, (int)getpid());
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = errno;
		hm_log(HM_LOG_ERR, MOD, "%s: %s", tmp, strerror(err));
		goto err_free;
	}
	if (ftruncate(fd, (off_t)size) < 0) {
		err = errno;
		hm_log(HM_LOG_ERR, MOD, "%s: ftruncate %zu: %s", tmp, size, strerror(err));
		goto err_close;
	}
	h = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (h == MAP_FAILED) {
		err = errno;
		hm_log(HM_LOG_ERR, MOD, "%s: mmap %zu: %s", tmp, size, strerror(err));
		goto err_close;
	}
	memcpy(h->magic, HM_STATS_MAGIC, sizeof(HM_STATS_MAGIC));
	h->version = HM_STATS_VERSION;
	h->hdr_size = sizeof(*h);
	h->entry_size = sizeof(struct hm_stats_entry);
	h->max_entries = max_entries;
	h->n_blocks = n_blocks;
	h->block_words = (uint32_t)block_words;
	h->pid = (int32_t)getpid();
	if (getrandom(&h->generation, sizeof(h->generation), 0) != sizeof(h->generation))
		h->generation = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
	clock_gettime(CLOCK_REALTIME, &ts);
	h->created_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	h->labels_off = labels_off;
	h->dir_off = dir_off;
	h->data_off = data_off;
	h->size = size;
	snprintf(h->process, sizeof(h->process), "%s", process);
	if (fstat(fd, &st) < 0 || rename(tmp, s->path) < 0) {
		err = errno;
		hm_log(HM_LOG_ERR, MOD, "%s: %s", s->path, strerror(err));
		munmap(h, size);
		goto err_close;
	}
	close(fd);
	s->hdr = h;
	s->size = size;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	return s;

err_close:
	close(fd);
	unlink(tmp);
err_free:
	free(s);
	errno = err;
	return NULL;
}

void hm_stats_destroy(struct hm_stats *s)
{
	struct stat st;

	if (s == NULL)
		return;
	/* A newer writer may have replaced the file: leave its segment alone. */
	if (stat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
		unlink(s->path);
	munmap(s->hdr, s->size);
	free(s);
}

const char *hm_stats_file(const struct hm_stats *s)
{
	return s->path;
}

int hm_stats_add(struct hm_stats *s, enum hm_stats_type type, const char *name, const char *labels,
		 const char *help, double scale, unsigned int flags, uint32_t word)
{
	struct hm_stats_hdr *h = s->hdr;
	struct hm_stats_entry *e;
	uint32_t n_words, n = h->n_entries;

	if (labels == NULL)
		labels = "";
	if (!name_ok(name, HM_STATS_NAME_MAX)) {
		hm_log(HM_LOG_ERR, MOD, "metric name \"%s\": must be [a-z_][a-z0-9_]*, < %d bytes",
		       name, HM_STATS_NAME_MAX);
		return -EINVAL;
	}
	if (!labels_ok(labels)) {
		hm_log(HM_LOG_ERR, MOD, "%s: labels \"%s\": must be k=v[,k=v]...", name, labels);
		return -EINVAL;
	}
	switch (type) {
	case HM_STATS_COUNTER:
	case HM_STATS_GAUGE:
		n_words = 1;
		break;
	case HM_STATS_HISTOGRAM:
		n_words = HM_STATS_HIST_WORDS;
		break;
	default:
		hm_log(HM_LOG_ERR, MOD, "%s: type %d unknown", name, (int)type);
		return -EINVAL;
	}
	if (word == HM_STATS_WORD_AUTO)
		word = s->next_word;
	if ((uint64_t)word + n_words > h->block_words) {
		hm_log(HM_LOG_ERR, MOD, "%s: words %u..%u outside the %u-word block", name, word,
		       word + n_words - 1, h->block_words);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < n; i++) {
		e = dir_entry(h, i);
		if (strcmp(e->name, name) == 0 && strcmp(e->labels, labels) == 0) {
			hm_log(HM_LOG_ERR, MOD, "%s{%s}: already in the segment", name, labels);
			return -EEXIST;
		}
	}
	if (n == h->max_entries) {
		hm_log(HM_LOG_ERR, MOD, "%s: directory full (%u entries)", name, n);
		return -ENOSPC;
	}
	e = dir_entry(h, n);
	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", name);
	snprintf(e->labels, sizeof(e->labels), "%s", labels);
	snprintf(e->help, sizeof(e->help), "%s", help ? help : "");
	e->type = (uint8_t)type;
	e->flags = (uint8_t)flags;
	e->word = word;
	e->n_words = n_words;
	e->scale = scale == 0 ? 1 : scale;
	/* Publish: a reader that sees the new count sees the whole entry. */
	__atomic_store_n(&h->n_entries, n + 1, __ATOMIC_RELEASE);
	if (word + n_words > s->next_word)
		s->next_word = word + n_words;
	return (int)word;
}

int hm_stats_block_label(struct hm_stats *s, unsigned int b, const char *labels)
{
	if (b >= s->hdr->n_blocks || labels == NULL || !labels_ok(labels))
		return -EINVAL;
	snprintf(blk_labels(s->hdr, b), HM_STATS_LABELS_MAX, "%s", labels);
	return 0;
}

uint64_t *hm_stats_block(struct hm_stats *s, unsigned int b)
{
	return (uint64_t *)((char *)s->hdr + s->hdr->data_off) + (size_t)b * s->hdr->block_words;
}

/* ---- reader ---------------------------------------------------------------- */

static int check_hdr(const struct hm_stats_hdr *h, size_t file_size, const char *path)
{
	const char *why = NULL;

	if (file_size < sizeof(*h) || memcmp(h->magic, HM_STATS_MAGIC, sizeof(HM_STATS_MAGIC)) != 0)
		why = "no HMSTATS magic";
	else if (h->version != HM_STATS_VERSION)
		why = "unknown version";
	else if (h->hdr_size != sizeof(*h) || h->entry_size != sizeof(struct hm_stats_entry))
		why = "header or entry size differs from this reader's";
	else if (h->size != file_size)
		why = "size in header differs from the file's";
	/*
	 * Each offset is bounded by the file size before it is added to, so
	 * no sum can wrap (the header is whatever some process wrote).
	 */
	else if (h->n_blocks == 0 || h->block_words == 0 || h->max_entries == 0 ||
		 h->labels_off < sizeof(*h) || h->labels_off > file_size ||
		 h->dir_off > file_size || h->data_off > file_size ||
		 h->dir_off < h->labels_off + (uint64_t)h->n_blocks * HM_STATS_LABELS_MAX ||
		 h->data_off <
		     h->dir_off + (uint64_t)h->max_entries * sizeof(struct hm_stats_entry) ||
		 h->data_off % 64 != 0 ||
		 (file_size - h->data_off) / ((uint64_t)h->block_words * 8) < h->n_blocks)
		why = "sections overlap or overrun the file";
	if (why != NULL) {
		hm_log(HM_LOG_ERR, MOD, "%s: not a usable stats segment: %s", path, why);
		return -EPROTO;
	}
	return 0;
}

int hm_stats_reader_open(const char *path, struct hm_stats_reader **out)
{
	struct hm_stats_reader *r;
	struct stat st;
	void *m;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto err_close;
	}
	if (st.st_size < (off_t)sizeof(struct hm_stats_hdr)) {
		hm_log(HM_LOG_ERR, MOD, "%s: %lld bytes: too small for a stats segment", path,
		       (long long)st.st_size);
		rc = -EPROTO;
		goto err_close;
	}
	m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		rc = -errno;
		goto err_close;
	}
	rc = check_hdr(m, (size_t)st.st_size, path);
	if (rc < 0)
		goto err_unmap;
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		rc = -ENOMEM;
		goto err_unmap;
	}
	r->hdr = m;
	r->size = (size_t)st.st_size;
	r->dev = st.st_dev;
	r->ino = st.st_ino;
	snprintf(r->path, sizeof(r->path), "%s", path);
	close(fd);
	*out = r;
	return 0;

err_unmap:
	munmap(m, (size_t)st.st_size);
err_close:
	close(fd);
	return rc;
}

void hm_stats_reader_close(struct hm_stats_reader *r)
{
	if (r == NULL)
		return;
	munmap((void *)r->hdr, r->size);
	free(r);
}

const struct hm_stats_hdr *hm_stats_reader_hdr(const struct hm_stats_reader *r)
{
	return r->hdr;
}

bool hm_stats_reader_stale(const struct hm_stats_reader *r)
{
	struct stat st;

	return stat(r->path, &st) < 0 || st.st_dev != r->dev || st.st_ino != r->ino;
}

unsigned int hm_stats_reader_count(const struct hm_stats_reader *r)
{
	uint32_t n = __atomic_load_n(&r->hdr->n_entries, __ATOMIC_ACQUIRE);

	return n < r->hdr->max_entries ? n : r->hdr->max_entries;
}

int hm_stats_reader_entry(const struct hm_stats_reader *r, unsigned int i,
			  struct hm_stats_entry *out)
{
	const struct hm_stats_hdr *h = r->hdr;

	if (i >= hm_stats_reader_count(r))
		return -ERANGE;
	memcpy(out, (const char *)h + h->dir_off + (size_t)i * sizeof(*out), sizeof(*out));
	if (!name_ok(out->name, sizeof(out->name)) || !labels_ok(out->labels) ||
	    strnlen(out->help, sizeof(out->help)) == sizeof(out->help) ||
	    (out->type != HM_STATS_COUNTER && out->type != HM_STATS_GAUGE &&
	     out->type != HM_STATS_HISTOGRAM) ||
	    out->n_words != (out->type == HM_STATS_HISTOGRAM ? HM_STATS_HIST_WORDS : 1u) ||
	    (uint64_t)out->word + out->n_words > h->block_words)
		return -EPROTO;
	return 0;
}

const char *hm_stats_reader_block_label(const struct hm_stats_reader *r, unsigned int b)
{
	const char *l;

	if (b >= r->hdr->n_blocks)
		return NULL;
	l = (const char *)r->hdr + r->hdr->labels_off + (size_t)b * HM_STATS_LABELS_MAX;
	/* The writer may be changing it: never hand out an unterminated string. */
	return strnlen(l, HM_STATS_LABELS_MAX) < HM_STATS_LABELS_MAX ? l : "";
}

int hm_stats_reader_values(const struct hm_stats_reader *r, const struct hm_stats_entry *e,
			   uint32_t b, uint64_t *vals)
{
	const struct hm_stats_hdr *h = r->hdr;
	const uint64_t *data = (const uint64_t *)((const char *)h + h->data_off);
	uint32_t first = b, last = b;

	if ((uint64_t)e->word + e->n_words > h->block_words)
		return -ERANGE;
	if (b == UINT32_MAX) {
		first = 0;
		last = h->n_blocks - 1;
	} else if (b >= h->n_blocks) {
		return -ERANGE;
	}
	memset(vals, 0, e->n_words * sizeof(*vals));
	for (uint32_t blk = first; blk <= last; blk++) {
		const uint64_t *w = data + (size_t)blk * h->block_words + e->word;

		for (uint32_t i = 0; i < e->n_words; i++)
			vals[i] += __atomic_load_n(&w[i], __ATOMIC_RELAXED);
	}
	return 0;
}
