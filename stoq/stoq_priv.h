/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stoq_priv.h — STOQ internals shared by the stoq/ sources and tests/stoq/. Not part
 * of the API: callers outside the module use stoq.h only.
 */
#ifndef STOQ_PRIV_H
#define STOQ_PRIV_H

#include <limits.h>
#include <signal.h>
#include <sys/types.h>

#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_wolfssl.h>
#include <nghttp3/nghttp3.h>
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "hm_quiclb.h"
#include "stoq.h"

#define STOQ_LOG "stoq"
#define STOQ_CID_MAX NGTCP2_MAX_CIDLEN
#define STOQ_CID_BUCKETS 4096
#define STOQ_TX_BATCH 16   /* datagrams (each up to gso_segments packets) per send call */
#define STOQ_GSO_MAX 64	   /* UDP_SEGMENT allows 64 segments per send */
/* Bytes of one GSO train: the largest UDP payload over IPv4 (65535 - 20 - 8).
 * The kernel refuses a longer UDP_SEGMENT send (EMSGSIZE), whatever the
 * segment count: 45 packets of 1452, 7 of 8952. */
#define STOQ_TRAIN_MAX	   65507
#define STOQ_PEND_MAX 32   /* queued stateless packets (VN, Retry, Reset) */
#define STOQ_TOKEN_LEN 64  /* our Retry token: see stoq_token.c */
#define STOQ_RESET_KEY_LEN 32

/* Keys for tokens and stateless resets; one set per endpoint. */
struct stoq_token_keys {
	Aes gcm;		/* AES-128-GCM for Retry tokens */
	uint8_t reset_key[STOQ_RESET_KEY_LEN]; /* HMAC-SHA256 key for reset tokens */
	WC_RNG *rng;
};

int stoq_token_keys_init(struct stoq_token_keys *k, WC_RNG *rng);
void stoq_token_keys_fini(struct stoq_token_keys *k);

/*
 * Retry token (RFC 9000 §8.1.2): binds the client address, the Retry's
 * source CID and the original DCID, and expires @lifetime_ns after @now.
 * Returns the token length or negative errno.
 */
int stoq_token_retry_make(struct stoq_token_keys *k, const struct sockaddr *remote,
			  socklen_t rlen, const uint8_t *retry_scid, size_t scidlen,
			  const uint8_t *odcid, size_t odcidlen, uint64_t now, uint64_t lifetime_ns,
			  uint8_t *out, size_t outlen);
/*
 * Check a Retry token; on success writes the original DCID. Returns 0,
 * -EBADMSG when tampered/foreign, -ETIMEDOUT when expired.
 */
int stoq_token_retry_check(struct stoq_token_keys *k, const struct sockaddr *remote,
			   socklen_t rlen, const uint8_t *retry_scid, size_t scidlen,
			   const uint8_t *token, size_t tokenlen, uint64_t now, uint8_t *odcid,
			   size_t *odcidlen);
/* Stateless reset token for @cid (RFC 9000 §10.3.2): HMAC-SHA256 truncated. */
int stoq_token_reset(const struct stoq_token_keys *k, const uint8_t *cid, size_t cidlen,
		     uint8_t out[NGTCP2_STATELESS_RESET_TOKENLEN]);

/* AES contexts for CID encryption, prepared once from cfg->cid_key (off when unset);
 * hm_quiclb_aes_fini() releases them. */
/*
 * stoq_aead.c: ngtcp2's encrypt, decrypt and hp_mask callbacks, on
 * wolfCrypt directly for AES-GCM (and AES header protection), through
 * ngtcp2_crypto_wolfssl for any other suite. Same contract as
 * ngtcp2_crypto_{encrypt,decrypt,hp_mask}_cb.
 */
int stoq_aead_encrypt_cb(uint8_t *dest, const ngtcp2_crypto_aead *aead,
			 const ngtcp2_crypto_aead_ctx *aead_ctx, const uint8_t *plaintext,
			 size_t plaintextlen, const uint8_t *nonce, size_t noncelen,
			 const uint8_t *aad, size_t aadlen);
