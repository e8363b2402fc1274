/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stoq_fcache.c — a server endpoint's file mappings, kept between GETs.
 *
 * A GET sends its file from a shared mapping and maps each chunk with
 * MADV_POPULATE_READ before ngtcp2 copies from it (stoq_h3.c). For a file
 * in tmpfs or the page cache that is page-table work, one PTE per 4 KiB
 * page, and unmapping at the end undoes it: with 8952-byte packets the two
 * were ~15 % of a server's time on a 512 MiB body (perf record,
 * 2026-12-04). A file asked for again, as a popular chunk is, finds its
 * mapping and page tables here (gtlsserver keeps every file it maps, for
 * good and whatever happens to the file; this cache is bounded and checks).
 *
 * What an entry serves is right by construction: it is the file (device,
 * inode) mapped MAP_SHARED, so a GET sends the file's bytes as they are
 * now, whatever was written in place since. The opener's fstat must still
 * give the size mapped, or the entry is dropped and the file mapped anew;
 * a file replaced by rename is another inode. A page the SIGBUS guard put
 * zeros over (stoq_guard.c) poisons the entry: it is never handed out
 * again, and every connection sending from it is closed (conn_write), so
 * the zeros leave on none of them.
 *
 * Bounds: file_cache_bytes of mappings (address space, and page tables:
 * 2 MiB of PTEs per GiB mapped; the pages themselves are the page
 * cache's) and STOQ_FCACHE_MAX entries, the least recently used going
 * first; an entry unused for file_cache_idle_ms is unmapped (from
 * stoq_endpoint_on_timer), so a deleted file's blocks are freed then at the
 * latest. The table is searched linearly: it is touched once per GET, and
 * 256 entries are a few hundred nanoseconds beside a GET's open and fstat.
 *
 * References: the table holds one, each request sending from the entry
 * one, a pager job orphaned while it reads the mapping one (stoq_pager.c),
 * and the last to let go unmaps. Pager threads let go off the endpoint's
 * thread, hence the atomic count; everything else here is that thread's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "stoq_priv.h"

void stoq_fmap_put(struct stoq_fmap *m)
{
	if (!m || __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	munmap(m->map, m->size);
	free(m);
}

bool stoq_fmap_mapped(const struct stoq_fmap *m, uint64_t off, uint64_t len)
{
	if (!len)
		return true;
	if (off + len > m->size) /* past what is mapped: never recorded */
		return false;
	for (uint64_t b = off / STOQ_FMAP_BLOCK; b <= (off + len - 1) / STOQ_FMAP_BLOCK; b++)
		if (!(m->mapped[b / 64] & (1ull << (b % 64))))
			return false;
	return true;
}

void stoq_fmap_set_mapped(struct stoq_fmap *m, uint64_t off, uint64_t len)
{
	uint64_t end = off + len > m->size ? m->size : off + len;
	/* Whole blocks only, from the first starting at or after @off to the
	 * last ending by @end; the file's last block ends at the file's end. */
	uint64_t b = (off + STOQ_FMAP_BLOCK - 1) / STOQ_FMAP_BLOCK;
	uint64_t stop = end == m->size ? (end + STOQ_FMAP_BLOCK - 1) / STOQ_FMAP_BLOCK
				       : end / STOQ_FMAP_BLOCK;

	for (; b < stop; b++)
		m->mapped[b / 64] |= 1ull << (b % 64);
}

void stoq_fcache_init(struct stoq_fcache *fc, uint64_t max_bytes, uint32_t idle_ms)
{
	memset(fc, 0, sizeof(*fc));
	fc->max_bytes = max_bytes;
	fc->idle_ns = (uint64_t)idle_ms * 1000000ull;
	fc->next = UINT64_MAX;
}

/* Entry @i out of the table (its mapping stays while requests hold it). */
static void drop(struct stoq_fcache *fc, unsigned i)
{
	struct stoq_fmap *m = fc->e[i];

	fc->bytes -= m->size;
	fc->e[i] = fc->e[--fc->n];
	stoq_fmap_put(m);
}

/* The least recently used entry out, to make room. */
static void drop_oldest(struct stoq_fcache *fc)
{
	unsigned old = 0;

	for (unsigned i = 1; i < fc->n; i++)
		if (fc->e[i]->used < fc->e[old]->used)
			old = i;
	drop(fc, old);
}

struct stoq_fmap *stoq_fcache_adopt(struct stoq_fcache *fc, const struct stoq_file_open *f,
				    uint64_t now)
{
	struct stoq_fmap *m;

	for (unsigned i = 0; i < fc->n; i++) {
		m = fc->e[i];
		if (m->dev != f->dev || m->ino != f->ino)
			continue;
		if (m->poisoned || m->size != f->size) {
			/* Cut short (or grown) since it was mapped: its bytes
			 * are the file's, but not all of them, or zeros. */
			drop(fc, i);
			break;
		}
		/* The caller's fresh mapping is not needed: it was never
		 * touched, so unmapping it is only the VMA. */
		munmap(f->map, f->size);
		__atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
		m->used = now;
		fc->hits++;
		return m;
	}
	fc->misses++;
	m = calloc(1, sizeof(*m) + (f->size / STOQ_FMAP_BLOCK / 64 + 1) * sizeof(m->mapped[0]));
	if (!m)
		return NULL;
	m->map = f->map;
	m->size = f->size;
	m->dev = f->dev;
	m->ino = f->ino;
	m->used = now;
	m->refs = 1;
	if (!fc->max_bytes || f->size > fc->max_bytes) /* the request's alone */
		return m;
	while (fc->n && (fc->n == STOQ_FCACHE_MAX || fc->bytes + f->size > fc->max_bytes))
		drop_oldest(fc);
	m->refs = 2;
	fc->e[fc->n++] = m;
	fc->bytes += m->size;
	return m;
}

void stoq_fcache_done(struct stoq_fcache *fc, struct stoq_fmap *m, uint64_t now)
{
	m->used = now;
	if (now + fc->idle_ns < fc->next)
		fc->next = now + fc->idle_ns;
}

void stoq_fcache_expire(struct stoq_fcache *fc, uint64_t now)
{
	fc->next = UINT64_MAX;
	for (unsigned i = 0; i < fc->n;) {
		struct stoq_fmap *m = fc->e[i];
		uint64_t due = m->used + fc->idle_ns;

		if (due <= now && __atomic_load_n(&m->refs, __ATOMIC_ACQUIRE) == 1) {
			drop(fc, i); /* moves the last entry to i */
			continue;
		}
		/* In use: its GETs' end sets the time (stoq_fcache_done), but
		 * a pager job may hold it past that; look again later. */
		if (due <= now)
			due = now + fc->idle_ns;
		if (due < fc->next)
			fc->next = due;
		i++;
	}
}

void stoq_fcache_clear(struct stoq_fcache *fc)
{
	while (fc->n)
		drop(fc, fc->n - 1);
	fc->next = UINT64_MAX;
}
