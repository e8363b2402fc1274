/* SPDX-License-Identifier: BSD-3-Clause */
/* mfn_ifr — L1 immediate flow registry: rte_hash (LF + RCU) behind a blocked Bloom filter. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>

#include "hm_log.h"
#include "ifr.h"

#define MOD "mfn_ifr"

/* Seeds of the two CRC32-C chains (any distinct odd values). */
#define IFR_SEED_TABLE 0x9747b28cu
#define IFR_SEED_BLOOM 0x85ebca6bu

#define IFR_BLOCK_WORDS 8 /* 8 x 64 bits = one 64-byte cache line */
#define IFR_BLOCK_BITS (IFR_BLOCK_WORDS * 64)

/* Odd multipliers choosing one bit per word (any odd 32-bit constants work). */
static const uint32_t ifr_salt[IFR_BLOCK_WORDS] = {
	0x2c1b3c6du, 0x297a2d39u, 0x9e3779b1u, 0x85ebca77u,
	0xc2b2ae3du, 0x27d4eb2fu, 0x165667b1u, 0xd3a2646du,
};

struct mfn_ifr {
	struct rte_hash *h;
	struct mfn_ifr_entry *entries; /* n_entries slots, owned through free_idx */
	uint32_t *free_idx;	       /* stack of free entry indexes */
	uint32_t n_free;
	uint32_t n_entries;
	uint32_t capacity;
	uint64_t idle_cycles;
	uint32_t age_next; /* rte_hash_iterate cursor of mfn_ifr_age */
	bool full_logged;
	/* Bloom filter: words read by everyone, counters by the writer only. */
	uint64_t *bloom;
	uint8_t *bloom_cnt;
	uint64_t bloom_blocks;
	struct mfn_ifr_stats st;
	char name[RTE_HASH_NAMESIZE];
};

/*
 * The key's two hashes in one pass: chain A is the table's signature, chain
 * B (over the words rotated by 32, so that it is a different linear map of
 * the key than A; CRC is linear, the same words with another seed would give
 * A xor a constant) is mixed with A by a non-linear finalizer (MurmurHash3
 * fmix64) into the Bloom hash.
 */
static inline __attribute__((always_inline)) uint32_t
ifr_hash(const struct mfn_flow_key *k, uint64_t *bloom_hash)
{
	uint64_t w[5];
	uint32_t a = IFR_SEED_TABLE, b = IFR_SEED_BLOOM;
	uint64_t x;

	memcpy(w, k, sizeof(w));
	for (int i = 0; i < 5; i++) {
		a = rte_hash_crc_8byte(w[i], a);
		b = rte_hash_crc_8byte((w[i] >> 32) | (w[i] << 32), b);
	}
	x = (uint64_t)b << 32 | a;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	*bloom_hash = x;
	return a;
}

/* rte_hash's hash_func: the same chain A, so inserts and with_hash lookups agree. */
static uint32_t ifr_hash_func(const void *key, uint32_t key_len __rte_unused, uint32_t init __rte_unused)
{
	uint64_t unused;

	return ifr_hash(key, &unused);
}

static inline uint64_t ifr_bloom_block(const struct mfn_ifr *ifr, uint64_t bh)
{
	/* Lemire's multiply-shift range reduction: no division, uses the high bits. */
	return (uint64_t)(((unsigned __int128)bh * ifr->bloom_blocks) >> 64);
}

static inline unsigned int ifr_bloom_bit(uint64_t bh, int word)
{
	return ((uint32_t)bh * ifr_salt[word]) >> 26;
}

static inline bool ifr_bloom_maybe(const struct mfn_ifr *ifr, uint64_t bh)
{
	const uint64_t *blk = &ifr->bloom[ifr_bloom_block(ifr, bh) * IFR_BLOCK_WORDS];
	uint64_t miss = 0;

	for (int i = 0; i < IFR_BLOCK_WORDS; i++)
		miss |= ~__atomic_load_n(&blk[i], __ATOMIC_RELAXED) & (1ull << ifr_bloom_bit(bh, i));
	return miss == 0;
}

