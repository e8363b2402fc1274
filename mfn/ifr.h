/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mfn_ifr — L1 of the MFN, the immediate flow registry.
 *
 * Exact match from a flow key (struct mfn_flow_key: QUIC DCID, else the UDP
 * 5-tuple over IPv4 or IPv6) to the decision made for that flow when it was
 * new: service, backend, mesh node. Every packet of a known flow is answered
 * here, so the lookup is a burst API shaped like rte_hash_lookup_bulk and
 * costs little more than it.
 *
 * Structure
 *   - An rte_hash (40-byte keys) created with RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF
 *     and the hash library's integrated RCU (rte_hash_rcu_qsbr_add, defer-queue
 *     mode) on the caller's QSBR variable: readers never lock or wait; a
 *     deleted key's slot and its entry are reused only after every reader
 *     registered on the QSBR variable has reported a quiescent state.
 *   - In front of it, a cache-line-blocked ("split block") Bloom filter:
 *     each key owns one 64-byte block and sets one bit in each of its eight
 *     64-bit words (Putze, Sanders, Singler, "Cache-, Hash- and Space-Efficient
 *     Bloom Filters", WEA 2007, §3; the one-bit-per-word layout is the split
 *     block filter of Apache Parquet/Impala). A lookup that finds any of the
 *     eight bits clear is a certain miss and never touches the table: that is
 *     what makes floods of never-seen keys (scans, spoofed Initials) cheap.
 *     The filter is sized at create time for @capacity keys at the configured
 *     false-positive rate; deletions clear bits through a writer-private
 *     array of saturating 8-bit counters, so aged-out flows do not leave the
 *     filter filling up over time.
 *   - One hash over the key feeds both: two CRC32-C chains run side by side
 *     (one crc32 instruction per 8 bytes each); the first is the rte_hash
 *     signature (the table's own hash_func returns the same value, so lookups
 *     pass it in with rte_hash_lookup_with_hash_bulk_data), the second
 *     chooses the Bloom block and bits.
 *
 * Threads
 *   One writer (the "control path": in the dataplane, the main lcore that
 *   drains the workers' insert requests and serves the control socket) calls
 *   every function that changes the registry: insert, delete, age, reclaim.
 *   Any number of readers (worker lcores) call mfn_ifr_lookup_bulk and
 *   mfn_ifr_entry_touch concurrently with it; each reader must be registered
 *   on the QSBR variable and report quiescent states between bursts
 *   (rte_rcu_qsbr_quiescent), or the writer's reclaim never completes and
 *   inserts end with -ENOSPC.
 *
 * Entries
 *   struct mfn_ifr_entry is public so the packet path updates it without a
 *   call. The decision (backend, node, flags) is one 64-bit word that the
 *   writer replaces with a single atomic store, so a reader sees the old or
 *   the new decision, never half of each. The per-flow counters and the
 *   last-seen time are written by the lcore that handles the flow with plain
 *   stores: the dataplane steers a flow's packets to one lcore (DCID hash in
 *   the pipeline layout, RSS on the 5-tuple in run-to-completion), so there is
 *   one writer per entry and no locked read-modify-write on the packet path.
 *   Timestamps are TSC cycles (rte_get_tsc_cycles()).
 *
 * Capacity
 *   When the table is full an insert returns -ENOSPC, is counted
 *   (insert_full), and is logged once per episode (again only after an insert
 *   succeeds); the caller forwards the flow uncached. Nothing crashes and
 *   nothing already registered is evicted.
 */
#ifndef MFN_IFR_H
#define MFN_IFR_H

#include <stdbool.h>
#include <stdint.h>

#include "mfn_key.h"

struct rte_rcu_qsbr;

/* rte_hash_lookup_bulk's own limit (RTE_HASH_LOOKUP_BULK_MAX). */
#define MFN_IFR_BULK_MAX 64

