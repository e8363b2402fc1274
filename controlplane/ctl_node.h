/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_node — what hmesh-controld's threads share: the model and its store
 * under one lock, the dataplane channel's status, and the settings.
 *
 * Threads: libmicrohttpd's (REST, ctl_rest.c) prepares, logs and applies
 * changes; ctl_sync's pushes them to the dataplane. Both take @lock; a
 * change signals @changed.
 */
#ifndef CTL_NODE_H
#define CTL_NODE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ctl_model.h"
#include "ctl_store.h"
#include "hm_ctlmsg.h"

struct ctl_settings {
	char listen_addr[64]; /* IPv4 or IPv6 literal */
	uint16_t listen_port;
	char state_dir[256];
	char dataplane_socket[108];
	char tokens_file[256];
	uint16_t node_id;
	uint32_t write_rate; /* writes per second over REST, 0 = unlimited */
	struct ctl_limits lim;
};

struct ctl_dp_status {
	bool connected;
	uint64_t synced_revision; /* the model revision the dataplane has committed */
	uint64_t syncs, deltas, errors;
	char hello[HM_CTL_TEXT_MAX + 1]; /* the dataplane's HELLO reply */
	char last_error[200];		 /* the last refusal or channel error */
};

struct ctl_node {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct ctl_settings cfg;
	struct ctl_model model;
	struct ctl_store *store;
	struct ctl_dp_status dp;
	volatile bool stop;
};

/* ctl_sync.c: the dataplane channel. Starts its thread; 0 or -errno. */
int ctl_sync_start(struct ctl_node *n, pthread_t *thr);

/*
 * One request on a connection of its own (queries from the REST thread,
 * which must not share the sync thread's). Returns the reply's status with
 * its text in @text, or -errno of the channel (connect, timeout).
 */
int ctl_dp_call(const char *path, struct hm_ctl_msg *q, char *text, size_t text_len);

#endif /* CTL_NODE_H */
