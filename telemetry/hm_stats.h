/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hm_stats — the stats segment: one self-describing shared-memory file per
 * process (/dev/shm/hmesh-<name>), written by that process without locks,
 * read by hmesh-stat and the collectd plugin.
 *
 * Layout (version 1; every section 64-byte aligned, host byte order):
 *
 *   struct hm_stats_hdr      magic "HMSTATS", version, sizes, generation,
 *                            pid, process name, entry count
 *   block labels             n_blocks × HM_STATS_LABELS_MAX bytes
 *                            ("lcore=3"), "" for an unused block
 *   directory                max_entries × struct hm_stats_entry
 *   data                     n_blocks × block_words 64-bit words
 *
 * A directory entry names a value (counter, gauge or histogram), its labels
 * ("layer=l1,service=7"), help text, the scale to the base unit (ns → s is
 * 1e-9) and where it lives: the same word offset in every block. Blocks are
 * the unit of single-writer ownership: one per lcore in the dataplane, one
 * per thread elsewhere. Readers sum an entry across blocks, or show it per
 * block when the entry has HM_STATS_F_PER_BLOCK.
 *
 * Consistency without locks: every value is one aligned 64-bit word,
 * written by one thread with a relaxed store (never torn on x86-64/arm64),
 * so a reader sees it before or after an update. A histogram is
 * HM_STATS_HIST_BUCKETS bucket counts and one sum word; its count is not
 * stored but computed by the reader as the sum of the buckets, so count and
 * buckets can never disagree (the sum may lag by the update in flight).
 *
 * Versioning: readers refuse a segment whose magic, version, header or
 * entry size they do not know (-EPROTO). Entries may be added while the
 * segment is live: the writer fills the entry, then publishes the new
 * count with a release store, so adding a counter in code needs no change
 * in any reader. A restarted writer creates a fresh file (new inode and
 * generation) and renames it over the old one; readers notice with
 * hm_stats_reader_stale() and reopen.
 *
 * Threading: hm_stats_create/add/destroy on one thread (set-up); the value
 * words of block b only from the thread that owns b. Readers: any process.
 */
#ifndef HM_STATS_H
#define HM_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hm_hist.h"

#define HM_STATS_MAGIC	     "HMSTATS"
#define HM_STATS_VERSION     1
#define HM_STATS_NAME_MAX    64 /* metric name, [a-z0-9_], NUL included */
#define HM_STATS_LABELS_MAX  64 /* "k=v,k=v", NUL included */
#define HM_STATS_HELP_MAX    128
#define HM_STATS_PROCESS_MAX 64 /* segment name: [A-Za-z0-9_.-] */
/* Directory where segments live; HMESH_STATS_DIR overrides (tests). */
#define HM_STATS_DIR_DEFAULT "/dev/shm"

enum hm_stats_type {
	HM_STATS_COUNTER = 1,	/* monotonic; exported as <name>_total */
	HM_STATS_GAUGE = 2,	/* current value */
	HM_STATS_HISTOGRAM = 3, /* HM_STATS_HIST_WORDS words, see below */
};

/* Export this entry per block (labelled with the block's label) as well as summed. */
#define HM_STATS_F_PER_BLOCK 0x1

/* Histograms: common/hm_hist.h (log-linear buckets, then the sum). */
#define HM_STATS_HIST_SUB_BITS HM_HIST_SUB_BITS
#define HM_STATS_HIST_BUCKETS  HM_HIST_BUCKETS
#define HM_STATS_HIST_WORDS    HM_HIST_WORDS

struct hm_stats_hdr {
	char magic[8];	   /* HM_STATS_MAGIC */
	uint32_t version;  /* HM_STATS_VERSION */
	uint32_t hdr_size; /* sizeof(struct hm_stats_hdr) */
	uint32_t entry_size;
	uint32_t n_entries; /* published entries; release-stored by the writer */
	uint32_t max_entries;
	uint32_t n_blocks;
	uint32_t block_words;
	int32_t pid;
	uint64_t generation; /* random per creation: a restart changes it */
	uint64_t created_ns; /* CLOCK_REALTIME */
	uint64_t labels_off, dir_off, data_off, size;
	char process[HM_STATS_PROCESS_MAX];
} __attribute__((aligned(64)));

struct hm_stats_entry {
	char name[HM_STATS_NAME_MAX];
	char labels[HM_STATS_LABELS_MAX];
	char help[HM_STATS_HELP_MAX];
	uint8_t type;  /* enum hm_stats_type */
	uint8_t flags; /* HM_STATS_F_* */
	uint16_t _pad;
	uint32_t word;	  /* offset in each block, in 64-bit words */
	uint32_t n_words; /* 1, or HM_STATS_HIST_WORDS */
	uint32_t _pad2;
	double scale; /* value × scale = base unit (seconds, bytes, ...) */
};

/* ---- writer ---------------------------------------------------------------- */

