/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_ctl — the dataplane end of the control channel (common/hm_ctlmsg.h):
 * a Unix stream socket (config key ctl_socket) served by the main lcore
 * between its other duties, never by a worker. Table changes go through
 * dp_mfn (staged in L3 ALM, published at COMMIT with RCU), so workers never
 * stop or take a lock. When no controller is connected the dataplane goes
 * on forwarding with the last committed state.
 *
 * Several controllers may connect (a restarted controld, a CLI); each
 * connection's requests are answered in order. A connection that sends
 * something that is not a message stream (bad magic, version, size) is
 * answered with one error reply and closed.
 */
#ifndef DP_CTL_H
#define DP_CTL_H

struct dp_app;
struct dp_ctl;

/*
 * Listen on @path (an existing socket file is replaced: it is ours from a
 * previous run). Returns NULL with the reason logged.
 */
struct dp_ctl *dp_ctl_open(struct dp_app *app, const char *path);

/* Main lcore: accept, read, apply, reply; never blocks. */
void dp_ctl_poll(struct dp_ctl *c);

/* Close every connection and remove the socket file. NULL is a no-op. */
void dp_ctl_close(struct dp_ctl *c);

#endif /* DP_CTL_H */