int stoq_aead_decrypt_cb(uint8_t *dest, const ngtcp2_crypto_aead *aead,
			 const ngtcp2_crypto_aead_ctx *aead_ctx, const uint8_t *ciphertext,
			 size_t ciphertextlen, const uint8_t *nonce, size_t noncelen,
			 const uint8_t *aad, size_t aadlen);
int stoq_aead_hp_mask_cb(uint8_t *dest, const ngtcp2_crypto_cipher *hp,
			 const ngtcp2_crypto_cipher_ctx *hp_ctx, const uint8_t *sample);
/* aes_gcm = wolfcrypt: AES-GCM on wolfCrypt even where stoq_gcm could run
 * (process-wide; the last endpoint made sets it). stoq_aead_vaes(): whether
 * packets are sealed by stoq_gcm now. */
void stoq_aead_use_wolfcrypt(bool on);
bool stoq_aead_vaes(void);
/* ngtcp2's delete_crypto_aead_ctx: drops this thread's stoq_gcm key for the
 * context, then ngtcp2_crypto_delete_crypto_aead_ctx_cb. keys_held: how
 * many this thread holds (tests). */
void stoq_aead_delete_ctx_cb(ngtcp2_conn *conn, ngtcp2_crypto_aead_ctx *aead_ctx,
			     void *user_data);
/* delete_crypto_cipher_ctx: the same for header protection keys. */
void stoq_aead_delete_cipher_ctx_cb(ngtcp2_conn *conn, ngtcp2_crypto_cipher_ctx *cipher_ctx,
				    void *user_data);
size_t stoq_aead_keys_held(void);

int stoq_cid_aes_init(struct hm_quiclb_aes *a, const struct stoq_config *cfg);
int stoq_cid_encode_aes(const struct stoq_config *cfg, const struct hm_quiclb_aes *a,
			uint32_t server_id, const uint8_t *nonce, uint8_t *out, size_t outlen);
int stoq_cid_decode_aes(const struct stoq_config *cfg, const struct hm_quiclb_aes *a,
			const uint8_t *cid, size_t len, uint32_t *server_id);

enum stoq_method { STOQ_M_OTHER, STOQ_M_GET, STOQ_M_HEAD, STOQ_M_PUT };

/*
 * stoq_sha256.c: SHA-256 on the CPU's SHA extensions (SHA-NI) where it has
 * them, wolfCrypt's otherwise (allow_ni false: wolfCrypt's always, for
 * tests and perf/bench_sha256). A context may be moved with memcpy.
 * init/update/final give 0 or -EIO; free releases what wolfCrypt holds.
 */
struct stoq_sha256 {
	bool ni;
	union {
		wc_Sha256 wc;
		struct {
			uint32_t h[8];
			uint64_t bytes;
			uint8_t buf[64];
			unsigned int fill;
		} x;
	} u;
};
bool stoq_sha256_has_ni(void);
int stoq_sha256_init(struct stoq_sha256 *s);
int stoq_sha256_init_impl(struct stoq_sha256 *s, bool allow_ni);
int stoq_sha256_update(struct stoq_sha256 *s, const void *data, size_t len);
int stoq_sha256_final(struct stoq_sha256 *s, uint8_t d[32]);
void stoq_sha256_free(struct stoq_sha256 *s);

/*
 * stoq_gcm.c: AES-128/256-GCM on VAES and VPCLMULQDQ (AVX-512, or AVX2
 * where the CPU has no AVX-512), for the packet protection callbacks. Call stoq_gcm_supported() first: the others
 * use those instructions unchecked. init takes the raw key (16 or 32
 * bytes; -EINVAL otherwise) and makes the round keys and H^1..H^16 once.
 * seal/open take a 12-byte IV (QUIC's nonce) and work in place when out ==
 * in; open gives -EBADMSG when the tag does not match (out then holds
 * unauthenticated bytes the caller must drop).
 */