struct hm_stats;

/* Sentinel word for hm_stats_add(): take the next free words of the block. */
#define HM_STATS_WORD_AUTO UINT32_MAX

/*
 * Create (or replace) segment @process with @n_blocks blocks of
 * @block_bytes each (rounded up to 64) and room for @max_entries entries.
 * The file appears complete (built under a temporary name, then renamed).
 * Returns NULL with errno set: EINVAL (bad name or sizes), or what
 * open/ftruncate/mmap/rename returned.
 */
struct hm_stats *hm_stats_create(const char *process, unsigned int n_blocks, size_t block_bytes,
				 unsigned int max_entries);

/* Unmap and remove the file (when it is still ours). NULL is a no-op. */
void hm_stats_destroy(struct hm_stats *s);

/*
 * Describe a value. @word is its offset in every block (64-bit words), or
 * HM_STATS_WORD_AUTO for the next free words. @labels may be NULL or "";
 * @scale 0 means 1. Returns the word offset (>= 0), or -EINVAL (bad name,
 * labels or type, words outside the block), -ENOSPC (directory full),
 * -EEXIST (same name and labels already present). Entries are visible to
 * readers when this returns.
 */
int hm_stats_add(struct hm_stats *s, enum hm_stats_type type, const char *name, const char *labels,
		 const char *help, double scale, unsigned int flags, uint32_t word);

/* Label block @b ("lcore=3"); "" marks it unused. Returns 0 or -EINVAL. */
int hm_stats_block_label(struct hm_stats *s, unsigned int b, const char *labels);

/* First word of block @b: the owner thread writes its values here. */
uint64_t *hm_stats_block(struct hm_stats *s, unsigned int b);

/* Path of the segment file. */
const char *hm_stats_file(const struct hm_stats *s);

/* Owner thread: add @v to a counter word. A relaxed store, never a locked RMW. */
static inline void hm_stats_inc(uint64_t *w, uint64_t v)
{
	__atomic_store_n(w, *w + v, __ATOMIC_RELAXED);
}

static inline void hm_stats_set(uint64_t *w, uint64_t v)
{
	__atomic_store_n(w, v, __ATOMIC_RELAXED);
}

static inline unsigned int hm_stats_hist_bucket(uint64_t v)
{
	return hm_hist_bucket(v);
}

/* Owner thread: record @v in the histogram whose first word is @h. */
static inline void hm_stats_hist_add(uint64_t *h, uint64_t v)
{
	hm_hist_add(h, v);
}

static inline uint64_t hm_stats_hist_upper(unsigned int i)
{
	return hm_hist_upper(i);
}

static inline double hm_stats_hist_quantile(const uint64_t *h, double q)
{
	return hm_hist_quantile(h, q);
}

/* ---- reader ---------------------------------------------------------------- */

struct hm_stats_reader;

/*
 * Segment file path for @process into @buf ("<dir>/hmesh-<process>").
 * Returns 0, or -EINVAL (bad name), -ENAMETOOLONG.
 */
int hm_stats_path(const char *process, char *buf, size_t len);

/*
 * Map segment file @path read-only and check its header and directory.
 * Returns 0, -ENOENT (no such segment), -EPROTO (not a segment, another
 * version, or inconsistent sizes: the message says which), or -errno.
 */
int hm_stats_reader_open(const char *path, struct hm_stats_reader **out);
void hm_stats_reader_close(struct hm_stats_reader *r);

/* The header as mapped (process, pid, generation, n_blocks). */
const struct hm_stats_hdr *hm_stats_reader_hdr(const struct hm_stats_reader *r);

/*
 * True when the path now names another file (the writer restarted) or no
 * file at all (the writer exited): close and open again.
 */
bool hm_stats_reader_stale(const struct hm_stats_reader *r);

/* Published entries now (grows while the writer adds entries). */
unsigned int hm_stats_reader_count(const struct hm_stats_reader *r);

/*
 * Copy entry @i into @out after checking it (NUL-terminated strings, known
 * type, words inside the block). Returns 0, -ERANGE (no such entry) or
 * -EPROTO (a corrupt entry).
 */
int hm_stats_reader_entry(const struct hm_stats_reader *r, unsigned int i,
			  struct hm_stats_entry *out);

/* Label of block @b ("" when unused); NULL when @b is out of range. */
const char *hm_stats_reader_block_label(const struct hm_stats_reader *r, unsigned int b);

/*
 * The words of entry @e in block @b (@b == UINT32_MAX: summed over every
 * block) into @vals (e->n_words of them). Returns 0 or -ERANGE.
 */
int hm_stats_reader_values(const struct hm_stats_reader *r, const struct hm_stats_entry *e,
			   uint32_t b, uint64_t *vals);

/* Name of @type ("counter", "gauge", "histogram"), "?" when unknown. */
const char *hm_stats_type_name(unsigned int type);

#endif /* HM_STATS_H */