struct mfn_ifr_params {
	const char *name;      /* unique among this process's rte_hash tables */
	uint32_t capacity;     /* flows; 1 .. 2^30 */
	double bloom_fpr;      /* Bloom filter false-positive target at capacity,
				  (0, 0.5]; 0 disables the filter */
	uint64_t idle_timeout_ms; /* mfn_ifr_age() removes flows idle this long; >= 1 */
	struct rte_rcu_qsbr *qsv; /* readers' QSBR variable; required */
	int socket_id;         /* NUMA socket for the table (SOCKET_ID_ANY ok) */
};

/* The decision word: backend in the low 32 bits, node in the next 16, flags on top. */
#define MFN_IFR_DECISION(backend, node, flags)                                                  \
	((uint64_t)(uint32_t)(backend) | (uint64_t)(uint16_t)(node) << 32 |                        \
	 (uint64_t)(uint16_t)(flags) << 48)
#define MFN_IFR_DECISION_BACKEND(d) ((uint32_t)(d))
#define MFN_IFR_DECISION_NODE(d) ((uint16_t)((d) >> 32))
#define MFN_IFR_DECISION_FLAGS(d) ((uint16_t)((d) >> 48))

struct mfn_ifr_entry {
	uint64_t decision;   /* MFN_IFR_DECISION(); read with mfn_ifr_entry_decision() */
	uint32_t service;    /* fixed at insert */
	uint32_t _pad;
	uint64_t created;    /* TSC at insert */
	uint64_t last_seen;  /* TSC, written by the flow's lcore */
	uint64_t packets;    /* written by the flow's lcore */
	uint64_t bytes;
} __attribute__((aligned(64)));

/*
 * Per-reader (per-lcore) state of the filter policy. The filter costs one
 * cache line per key and saves a table probe (two or three lines) per key
 * that is absent, so it pays only when misses are common: a reader consults
 * it while the moving average of its miss fraction (weight 1/8 per burst) is
 * at least MFN_IFR_FILTER_MISS_Q8 / 256, and skips it on hit-heavy traffic.
 * A flood of unknown keys turns it back on within a few bursts. Zero-init.
 */
#define MFN_IFR_FILTER_MISS_Q8 96 /* 37.5 %: the break-even measured by perf/ifr_bench */
struct mfn_ifr_reader {
	uint32_t miss_q8; /* EWMA of the miss fraction x 256 */
};

/* Reader-side counters of one lookup burst; the caller adds them to its per-lcore stats. */
struct mfn_ifr_burst_stats {
	uint32_t hits;
	uint32_t misses;
	uint32_t bloom_negatives; /* misses decided by the filter alone (subset of misses) */
};

/* Writer-side counters (mfn_ifr_stats_get); the writer is their only updater. */
struct mfn_ifr_stats {
	uint64_t flows;        /* registered now (deleted ones awaiting reclaim excluded) */
	uint64_t inserts;      /* new keys */
	uint64_t updates;      /* decision replaced on an existing key */
	uint64_t deletes;      /* mfn_ifr_delete */
	uint64_t aged;         /* removed by mfn_ifr_age */
	uint64_t sweeps;       /* whole-table passes completed by mfn_ifr_age */
	uint64_t insert_full;  /* inserts refused: table full */
	uint64_t bloom_bits;   /* filter size in bits (0: no filter) */
	uint64_t bloom_saturated; /* counters stuck at 255: their bits are never cleared */
	double bloom_fpr_expected; /* at the current number of flows */
};

struct mfn_ifr;

/*
 * Create a registry. Validates @p (each error logged with the field's name
 * and value); returns NULL with rte_errno set: EINVAL bad parameter, ENOMEM,
 * EEXIST name taken.
 */
struct mfn_ifr *mfn_ifr_create(const struct mfn_ifr_params *p);

/* Destroy; no reader may run any more. NULL is a no-op. */
void mfn_ifr_destroy(struct mfn_ifr *ifr);