#define STOQ_GCM_IV_LEN 12
#define STOQ_GCM_TAG_LEN 16 /* RFC 9001 §5.3: AEAD_AES_*_GCM tags are 16 bytes */
struct stoq_gcm_key {
	uint8_t rk[15][16] __attribute__((aligned(64))); /* round keys, FIPS 197 order */
	uint8_t pw[32][16]; /* H^16 .. H^1 (reversed, times x), then zeros */
	unsigned int rounds;
};
bool stoq_gcm_supported(void);
/* The register width in use, 512 or 256 bits (0: unsupported); use_width
 * narrows it (256 on an AVX-512 CPU, for tests and perf/bench_aesgcm; 0:
 * back to the CPU's), -ENOTSUP for a width the CPU lacks. */
unsigned int stoq_gcm_width(void);
int stoq_gcm_use_width(unsigned int w);
int stoq_gcm_init(struct stoq_gcm_key *k, const uint8_t *key, size_t keylen);
void stoq_gcm_seal(const struct stoq_gcm_key *k, uint8_t *out, const uint8_t *in, size_t len,
		   const uint8_t iv[STOQ_GCM_IV_LEN], const uint8_t *aad, size_t aadlen,
		   uint8_t tag[STOQ_GCM_TAG_LEN]);
int stoq_gcm_open(const struct stoq_gcm_key *k, uint8_t *out, const uint8_t *in, size_t len,
		  const uint8_t iv[STOQ_GCM_IV_LEN], const uint8_t *aad, size_t aadlen,
		  const uint8_t tag[STOQ_GCM_TAG_LEN]);
/* One AES block (ECB) under the key: QUIC header protection's mask (RFC
 * 9001 §5.4.3). @in and @out need no alignment. */
void stoq_gcm_block(const struct stoq_gcm_key *k, uint8_t out[16], const uint8_t in[16]);

/* A PUT's body is written in blocks of STOQ_PUT_BLOCK, at most
 * put_buffers of them per endpoint (stoq_h3.c says why). */
#define STOQ_PUT_BLOCK (2u << 20)
/*
 * Blocks of one PUT waiting for the pager at a time (stoq_h3.c): the bytes
 * held back from the client are at most its stream window (16 MiB by
 * default, max_stream_window), eight 2 MiB blocks, plus the block that was
 * being written when the holding began. A larger window overflows it:
 * those blocks are written by the loop itself (stoq_put_writes_inline).
 */
#define STOQ_PUT_RING 10

/* One file mapped whole, read-only and shared (stoq_fcache.c). */
struct stoq_fmap {
	uint8_t *map;
	uint64_t size;
	dev_t dev;
	ino_t ino;
	uint64_t used;	 /* ep->now of the last GET's start or end */
	unsigned refs;	 /* atomic: the cache's, each request's, an orphaned job's */
	/* set by the SIGBUS guard: zeros are mapped over a page at poison_off */
	volatile sig_atomic_t poisoned;
	uint64_t poison_off;
	/* bit i: file bytes [i, i+1) * STOQ_FMAP_BLOCK are in this mapping's
	 * page tables (a GET's MADV_POPULATE_READ of them succeeded) */
	uint64_t mapped[];
};
#define STOQ_FMAP_BLOCK (2u << 20)

/* At most this many files mapped per endpoint, whatever their size. */
#define STOQ_FCACHE_MAX 256

struct stoq_fcache {
	struct stoq_fmap *e[STOQ_FCACHE_MAX];
	unsigned n;
	uint64_t bytes;	    /* mapped by the entries */
	uint64_t max_bytes; /* file_cache_bytes; 0: none kept */
	uint64_t idle_ns;
	uint64_t next;	   /* when stoq_fcache_expire() is due (UINT64_MAX: never) */
	uint64_t poisoned; /* entries the guard poisoned, ever */
	uint64_t swept;	   /* of those, the ones every connection was checked for */
	uint64_t hits, misses;
};