static void ifr_bloom_add(struct mfn_ifr *ifr, uint64_t bh)
{
	uint64_t blk = ifr_bloom_block(ifr, bh);

	for (int i = 0; i < IFR_BLOCK_WORDS; i++) {
		unsigned int bit = ifr_bloom_bit(bh, i);
		uint64_t *w = &ifr->bloom[blk * IFR_BLOCK_WORDS + i];
		uint8_t *c = &ifr->bloom_cnt[blk * IFR_BLOCK_BITS + i * 64 + bit];

		if (*c == UINT8_MAX)
			continue; /* saturated: stays set for good */
		if (++*c == UINT8_MAX)
			ifr->st.bloom_saturated++;
		if (*c == 1)
			__atomic_store_n(w, *w | 1ull << bit, __ATOMIC_RELAXED);
	}
	/* The bits must be visible before the key is (rte_hash publishes with release). */
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void ifr_bloom_del(struct mfn_ifr *ifr, uint64_t bh)
{
	uint64_t blk = ifr_bloom_block(ifr, bh);

	for (int i = 0; i < IFR_BLOCK_WORDS; i++) {
		unsigned int bit = ifr_bloom_bit(bh, i);
		uint64_t *w = &ifr->bloom[blk * IFR_BLOCK_WORDS + i];
		uint8_t *c = &ifr->bloom_cnt[blk * IFR_BLOCK_BITS + i * 64 + bit];

		if (*c == UINT8_MAX || *c == 0)
			continue;
		if (--*c == 0)
			__atomic_store_n(w, *w & ~(1ull << bit), __ATOMIC_RELAXED);
	}
}

/*
 * Expected false-positive rate: keys land in blocks as a Poisson process of
 * mean lambda = n / blocks; a block holding j keys has each word's queried
 * bit set with probability 1 - (63/64)^j, and a query must find all eight.
 */
double mfn_ifr_bloom_fpr(uint64_t bits, uint64_t n)
{
	double blocks = (double)(bits / IFR_BLOCK_BITS);
	double lambda, p, sum = 0.0;
	uint64_t jmax;

	if (blocks < 1)
		return 1.0;
	lambda = (double)n / blocks;
	jmax = (uint64_t)(lambda + 12.0 * sqrt(lambda) + 40.0);
	p = exp(-lambda); /* P(j = 0) */
	for (uint64_t j = 0; j <= jmax; j++) {
		if (j > 0)
			p *= lambda / (double)j;
		sum += p * pow(1.0 - pow(63.0 / 64.0, (double)j), IFR_BLOCK_WORDS);
	}
	return sum;
}

/* Smallest number of blocks whose expected FPR at @n keys is within @target. */
static uint64_t ifr_bloom_size(uint64_t n, double target)
{
	uint64_t lo = 1, hi = n + 1;

	/* 64 bits per key is far below 1e-9 for this layout: an upper bound. */
	while (mfn_ifr_bloom_fpr(hi * IFR_BLOCK_BITS, n) > target)
		hi *= 2;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (mfn_ifr_bloom_fpr(mid * IFR_BLOCK_BITS, n) <= target)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* RCU reclaim callback (rte_hash_rcu_config.free_key_data_func): runs on the writer. */
static void ifr_entry_free(void *p, void *key_data)
{
	struct mfn_ifr *ifr = p;
	struct mfn_ifr_entry *e = key_data;

	ifr->free_idx[ifr->n_free++] = (uint32_t)(e - ifr->entries);
}

static int ifr_params_check(const struct mfn_ifr_params *p)
{
	if (p->name == NULL || p->name[0] == '\0' || strlen(p->name) >= RTE_HASH_NAMESIZE - 8) {
		HM_ERR(MOD, "\"name\" must be 1..%d characters", RTE_HASH_NAMESIZE - 9);
		return -EINVAL;
	}
	if (p->capacity < 1 || p->capacity > (1u << 30)) {
		HM_ERR(MOD, "\"capacity\" is %" PRIu32 ": must be 1..%u", p->capacity, 1u << 30);
		return -EINVAL;
	}
	if (!(p->bloom_fpr == 0.0 || (p->bloom_fpr > 0.0 && p->bloom_fpr <= 0.5))) {
		HM_ERR(MOD, "\"bloom_fpr\" is %g: must be 0 (no filter) or in (0, 0.5]", p->bloom_fpr);
		return -EINVAL;
	}
	if (p->idle_timeout_ms < 1) {
		HM_ERR(MOD, "\"idle_timeout_ms\" is 0: must be >= 1");
		return -EINVAL;
	}
	if (p->qsv == NULL) {
		HM_ERR(MOD, "\"qsv\" is NULL: readers need an RCU QSBR variable");
		return -EINVAL;
	}
	return 0;
}

struct mfn_ifr *mfn_ifr_create(const struct mfn_ifr_params *p)
{
	struct rte_hash_parameters hp = {0};
	struct rte_hash_rcu_config rcu = {0};
	struct mfn_ifr *ifr;
	int32_t max_id;
	int rc;

	rc = ifr_params_check(p);
	if (rc < 0) {
		rte_errno = -rc;
		return NULL;
	}
	ifr = rte_zmalloc_socket("mfn_ifr", sizeof(*ifr), RTE_CACHE_LINE_SIZE, p->socket_id);
	if (ifr == NULL)
		goto err_nomem;
	snprintf(ifr->name, sizeof(ifr->name), "ifr_%s", p->name);
	ifr->capacity = p->capacity;
	ifr->idle_cycles = p->idle_timeout_ms * (rte_get_tsc_hz() / 1000);

	/*
	 * Cuckoo tables refuse some inserts before every slot is used; 1/16 of
	 * slack lets the registry reach the configured capacity, which is then
	 * enforced by counting live flows.
	 */
	hp.name = ifr->name;
	hp.entries = p->capacity + p->capacity / 16 + 8;
	hp.key_len = sizeof(struct mfn_flow_key);
	hp.hash_func = ifr_hash_func;
	hp.hash_func_init_val = IFR_SEED_TABLE;
	hp.socket_id = p->socket_id;
	hp.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF;
	ifr->h = rte_hash_create(&hp);
	if (ifr->h == NULL) {
		rc = rte_errno;
		HM_ERR(MOD, "%s: rte_hash_create(%u entries): %s", p->name, hp.entries,
		       rte_strerror(rc));
		goto err_free_ifr;
	}

	/*
	 * One entry per key slot plus one: every held entry backs a live or
	 * a deleted-but-not-yet-reclaimed key, so the stack is never empty
	 * when an insert starts, and rte_hash reclaims slots (and through the
	 * callback, entries) when it runs out.
	 */
	max_id = rte_hash_max_key_id(ifr->h);
	if (max_id < 0) {
		rc = EINVAL;
		goto err_free_hash;
	}
	ifr->n_entries = (uint32_t)max_id + 2;
	ifr->entries = rte_zmalloc_socket("mfn_ifr_entries",
					  (size_t)ifr->n_entries * sizeof(*ifr->entries),
					  RTE_CACHE_LINE_SIZE, p->socket_id);
	ifr->free_idx = rte_malloc_socket("mfn_ifr_free", (size_t)ifr->n_entries * sizeof(uint32_t),
					  0, p->socket_id);
	if (ifr->entries == NULL || ifr->free_idx == NULL)
		goto err_nomem_hash;
	for (uint32_t i = 0; i < ifr->n_entries; i++)
		ifr->free_idx[i] = ifr->n_entries - 1 - i;
	ifr->n_free = ifr->n_entries;

	if (p->bloom_fpr > 0.0) {
		ifr->bloom_blocks = ifr_bloom_size(p->capacity, p->bloom_fpr);
		ifr->bloom = rte_zmalloc_socket("mfn_ifr_bloom", ifr->bloom_blocks * 64,
						RTE_CACHE_LINE_SIZE, p->socket_id);
		/*
		 * The counters are the writer's alone, yet they take hugepages
		 * too: calloc's pages came in one fault at a time as flows hit
		 * new blocks, a fault on the lcore per 4 KiB for the first
		 * minutes of traffic (10 MB of RSS growth at the default
		 * capacity, which make soak read as a leak).
		 */
		ifr->bloom_cnt = rte_zmalloc_socket("mfn_ifr_bloom_cnt",
						    ifr->bloom_blocks * IFR_BLOCK_BITS,
						    RTE_CACHE_LINE_SIZE, p->socket_id);
		if (ifr->bloom == NULL || ifr->bloom_cnt == NULL)
			goto err_nomem_hash;
		ifr->st.bloom_bits = ifr->bloom_blocks * IFR_BLOCK_BITS;
	}

	rcu.v = p->qsv;
	rcu.mode = RTE_HASH_QSBR_MODE_DQ;
	rcu.key_data_ptr = ifr;
	rcu.free_key_data_func = ifr_entry_free;
	rc = rte_hash_rcu_qsbr_add(ifr->h, &rcu);
	if (rc != 0) {
		rc = -rc;
		HM_ERR(MOD, "%s: rte_hash_rcu_qsbr_add: %s", p->name, rte_strerror(rc));
		goto err_free_tables;
	}
	return ifr;

err_nomem_hash:
	rc = ENOMEM;
	HM_ERR(MOD, "%s: no memory for %" PRIu32 " flows", p->name, p->capacity);
err_free_tables:
	rte_free(ifr->bloom_cnt);
	rte_free(ifr->bloom);
	rte_free(ifr->free_idx);
	rte_free(ifr->entries);
err_free_hash:
	rte_hash_free(ifr->h);
err_free_ifr:
	rte_free(ifr);
	rte_errno = rc;
	return NULL;
err_nomem:
	HM_ERR(MOD, "%s: no memory", p->name);
	rte_errno = ENOMEM;
	return NULL;
}

void mfn_ifr_destroy(struct mfn_ifr *ifr)
{
	if (ifr == NULL)
		return;
	rte_hash_free(ifr->h);
	rte_free(ifr->bloom_cnt);
	rte_free(ifr->bloom);
	rte_free(ifr->free_idx);
	rte_free(ifr->entries);
	rte_free(ifr);
}

uint64_t mfn_ifr_lookup_bulk(const struct mfn_ifr *ifr, struct mfn_ifr_reader *rd,
			     const struct mfn_flow_key *const *keys, unsigned int n,
			     struct mfn_ifr_entry **entries, struct mfn_ifr_burst_stats *st)
{
	const void *ckeys[MFN_IFR_BULK_MAX];
	hash_sig_t sig[MFN_IFR_BULK_MAX];
	uint64_t bh[MFN_IFR_BULK_MAX];
	uint8_t cidx[MFN_IFR_BULK_MAX];
	void *data[MFN_IFR_BULK_MAX];
	uint64_t chit = 0, hits = 0;
	unsigned int m = 0;
	const bool filter = ifr->bloom != NULL && (rd == NULL || rd->miss_q8 >= MFN_IFR_FILTER_MISS_Q8);

	RTE_ASSERT(n <= MFN_IFR_BULK_MAX);
	for (unsigned int i = 0; i < n; i++) {
		sig[i] = ifr_hash(keys[i], &bh[i]);
		if (filter)
			rte_prefetch0(&ifr->bloom[ifr_bloom_block(ifr, bh[i]) * IFR_BLOCK_WORDS]);
	}
	/* Compact the keys the filter cannot rule out; only they reach the table. */
	for (unsigned int i = 0; i < n; i++) {
		entries[i] = NULL;
		if (filter && !ifr_bloom_maybe(ifr, bh[i]))
			continue;
		ckeys[m] = keys[i];
		sig[m] = sig[i];
		cidx[m++] = (uint8_t)i;
	}
	if (m > 0)
		rte_hash_lookup_with_hash_bulk_data(ifr->h, ckeys, sig, m, &chit, data);
	for (unsigned int j = 0; j < m; j++) {
		if (chit & (1ull << j)) {
			entries[cidx[j]] = data[j];
			hits |= 1ull << cidx[j];
		}
	}
	if (rd != NULL && n > 0) {
		uint32_t miss_q8 = (uint32_t)(n - (unsigned int)__builtin_popcountll(hits)) * 256 / n;

		rd->miss_q8 = (rd->miss_q8 * 7 + miss_q8) / 8;
	}
	if (st != NULL) {
		unsigned int nh = (unsigned int)__builtin_popcountll(hits);

		st->hits += nh;
		st->misses += n - nh;
		st->bloom_negatives += n - m;
	}
	return hits;
}

struct mfn_ifr_entry *mfn_ifr_lookup(const struct mfn_ifr *ifr, const struct mfn_flow_key *key)
{
	struct mfn_ifr_entry *e;

	mfn_ifr_lookup_bulk(ifr, NULL, &key, 1, &e, NULL);
	return e;
}

static bool ifr_key_valid(const struct mfn_flow_key *k)
{
	switch (k->kind) {
	case MFN_KEY_CID:
		return k->cid_len <= MFN_CID_MAX;
	case MFN_KEY_V4:
	case MFN_KEY_V6:
		return true;
	default:
		return false;
	}
}

int mfn_ifr_insert(struct mfn_ifr *ifr, const struct mfn_flow_key *key, uint32_t service,
		   uint64_t decision, uint64_t now)
{
	struct mfn_ifr_entry *e;
	uint64_t bh;
	hash_sig_t sig;
	uint32_t idx;
	int rc;

	if (!ifr_key_valid(key))
		return -EINVAL;
	sig = ifr_hash(key, &bh);
	rc = rte_hash_lookup_with_hash_data(ifr->h, key, sig, (void **)&e);
	if (rc >= 0) {
		__atomic_store_n(&e->decision, decision, __ATOMIC_RELEASE);
		ifr->st.updates++;
		return 1;
	}
	if (ifr->st.flows >= ifr->capacity)
		goto full;

	idx = ifr->free_idx[--ifr->n_free];
	e = &ifr->entries[idx];
	e->decision = decision;
	e->service = service;
	e->created = now;
	e->last_seen = now;
	e->packets = 0;
	e->bytes = 0;
	if (ifr->bloom != NULL)
		ifr_bloom_add(ifr, bh);
	rc = rte_hash_add_key_with_hash_data(ifr->h, key, sig, e);
	if (rc < 0) {
		ifr->free_idx[ifr->n_free++] = idx;
		if (ifr->bloom != NULL)
			ifr_bloom_del(ifr, bh);
		if (rc == -ENOSPC)
			goto full;
		return rc;
	}
	ifr->st.inserts++;
	ifr->st.flows++;
	if (ifr->full_logged) {
		HM_INFO(MOD, "%s: accepting new flows again (%" PRIu64 " refused while full)",
			ifr->name, ifr->st.insert_full);
		ifr->full_logged = false;
	}
	return 0;

full:
	ifr->st.insert_full++;
	if (!ifr->full_logged) {
		HM_WARN(MOD, "%s: flow table full at %" PRIu64 " flows: new flows are forwarded "
			     "uncached and counted as insert_full",
			ifr->name, ifr->st.flows);
		ifr->full_logged = true;
	}
	return -ENOSPC;
}

static int ifr_delete(struct mfn_ifr *ifr, const struct mfn_flow_key *key)
{
	uint64_t bh;
	hash_sig_t sig = ifr_hash(key, &bh);
	int32_t rc;

	/* The entry goes back to the stack from ifr_entry_free after the grace period. */
	rc = rte_hash_del_key_with_hash(ifr->h, key, sig);
	if (rc < 0)
		return rc;
	ifr->st.flows--;
	if (ifr->bloom != NULL)
		ifr_bloom_del(ifr, bh);
	return 0;
}

int mfn_ifr_delete(struct mfn_ifr *ifr, const struct mfn_flow_key *key)
{
	int rc = ifr_delete(ifr, key);

	if (rc == 0)
		ifr->st.deletes++;
	return rc < 0 ? -ENOENT : 0;
}

unsigned int mfn_ifr_age(struct mfn_ifr *ifr, uint64_t now, unsigned int budget, bool *swept)
{
	unsigned int removed = 0;

	if (swept != NULL)
		*swept = false;

	for (unsigned int i = 0; i < budget; i++) {
		const void *key;
		void *data;
		const struct mfn_ifr_entry *e;
		uint64_t seen;

		if (rte_hash_iterate(ifr->h, &key, &data, &ifr->age_next) < 0) {
			ifr->age_next = 0; /* wrapped: the next call starts a new sweep */
			ifr->st.sweeps++;
			if (swept != NULL)
				*swept = true;
			break;
		}
		e = data;
		seen = __atomic_load_n(&e->last_seen, __ATOMIC_RELAXED);
		if (now > seen && now - seen > ifr->idle_cycles) {
			/* Copy the key: the slot it points into is released by the delete. */
			struct mfn_flow_key k;

			memcpy(&k, key, sizeof(k));
			if (ifr_delete(ifr, &k) == 0)
				removed++;
		}
	}
	ifr->st.aged += removed;
	return removed;
}

unsigned int mfn_ifr_delete_backend(struct mfn_ifr *ifr, uint32_t backend)
{
	uint32_t next = 0;
	const void *key;
	void *data;
	unsigned int removed = 0;

	while (rte_hash_iterate(ifr->h, &key, &data, &next) >= 0) {
		const struct mfn_ifr_entry *e = data;

		if (MFN_IFR_DECISION_BACKEND(mfn_ifr_entry_decision(e)) == backend) {
			struct mfn_flow_key k;

			memcpy(&k, key, sizeof(k));
			if (ifr_delete(ifr, &k) == 0)
				removed++;
		}
	}
	ifr->st.deletes += removed;
	return removed;
}

void mfn_ifr_set_idle_timeout(struct mfn_ifr *ifr, uint64_t idle_timeout_ms)
{
	ifr->idle_cycles = (idle_timeout_ms ? idle_timeout_ms : 1) * (rte_get_tsc_hz() / 1000);
}

void mfn_ifr_clear(struct mfn_ifr *ifr)
{
	uint32_t next = 0;
	const void *key;
	void *data;

	while (rte_hash_iterate(ifr->h, &key, &data, &next) >= 0) {
		struct mfn_flow_key k;

		memcpy(&k, key, sizeof(k));
		if (ifr_delete(ifr, &k) == 0)
			ifr->st.deletes++;
	}
}

int mfn_ifr_walk(const struct mfn_ifr *ifr,
		 int (*fn)(const struct mfn_flow_key *key, const struct mfn_ifr_entry *e, void *arg),
		 void *arg)
{
	uint32_t next = 0;
	const void *key;
	void *data;
	int rc;

	while (rte_hash_iterate(ifr->h, &key, &data, &next) >= 0) {
		rc = fn(key, data, arg);
		if (rc != 0)
			return rc;
	}
	return 0;
}

void mfn_ifr_stats_get(const struct mfn_ifr *ifr, struct mfn_ifr_stats *out)
{
	/* Not rte_hash_count(): with RCU it also counts deleted keys awaiting reclaim. */
	*out = ifr->st;
	out->bloom_fpr_expected =
		ifr->bloom != NULL ? mfn_ifr_bloom_fpr(out->bloom_bits, out->flows) : 1.0;
}