/*
 * Readers: look up @n (<= MFN_IFR_BULK_MAX) keys. entries[i] is the flow's
 * entry or NULL; the return value is a bit mask of hits (bit i for key i).
 * The entries stay valid until the caller's next quiescent state.
 * @rd: the calling lcore's filter policy state, or NULL to always consult
 * the filter. @st (may be NULL): counters of this call are added to it.
 */
uint64_t mfn_ifr_lookup_bulk(const struct mfn_ifr *ifr, struct mfn_ifr_reader *rd,
			     const struct mfn_flow_key *const *keys, unsigned int n,
			     struct mfn_ifr_entry **entries, struct mfn_ifr_burst_stats *st);

/* Single-key form of the above (control path, tests). */
struct mfn_ifr_entry *mfn_ifr_lookup(const struct mfn_ifr *ifr, const struct mfn_flow_key *key);

/* Readers: account one packet of @bytes seen at @now (TSC) to the flow. */
static inline void mfn_ifr_entry_touch(struct mfn_ifr_entry *e, uint32_t bytes, uint64_t now)
{
	e->packets++;
	e->bytes += bytes;
	e->last_seen = now;
}

static inline uint64_t mfn_ifr_entry_decision(const struct mfn_ifr_entry *e)
{
	return __atomic_load_n(&e->decision, __ATOMIC_ACQUIRE);
}

/*
 * Writer: register @key with @decision for @service, or replace the decision
 * of an existing key (its service, counters and timestamps stay).
 * Returns 0 (new), 1 (updated), -ENOSPC table full (counted, logged once per
 * episode), -EINVAL malformed key (kind or length out of range).
 */
int mfn_ifr_insert(struct mfn_ifr *ifr, const struct mfn_flow_key *key, uint32_t service,
		   uint64_t decision, uint64_t now);

/* Writer: remove @key. Returns 0 or -ENOENT. The entry is reused after a grace period. */
int mfn_ifr_delete(struct mfn_ifr *ifr, const struct mfn_flow_key *key);

/* Writer (the thread that ages): a new idle timeout for the next sweeps, >= 1 ms. */
void mfn_ifr_set_idle_timeout(struct mfn_ifr *ifr, uint64_t idle_timeout_ms);

/*
 * Writer: visit up to @budget flows from where the previous call stopped,
 * removing those whose last_seen is older than idle_timeout_ms before @now.
 * When the cursor reaches the end of the table the sweep is over: *@swept
 * (if not NULL) is set and the next call starts a new sweep from the top.
 *
 * Each call also scans the empty slots between the flows it visits, so a
 * whole sweep costs one pass over the table however few flows it holds.
 * Callers pace whole sweeps in time (a fraction of the idle timeout) rather
 * than calling this continuously: a sparse million-slot table swept every
 * 10 ms costs a core. Returns the number of flows removed.
 */
unsigned int mfn_ifr_age(struct mfn_ifr *ifr, uint64_t now, unsigned int budget, bool *swept);

/*
 * Writer: remove every flow whose decision names @backend (a backend was
 * deleted: its flows must be decided again). Returns the number removed.
 */
unsigned int mfn_ifr_delete_backend(struct mfn_ifr *ifr, uint32_t backend);

/* Writer: remove every flow. */
void mfn_ifr_clear(struct mfn_ifr *ifr);

/*
 * Writer: visit every flow; stop when @fn returns non-zero and return that
 * value. @fn must not change the registry.
 */
int mfn_ifr_walk(const struct mfn_ifr *ifr,
		 int (*fn)(const struct mfn_flow_key *key, const struct mfn_ifr_entry *e, void *arg),
		 void *arg);

void mfn_ifr_stats_get(const struct mfn_ifr *ifr, struct mfn_ifr_stats *out);

/*
 * The false-positive rate a filter of @bits bits holding @n keys is expected
 * to have (exact sum over the Poisson distribution of keys per block).
 */
double mfn_ifr_bloom_fpr(uint64_t bits, uint64_t n);

#endif /* MFN_IFR_H */