/* One HTTP/3 request stream, either role. */
struct stoq_req {
	uint64_t t_start; /* ep->now when the request began (request-time histogram) */
	struct stoq_req *next; /* client: queue of requests waiting for a stream */
	struct stoq_req *lnext, *lprev; /* every request of the connection */
	struct stoq_conn *conn;
	int64_t stream_id;
	/* request */
	char path[STOQ_PATH_MAX];
	enum stoq_method method;
	bool has_range;
	int64_t range_start, range_end; /* inclusive; range_end -1 = to the end */
	/* response body (server: a read-only mapping of the file, map_len > 0)
	 * or PUT body (client: the caller's bytes, map_len 0: not ours; or,
	 * from stoq_conn_put_fd, our mapping of the file, map_len > 0) */
	uint8_t *map;
	size_t map_len;
	struct stoq_fmap *fmap; /* server: the mapping map is (stoq_fcache.c), held */
	size_t body_off, body_len;
	size_t body_given; /* bytes of the body handed to nghttp3 so far */
	/* server: the body could not be read (errno; EIO from the SIGBUS
	 * guard) at byte read_off of the file; reported once (read_told) */
	int read_err;
	size_t read_off;
	bool read_told;
	/* server, a body on a disk (not tmpfs): its chunks are read by the
	 * endpoint's pager; pg_job reads the chunk at pg_off (of the file)
	 * while pg_wait; pg_ready: that chunk is read (pg_err its errno) */
	bool paged;
	bool pg_wait, pg_ready;
	bool pg_open; /* pg_job opens the file (stoq_pager_open) */
	int pg_err;
	size_t pg_off;
	struct stoq_page_job *pg_job;
	int put_fd;
	char put_tmp[PATH_MAX + 32];
	uint64_t put_bytes;
	/* server: body bytes not yet written, up to STOQ_PUT_BLOCK (NULL: the
	 * endpoint had none to spare, bytes are written as they arrive), the
	 * first of them to go at put_off of the file */
	uint8_t *put_buf;
	size_t put_fill;
	uint64_t put_off;
	/* server, a PUT to a disk (put_paged): full blocks waiting for the
	 * pager, oldest first, in a ring (put_head, put_n); put_job writes the
	 * oldest (one at a time: a file's writes are serialised by the kernel
	 * anyway, and a disk that stops answering then holds one pager thread
	 * per PUT, not all of them). Bytes that arrive while a block waits get
	 * no flow-control credit until the ring is empty (those in a block:
	 * its .credit; those in put_buf: put_held): a disk slower than the
	 * network slows the client, not the event loop, and memory stays
	 * within the stream's window. put_wait: counted in n_paging;
	 * put_ending: the body is all in, stored once the ring is empty. */
	bool put_paged, put_wait, put_ending;
	unsigned put_head, put_n;
	size_t put_held;
	struct stoq_page_job *put_job;
	struct {
		uint8_t *buf;
		size_t len, credit;
		uint64_t off;
	} put_ring[STOQ_PUT_RING];
	/* PUT body's SHA-256 (server: as it is written; client: what is sent),
	 * for /sha256/<hex> names and repr-digest (RFC 9530) */
	struct stoq_sha256 put_sha;
	bool put_sha_on;
	/* server: the file's bytes before put_hashed are in put_sha; while
	 * put_sha_moved the pager's write job has put_sha (stoq_pager_write) */
	bool put_sha_moved;
	uint64_t put_hashed;
	int put_status;	   /* server: the answer decided before the body ended (0: none) */
	uint8_t put_digest[WC_SHA256_DIGEST_SIZE]; /* server: the body's, for the 201 */
	char put_hash[65]; /* server: the hex digest a /sha256/ path names, else "" */
	char put_b64[48];  /* client: base64 of the digest sent, for repr-digest */
	bool digest_bad;   /* client: the server's repr-digest is not ours */
	char hdr_buf[96]; /* content-length / content-range values */
	char hdr_buf2[96];
	/* client */
	const struct stoq_request_ops *ops;
	void *arg;
	int status;
	uint64_t bytes;
	bool done;
};

