/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_orch — hmesh-controld runs the containers of /v1/containers.
 *
 * For each service with a container group (ctl_group: replicas, bundle,
 * port), the replicas placed on this node (all of them on a single node; in
 * a cluster replica i of service s on member (s + i) mod N) are started
 * with hmesh-run from a bundle made per container out of the group's: an
 * overlay of its own over the shared image, an address on the container bridge
 * (org.hypermesh.net.* annotations) and HMESH_* environment. Then:
 *   starting  probed every 200 ms on its STOQ port with a QUIC packet of an
 *             unknown version: a Version Negotiation answer means a QUIC
 *             server is listening, and the container is registered as a
 *             backend of its service (a normal write: through the cluster's
 *             log when there is one), which reaches the dataplane;
 *   running   when it exits its backend is removed and it is started again
 *             after a backoff (1 s doubling to 30 s; back to 1 s once it
 *             has run for 30 s);
 *   draining  on scale-down (or a changed bundle or port): its backend is
 *             marked unhealthy, so new flows go elsewhere while its flows
 *             stay (L1 keeps them), for drain_seconds; then SIGTERM, SIGKILL
 *             5 s later, and the backend is removed.
 * Problems a node cannot fix (a missing bundle) are shown on the instance
 * in /v1/containers and retried with the backoff.
 *
 * Autoscaling: every autoscale_ms, for each group with flows_per_replica,
 * the dataplane's L4 CPE forecast of new flows per second (the largest
 * over its horizon) sets replicas = ceil(forecast / flows_per_replica)
 * within min_replicas..max_replicas, written like any change (so through
 * the log: in a cluster only the primary decides). Up at once; down after
 * three evaluations in a row ask for fewer, so a dip does not flap. The
 * group's warm containers grow with the forecast too: by a quarter of the
 * replicas it asks for (at least one while there is load).
 *
 * Thread: one of its own; it takes the node lock only to read the model.
 */
#ifndef CTL_ORCH_H
#define CTL_ORCH_H

#include <jansson.h>
#include <limits.h>
#include <stdint.h>

struct ctl_node;

struct ctl_orch_cfg {
	char runtime[PATH_MAX]; /* hmesh-run */
	char bridge[16];
	uint32_t subnet; /* IPv4, host order; gateway = subnet + 1 */
	uint8_t prefix;
	uint32_t autoscale_ms; /* how often groups with flows_per_replica are re-sized */
};

struct ctl_orch;

/*
 * Start the thread (containers in n->cfg.state_dir/containers). Removes
 * backends left by a previous run of this node first. 0 or -errno.
 */
int ctl_orch_start(struct ctl_node *n, const struct ctl_orch_cfg *c, struct ctl_orch **out);

/* Stop every container (SIGTERM, then SIGKILL), remove their backends, join. */
void ctl_orch_stop(struct ctl_orch *o);

/* The instances of service @sid as a JSON array (new reference). */
json_t *ctl_orch_instances(struct ctl_orch *o, uint32_t sid);

/* "10.77.0.0/24" into @c. 0 or -1. */
int ctl_orch_parse_subnet(const char *s, struct ctl_orch_cfg *c);

#endif /* CTL_ORCH_H */
