/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stoq_guard.c — a file cut short under a GET must not kill the server.
 *
 * A response body is a shared mapping of the file (stoq_h3.c), and ngtcp2
 * copies from it into each packet, the first time and for every
 * retransmission. If the file is truncated meanwhile, or a page of it
 * cannot be read from the disk, that copy takes SIGBUS: with the default
 * action, the whole process (hmesh-stoq server, or hmesh-dataplane hosting
 * STOQ) dies and every connection with it. A client's PUT of a file
 * (stoq_conn_put_fd) is a mapping the same way, and guarded the same way.
 *
 * The copy cannot be abandoned halfway (ngtcp2 is mid-packet), so the
 * handler lets it finish: it maps a page of zeros over the faulting page
 * of that request's mapping and marks the connection; conn_write() (the
 * only caller of ngtcp2's writes) then drops the train holding the packet
 * and closes the connection with H3_INTERNAL_ERROR, so the zeros never
 * leave. Closing the connection, not resetting the one stream, because
 * ngtcp2 0.12 retransmits a lost STREAM frame even after RESET_STREAM
 * (ngtcp2_rtb.c's reclaim does not look at the stream's state), which
 * would send the zeros later. Where the shortening is seen before the
 * copy (a chunk's MADV_POPULATE_READ failing, stoq_h3.c), only the stream
 * is reset. The mapping is the endpoint's, shared by every GET of the
 * file (stoq_fcache.c): the handler poisons it, and conn_write() closes
 * each connection with a GET sending from it, as it does this one.
 *
 * The handler knows a body by the connection whose packets the faulting
 * thread is writing (stoq_guard_conn, set by conn_write around its
 * writes) and that connection's requests. Walking them from the handler
 * is safe: the thread was interrupted inside ngtcp2's copy, never inside
 * code that links or unlinks requests. Any other SIGBUS goes to the
 * disposition that was there before (the default: the process dies, as
 * it did).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hm_log.h"
#include "stoq_priv.h"

__thread struct stoq_conn *stoq_guard_conn;

static struct sigaction guard_old;
static uintptr_t guard_page_mask;
static int guard_rc;
static pthread_once_t guard_once = PTHREAD_ONCE_INIT;

/* The request of @c whose mapping holds @a, or NULL. */
static struct stoq_req *body_at(struct stoq_conn *c, uintptr_t a)
{
	for (struct stoq_req *r = c->reqs; r; r = r->lnext)
		if (r->map_len && a - (uintptr_t)r->map < r->map_len)
			return r;
	return NULL;
}

static void guard_chain(int sig, siginfo_t *si, void *uctx)
{
	if (guard_old.sa_flags & SA_SIGINFO) {
		guard_old.sa_sigaction(sig, si, uctx);
	} else if (guard_old.sa_handler != SIG_DFL && guard_old.sa_handler != SIG_IGN) {
		guard_old.sa_handler(sig);
	} else {
		/* Returning re-runs the access, which now takes the default
		 * action: the process dies with this fault, as without us. */
		struct sigaction dfl = { .sa_handler = SIG_DFL };

		sigemptyset(&dfl.sa_mask);
		sigaction(sig, &dfl, NULL);
	}
}

static void guard_handler(int sig, siginfo_t *si, void *uctx)
{
	struct stoq_conn *c = stoq_guard_conn;
	uintptr_t a = (uintptr_t)si->si_addr;
	struct stoq_req *r;
	int saved = errno;

	/* BUS_ADRERR: past the end of the file, or the page could not be
	 * read. Memory errors (BUS_MCEERR_*) are not ours to paper over. */
	if (c && si->si_code == BUS_ADRERR && (r = body_at(c, a)) != NULL &&
	    mmap((void *)(a & ~guard_page_mask), guard_page_mask + 1, PROT_READ,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
		if (!r->read_err) {
			r->read_err = EIO;
			r->read_off = a - (uintptr_t)r->map;
		}
		/* Other GETs of the file send from this mapping too: they
		 * must not send the zeros either (stoq_fcache.c). */
		if (r->fmap && !r->fmap->poisoned) {
			r->fmap->poison_off = a - (uintptr_t)r->map;
			r->fmap->poisoned = 1;
			c->ep->fcache.poisoned++;
		}
		c->body_fault = 1;
		errno = saved;
		return;
	}
	guard_chain(sig, si, uctx);
	errno = saved;
}

static void guard_install(void)
{
	struct sigaction sa = { .sa_sigaction = guard_handler, .sa_flags = SA_SIGINFO };
	long pg = sysconf(_SC_PAGESIZE);

	guard_page_mask = (uintptr_t)(pg > 0 ? pg : 4096) - 1;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &guard_old) < 0) {
		guard_rc = -errno;
		HM_ERR(STOQ_LOG, "installing the SIGBUS handler for file bodies: %s",
		       strerror(errno));
	}
}

int stoq_guard_init(void)
{
	pthread_once(&guard_once, guard_install);
	return guard_rc;
}