struct stoq_conn {
	struct stoq_endpoint *ep;
	struct stoq_conn *next, *prev;
	ngtcp2_conn *q;
	ngtcp2_crypto_conn_ref ref;
	WOLFSSL *ssl;
	nghttp3_conn *h3;
	/* Bytes ngtcp2 reported acknowledged on stream ack_sid and nghttp3
	 * has not heard of yet: told once per packet read (stoq_conn.c). */
	int64_t ack_sid;
	uint64_t ack_n;
	struct sockaddr_storage remote;
	socklen_t remote_len;
	bool server;
	bool established;
	bool early; /* client: requests went out in 0-RTT; the handshake is not done */
	bool closing;  /* we sent CONNECTION_CLOSE */
	bool draining; /* peer closed, or idle/handshake timeout */
	bool dead;     /* may be freed */
	uint64_t t_start, t_hs, close_deadline;
	uint8_t close_pkt[1500];
	size_t close_len;
	bool close_resend;
	char err[256];
	uint32_t vn_versions[8];
	size_t n_vn;
	struct stoq_req *queue_head, *queue_tail;
	struct stoq_req *reqs; /* all, for teardown */
	/* server: a request's body could not be read (stoq_req.read_err):
	 * before a chunk was handed out (its stream is reset), or under the
	 * copy into a packet (set by the SIGBUS guard: the connection closes) */
	bool body_reset;
	volatile sig_atomic_t body_fault;
	unsigned n_paging; /* requests waiting for the pager (pg_wait) */
	char authority[300];
	size_t n_queued, n_active;
};

struct stoq_cid_entry {
	struct stoq_cid_entry *next;
	struct stoq_conn *conn;
	uint8_t len;
	uint8_t cid[STOQ_CID_MAX];
};

struct stoq_pending {
	uint8_t data[1500];
	size_t len;
	struct sockaddr_storage remote;
	socklen_t remote_len;
};

struct stoq_endpoint {
	struct stoq_config cfg;
	bool server;
	uint64_t now; /* the time of the entry point running (callbacks have none) */
	char root[PATH_MAX];
	int root_fd;
	struct sockaddr_storage local;
	socklen_t local_len;
	WOLFSSL_CTX *ctx;
	WC_RNG rng;
	struct hm_quiclb_aes cid_aes;
	struct stoq_token_keys keys;
	struct stoq_conn *conns;
	size_t n_conns;
	struct stoq_cid_entry *buckets[STOQ_CID_BUCKETS];
	uint8_t *txbuf;
	size_t txslot; /* bytes per out datagram slot */
	/* Back-end buffers of one stoq_endpoint_send_io() call, handed out to
	 * its datagrams (valid until the next call, as txbuf's slots). */
	struct stoq_txbuf txpk[STOQ_TX_BATCH * STOQ_GSO_MAX];
	struct stoq_pending pend[STOQ_PEND_MAX];
	unsigned n_pend;
	unsigned n_put_bufs; /* PUT write blocks held by this endpoint's requests */
	struct stoq_pager *pager; /* server with a root and body_read_threads > 0 */
	struct stoq_sweep *sweep; /* server with a root: unfinished PUTs of earlier runs */
	unsigned n_paging;	   /* requests waiting for it, all connections */
	struct stoq_fcache fcache; /* server: file mappings kept between GETs */
	struct stoq_endpoint_stats st;
};

/*
 * stoq_fcache.c: a file's mapping, shared by the GETs sending it and kept
 * between them (see the file). adopt takes a fresh mapping from
 * stoq_file_map() (*@f; the caller's no longer) and gives the entry for
 * that file, held once for the caller: the cached one (the fresh mapping
 * unmapped) or a new one, cached if it fits; NULL: no memory, @f still the
 * caller's. done stamps the end of a GET (idle expiry counts from it)
 * before the caller's stoq_fmap_put(). expire drops the entries idle for
 * file_cache_idle_ms by @now; next is when that is due. The guard poisons
 * an entry it put zeros in (poisoned, poison_off the file offset), and
 * counts it in the cache's poisoned; conn_write then marks, once, every
 * connection sending from it (swept).
 */
struct stoq_file_open;
void stoq_fcache_init(struct stoq_fcache *fc, uint64_t max_bytes, uint32_t idle_ms);
struct stoq_fmap *stoq_fcache_adopt(struct stoq_fcache *fc, const struct stoq_file_open *f,
				    uint64_t now);
void stoq_fcache_done(struct stoq_fcache *fc, struct stoq_fmap *m, uint64_t now);
void stoq_fcache_expire(struct stoq_fcache *fc, uint64_t now);

/*
 * stoq_rootfs.c: 1 if dir is on a tmpfs that keeps its files in 4 KiB
 * pages (its huge= neither always nor within_size, none forced system-wide),
 * with the mount point in mnt; 0 if it is not; -errno if that cannot be told.
 */
int stoq_rootfs_small_pages(const char *dir, char *mnt, size_t mntlen);
void stoq_fcache_clear(struct stoq_fcache *fc);
/* Let go of one reference (any thread): the last unmaps. */
void stoq_fmap_put(struct stoq_fmap *m);
/* Whether every STOQ_FMAP_BLOCK that file bytes [@off, @off+@len) touch
 * was populated in @m; set_mapped records [@off, @off+@len) populated
 * (the blocks it covers whole, or to the file's end). */
bool stoq_fmap_mapped(const struct stoq_fmap *m, uint64_t off, uint64_t len);
void stoq_fmap_set_mapped(struct stoq_fmap *m, uint64_t off, uint64_t len);

/*
 * stoq_endpoint_send() for the driver loop: on a back end with tx_get the
 * trains are written in place into its buffers (stoq_dgram.bufs), and
 * those not used are given back before it returns.
 */
size_t stoq_endpoint_send_io(struct stoq_endpoint *ep, struct stoq_io *io,
			     struct stoq_dgram *out, size_t max, uint64_t now);

/* stoq_conn.c: CID table */
int stoq_cid_table_add(struct stoq_endpoint *ep, const uint8_t *cid, size_t len,
		       struct stoq_conn *c);
void stoq_cid_table_del(struct stoq_endpoint *ep, const uint8_t *cid, size_t len);
struct stoq_conn *stoq_cid_table_find(struct stoq_endpoint *ep, const uint8_t *cid, size_t len);

/*
 * stoq_guard.c: a SIGBUS in the copy of a body's mapping into a packet
 * (the file cut short under a GET, or unreadable) marks the connection
 * being written (stoq_guard_conn, set by conn_write) instead of killing
 * the process. stoq_guard_init() installs the handler, once per process:
 * 0, or -errno from sigaction.
 */
extern __thread struct stoq_conn *stoq_guard_conn;
int stoq_guard_init(void);

/*
 * stoq_pager.c: threads that read cold body chunks off the event loop
 * (MADV_POPULATE_READ on a pager thread; see the file). Internal API:
 * create with 1..STOQ_PAGER_MAX_THREADS threads (0 or -errno); the eventfd
 * becomes readable when a job finishes (stoq_pager_drain() empties it);
 * submit queues a read of [addr, addr+len) on *jp (allocated on first use;
 * -EBUSY while it is still pending); poll gives -EINPROGRESS until it is
 * done, then 0 or -errno of the read; release frees the job when its
 * request goes, unmapping @map (the body), or freeing a write's block,
 * once no thread reads it.
 */
#define STOQ_PAGER_MAX_THREADS 64
/* While a chunk is being read, the endpoint's next timer is at most this far
 * off: a loop that does not poll the eventfd still finds the job done. */
#define STOQ_PAGER_POLL_NS 1000000ull
struct stoq_pager;
struct stoq_page_job;
/* @cpus: the threads' CPUs (bit i of [i / 64], STOQ_MAX_CPUS), NULL or
 * none set: this thread's affinity. */
int stoq_pager_create(unsigned threads, const unsigned long long *cpus, struct stoq_pager **out);
void stoq_pager_destroy(struct stoq_pager *p);
int stoq_pager_wakefd(const struct stoq_pager *p);
void stoq_pager_drain(struct stoq_pager *p);
int stoq_pager_submit(struct stoq_pager *p, struct stoq_page_job **jp, void *addr, size_t len);
/* Queue stoq_commit_file(@fd, @tmp, @dst) on *jp: 0 (@fd is the job's
 * then), or -EBUSY/-ENOMEM (@fd still the caller's). */
int stoq_pager_commit(struct stoq_pager *p, struct stoq_page_job **jp, int fd, const char *tmp,
		      const char *dst);
/* A file to serve, opened and mapped whole (map NULL when empty). */
struct stoq_file_open {
	uint8_t *map;
	uint64_t size;
	long fs_type; /* statfs f_type: tmpfs needs no pager */
	dev_t dev;    /* which file (stoq_fcache.c) */
	ino_t ino;
};
/* Map the file open at @fd whole, read-only, once it is checked to be a
 * regular file: 0, or -errno (-EISDIR for anything but a regular file),
 * *@out zeroed. stoq_file_open() does it for @rel under @dirfd. */
int stoq_file_map(int fd, struct stoq_file_open *out);
int stoq_file_open(int dirfd, const char *rel, struct stoq_file_open *out);
/* Queue stoq_file_open() on *jp; stoq_pager_opened() is stoq_pager_poll()
 * that also gives the result once done (the mapping is the caller's then;
 * released with the job before that, the thread unmaps it). */
int stoq_pager_open(struct stoq_pager *p, struct stoq_page_job **jp, int dirfd, const char *rel);
int stoq_pager_opened(struct stoq_page_job *j, struct stoq_file_open *out);
/* A PUT's file made durable under its name: fdatasync @fd, rename @tmp
 * to @dst, close @fd (always), fsync @dst's directory. 0 or -errno; @tmp
 * is unlinked when the rename did not happen. */
int stoq_commit_file(int fd, const char *tmp, const char *dst);
/* Queue pwrite(2) of @len bytes of @buf at @off of @fd on *jp: 0, or
 * -EBUSY/-ENOMEM/-EMFILE (@buf still the caller's). Once queued, @buf (from
 * malloc) is the job's until stoq_pager_written() hands it back, and the
 * job writes through its own dup of @fd, closed when it is done. With
 * @sha (holding the file's bytes before @hashed) the job moves it in and
 * hashes the file up to the block's end (the bytes before @off from the
 * file itself); it is the job's until stoq_pager_written(). */
int stoq_pager_write(struct stoq_pager *p, struct stoq_page_job **jp, int fd, void *buf, size_t len,
		     uint64_t off, struct stoq_sha256 *sha, uint64_t hashed);
/* All @len bytes of @data at @off of @fd (pwrite): 0 or -errno (-ENOSPC: full). */
int stoq_write_all(int fd, const void *data, size_t len, uint64_t off);
/* Bytes [@from, @to) of the file at @fd into @sha (pread): 0, -EIO (the
 * file ends before @to, or a read or hash failed) or -ENOMEM. */
int stoq_sha256_update_fd(struct stoq_sha256 *sha, int fd, uint64_t from, uint64_t to);
/* stoq_pager_poll() that, once the write is done, gives its block back in
 * *@buf and, if it was given one, the hash in *@sha with the offset up to
 * which the file is in it in *@hashed. */
int stoq_pager_written(struct stoq_page_job *j, void **buf, struct stoq_sha256 *sha,
		       uint64_t *hashed);
int stoq_pager_poll(const struct stoq_page_job *j);
void stoq_pager_release(struct stoq_pager *p, struct stoq_page_job *j, struct stoq_fmap *fm);
/* CPU time the pager's threads have used, ns (0 without a pager). */
uint64_t stoq_pager_cpu_ns(struct stoq_pager *p);

/*
 * stoq_sweep.c: at a server's start, a thread removes the temporary files
 * (STOQ_PUT_TMP_PREFIX...) of PUTs an earlier run left unfinished: those
 * under the root older than the start that no process holds an flock on.
 * stop ends the walk and joins it.
 */
#define STOQ_PUT_TMP_PREFIX ".stoq-put-"
struct stoq_sweep;
int stoq_sweep_start(const char *root, struct stoq_sweep **out);
void stoq_sweep_stop(struct stoq_sweep *s);

/* stoq_h3.c: the HTTP/3 application on a connection */
/*
 * stoq_h3.c's parsers of what comes off the wire, for the fuzz target:
 * a request path made relative to the root (0, or -EINVAL for "..", ".",
 * empty segments, no leading '/'); a Range value (0 with r->range_* set,
 * or -EINVAL leaving @r as it was); whether a repr-digest value holds the
 * sha-256 @b64 (or no sha-256 at all); whether a name is 64 lowercase hex.
 */
int stoq_h3_rel_path(const char *path, char *out, size_t outlen);
int stoq_h3_parse_range(const char *v, size_t len, struct stoq_req *r);
bool stoq_h3_digest_matches(const uint8_t *v, size_t len, const char *b64);
bool stoq_h3_is_hash_name(const char *s);

int stoq_h3_setup(struct stoq_conn *c);
int stoq_h3_recv_stream(struct stoq_conn *c, int64_t stream_id, const uint8_t *data, size_t len,
			bool fin);
void stoq_h3_stream_close(struct stoq_conn *c, int64_t stream_id, uint64_t app_error);
/*
 * Report the requests of @c whose body could not be read (read_err), once
 * each (warning, body_read_errors), and reset their streams with
 * H3_INTERNAL_ERROR unless the connection is closing for it (body_fault).
 * 0, or ngtcp2's error from the reset.
 */
int stoq_h3_body_errors(struct stoq_conn *c);
/* Mark @c's GETs sending from a mapping the SIGBUS guard poisoned while
 * another connection copied from it (read_err EIO) and @c for closing
 * (body_fault), as if the fault had been under @c's own copy. */
void stoq_h3_body_poisoned(struct stoq_conn *c);
/* Resume the streams of @c whose chunk the pager has read, and answer the
 * PUTs it has stored (c->n_paging > 0): 0, or nghttp3's error. */
int stoq_h3_paged(struct stoq_conn *c);
void stoq_h3_conn_free(struct stoq_conn *c);
int stoq_h3_start_requests(struct stoq_conn *c);
/* Client: the server refused our 0-RTT: drop the HTTP/3 state, queue the requests again. */
int stoq_h3_early_rejected(struct stoq_conn *c);
void stoq_req_free(struct stoq_req *r);
void stoq_conn_set_error(struct stoq_conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * stoq_io.c: an I/O object. The back end's open() fills local/local_len and
 * gso/gro and hangs its own state on @be; its close() frees that state.
 */
struct stoq_io {
	const struct stoq_io_ops *ops;
	struct sockaddr_storage local;
	socklen_t local_len;
	bool gso, gro;
	size_t max_payload; /* the largest UDP payload one packet may carry (open sets it) */
	void *be;
};

const struct stoq_io_ops *stoq_io_ops_of(const struct stoq_io *io);

#endif /* STOQ_PRIV_H */
