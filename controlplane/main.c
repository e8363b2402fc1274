/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hmesh-controld — the node's control plane: the REST API over the desired
 * state (durable log + snapshot), pushed to hmesh-dataplane over its control
 * socket.
 */
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <unistd.h>

#include "ctl_node.h"
#include "ctl_rest.h"
#include "hm_log.h"
#include "hm_time.h"

#define MOD "controld"

static volatile sig_atomic_t quit;

static void on_signal(int sig)
{
	quit = sig;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hmesh-controld [options]\n\n"
		"  --listen ADDR:PORT        REST API address (default 127.0.0.1:8080; IPv6 as\n"
		"                            [::1]:8080). Without --tokens only a loopback\n"
		"                            address is accepted.\n"
		"  --state-dir DIR           durable state: snapshot.json + changes.log\n"
		"                            (default /var/lib/hmesh/controld)\n"
		"  --dataplane-socket PATH   the dataplane's ctl_socket; empty = none (default)\n"
		"  --tokens FILE             bearer tokens, lines \"rw TOKEN\" or \"ro TOKEN\"\n"
		"  --node-id N               this node's mesh node id (default 0)\n"
		"  --mfn-services N          the dataplane's mfn_services (default 256)\n"
		"  --mfn-backends N          the dataplane's mfn_backends (default 4096)\n"
		"  --mfn-nodes N             the dataplane's mfn_nodes (default 64)\n"
		"  --write-rate N            REST writes per second, 0 = unlimited (default 200)\n"
		"  --log-level LEVEL         err, warn, info, debug (default info)\n"
		"  --stats-segment NAME|off  counters in /dev/shm/hmesh-NAME (default controld)\n"
		"  --cluster FILE            be a member of a PBFT cluster (JSON: id, key_file,\n"
		"                            members [{id, peer, api, public_key}], tuning);\n"
		"                            see README \"Cluster\". Without it: single node\n"
		"  --gen-key FILE            write a new member private key (mode 0600) to FILE,\n"
		"                            print its public key, and exit\n"
		"  --runtime PATH|none       hmesh-run, which runs /v1/containers (default: the\n"
		"                            one beside this binary); none: no containers here\n"
		"  --container-bridge NAME   host bridge of the containers (default hmbr0)\n"
		"  --container-subnet CIDR   their IPv4 addresses; .1 is the bridge's (default\n"
		"                            10.79.0.0/24; give each node its own)\n"
		"  --autoscale-interval S    seconds between autoscaling evaluations of groups\n"
		"                            with flows_per_replica (default 10)\n"
		"  -h, --help                this text\n\n"
		"REST API: controlplane/openapi.json. TLS: terminate it in front (see README).\n");
}

static int parse_u32(const char *flag, const char *v, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long x;

	errno = 0;
	x = strtoul(v, &end, 10);
	if (errno || *v == '\0' || *end || x < min || x > max) {
		fprintf(stderr, "hmesh-controld: %s \"%s\": must be an integer in %u..%u\n", flag,
			v, min, max);
		return -1;
	}
	*out = (uint32_t)x;
	return 0;
}

static int parse_listen(const char *v, struct ctl_settings *c)
{
	const char *colon = strrchr(v, ':');
	uint32_t port;
	size_t alen;

	if (colon == NULL)
		goto bad;
	alen = (size_t)(colon - v);
	if (v[0] == '[') {
		if (alen < 3 || v[alen - 1] != ']')
			goto bad;
		snprintf(c->listen_addr, sizeof(c->listen_addr), "%.*s", (int)(alen - 2), v + 1);
	} else {
		snprintf(c->listen_addr, sizeof(c->listen_addr), "%.*s", (int)alen, v);
	}
	if (parse_u32("--listen port", colon + 1, 1, 65535, &port) < 0)
		return -1;
	c->listen_port = (uint16_t)port;
	return 0;
bad:
	fprintf(stderr, "hmesh-controld: --listen \"%s\": want ADDR:PORT or [IPv6]:PORT\n", v);
	return -1;
}

int ctl_stats_open(struct ctl_node *n)
{
	static const struct {
		const char *name, *labels, *help;
		enum hm_stats_type type;
	} def[] = {
#define CTL_X(e, nm, l, t, d) [CTL_S_##e] = {#nm, l, d, t},
	    CTL_STATS(CTL_X)
#undef CTL_X
	};
	struct hm_stats *s;
	int rc = 0;

	if (strcmp(n->cfg.stats_segment, "off") == 0)
		return 0;
	s = hm_stats_create(n->cfg.stats_segment, 4, sizeof(struct ctl_stats_block),
			    CTL_S__COUNT + 2);
	if (s == NULL) {
		hm_log(HM_LOG_ERR, MOD, "--stats-segment %s: %s", n->cfg.stats_segment,
		       strerror(errno));
		return -errno;
	}
	for (int i = 0; i < CTL_S__COUNT && rc >= 0; i++)
		rc = hm_stats_add(s, def[i].type, def[i].name, def[i].labels, def[i].help, 0, 0,
				  (uint32_t)(offsetof(struct ctl_stats_block, c[i]) / 8));
	if (rc >= 0)
		rc = hm_stats_add(s, HM_STATS_HISTOGRAM, "state_change_seconds", NULL,
				  "REST write: validate, fsync to the log, apply", 1e-9, 0,
				  (uint32_t)(offsetof(struct ctl_stats_block, write_hist) / 8));
	if (rc >= 0)
		rc = hm_stats_add(s, HM_STATS_HISTOGRAM, "consensus_commit_seconds", NULL,
				  "cluster write: submitted to the log until executed here", 1e-9,
				  0, (uint32_t)(offsetof(struct ctl_stats_block, commit_hist) / 8));
	if (rc < 0) {
		hm_stats_destroy(s);
		return rc;
	}
	hm_stats_block_label(s, 0, "thread=rest");
	hm_stats_block_label(s, 1, "thread=sync");
	hm_stats_block_label(s, 2, "thread=consensus");
	hm_stats_block_label(s, 3, "thread=orch");
	n->seg = s;
	n->st_rest = (struct ctl_stats_block *)hm_stats_block(s, 0);
	n->st_sync = (struct ctl_stats_block *)hm_stats_block(s, 1);
	n->st_cons = (struct ctl_stats_block *)hm_stats_block(s, 2);
	n->st_orch = (struct ctl_stats_block *)hm_stats_block(s, 3);
	return 0;
}

static bool loopback(const char *a)
{
	return strncmp(a, "127.", 4) == 0 || strcmp(a, "::1") == 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"state-dir", required_argument, NULL, 's'},
	    {"dataplane-socket", required_argument, NULL, 'd'},
	    {"tokens", required_argument, NULL, 't'},
	    {"node-id", required_argument, NULL, 'n'},
	    {"mfn-services", required_argument, NULL, 'S'},
	    {"mfn-backends", required_argument, NULL, 'B'},
	    {"mfn-nodes", required_argument, NULL, 'N'},
	    {"write-rate", required_argument, NULL, 'r'},
	    {"log-level", required_argument, NULL, 'L'},
	    {"stats-segment", required_argument, NULL, 'T'},
	    {"cluster", required_argument, NULL, 'C'},
	    {"gen-key", required_argument, NULL, 'G'},
	    {"runtime", required_argument, NULL, 'R'},
	    {"container-bridge", required_argument, NULL, 'b'},
	    {"container-subnet", required_argument, NULL, 'u'},
	    {"autoscale-interval", required_argument, NULL, 'A'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	static struct ctl_node node = {
	    .lock = PTHREAD_MUTEX_INITIALIZER,
	};
	struct ctl_settings *c = &node.cfg;
	struct sigaction sa = {.sa_handler = on_signal};
	enum hm_log_level lvl;
	struct ctl_rest *rest = NULL;
	pthread_t sync_thr;
	bool sync_started = false;
	uint32_t v;
	int o, rc = 1;
	char cluster_file[256] = "";
	struct ctl_cluster_cfg ccfg;
	bool runtime_set = false;

	/* The sync thread's 1 s wait must not follow the wall clock (hm_time.h). */
	if (hm_cond_init_mono(&node.changed) != 0) {
		fprintf(stderr, "hmesh-controld: cannot make a condition variable\n");
		return 1;
	}
	snprintf(c->listen_addr, sizeof(c->listen_addr), "127.0.0.1");
	c->listen_port = 8080;
	snprintf(c->state_dir, sizeof(c->state_dir), "/var/lib/hmesh/controld");
	snprintf(c->stats_segment, sizeof(c->stats_segment), "controld");
	c->write_rate = 200;
	snprintf(c->orch.bridge, sizeof(c->orch.bridge), "hmbr0");
	ctl_orch_parse_subnet("10.79.0.0/24", &c->orch);
	c->orch.autoscale_ms = 10000;
	c->lim = (struct ctl_limits){.max_services = 256, .max_backends = 4096, .max_nodes = 64};
	while ((o = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (o) {
		case 'l':
			if (parse_listen(optarg, c) < 0)
				return 2;
			break;
		case 's':
			if (strlen(optarg) >= sizeof(c->state_dir) || !*optarg) {
				fprintf(stderr, "hmesh-controld: --state-dir: 1..%zu bytes\n",
					sizeof(c->state_dir) - 1);
				return 2;
			}
			snprintf(c->state_dir, sizeof(c->state_dir), "%s", optarg);
			break;
		case 'd':
			if (strlen(optarg) >= sizeof(c->dataplane_socket)) {
				fprintf(stderr,
					"hmesh-controld: --dataplane-socket \"%s\": longer "
					"than %zu bytes\n",
					optarg, sizeof(c->dataplane_socket) - 1);
				return 2;
			}
			snprintf(c->dataplane_socket, sizeof(c->dataplane_socket), "%s", optarg);
			break;
		case 't':
			snprintf(c->tokens_file, sizeof(c->tokens_file), "%s", optarg);
			break;
		case 'n':
			if (parse_u32("--node-id", optarg, 0, 255, &v) < 0)
				return 2;
			c->node_id = (uint16_t)v;
			break;
		case 'S':
			if (parse_u32("--mfn-services", optarg, 1, 65536, &c->lim.max_services) < 0)
				return 2;
			break;
		case 'B':
			if (parse_u32("--mfn-backends", optarg, 1, 1u << 20, &c->lim.max_backends) <
			    0)
				return 2;
			break;
		case 'N':
			if (parse_u32("--mfn-nodes", optarg, 1, 256, &c->lim.max_nodes) < 0)
				return 2;
			break;
		case 'r':
			if (parse_u32("--write-rate", optarg, 0, 1000000, &c->write_rate) < 0)
				return 2;
			break;
		case 'L':
			if (hm_log_level_parse(optarg, &lvl) < 0) {
				fprintf(stderr,
					"hmesh-controld: --log-level \"%s\": err, warn, info "
					"or debug\n",
					optarg);
				return 2;
			}
			hm_log_set_level(lvl);
			break;
		case 'T': {
			char path[256];

			if (strcmp(optarg, "off") != 0 &&
			    hm_stats_path(optarg, path, sizeof(path)) < 0) {
				fprintf(stderr,
					"hmesh-controld: --stats-segment \"%s\": 1-63 characters "
					"of [A-Za-z0-9_.-], or off\n",
					optarg);
				return 2;
			}
			snprintf(c->stats_segment, sizeof(c->stats_segment), "%s", optarg);
			break;
		}
		case 'C':
			snprintf(cluster_file, sizeof(cluster_file), "%s", optarg);
			break;
		case 'G':
			return ctl_cluster_genkey(optarg) < 0 ? 1 : 0;
		case 'R':
			if (strlen(optarg) >= sizeof(c->orch.runtime)) {
				fprintf(stderr, "hmesh-controld: --runtime: path too long\n");
				return 2;
			}
			snprintf(c->orch.runtime, sizeof(c->orch.runtime), "%s",
				 strcmp(optarg, "none") == 0 ? "" : optarg);
			runtime_set = true;
			break;
		case 'b': {
			size_t l = strlen(optarg);
			bool ok = l > 0 && l < sizeof(c->orch.bridge);

			for (size_t i = 0; ok && i < l; i++)
				ok = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					    "0123456789-_.",
					    optarg[i]) != NULL;
			if (!ok) {
				fprintf(stderr,
					"hmesh-controld: --container-bridge \"%s\": an interface "
					"name of 1-15 characters of [A-Za-z0-9_.-]\n",
					optarg);
				return 2;
			}
			snprintf(c->orch.bridge, sizeof(c->orch.bridge), "%s", optarg);
			break;
		}
		case 'A':
			if (parse_u32("--autoscale-interval", optarg, 1, 86400, &v) < 0)
				return 2;
			c->orch.autoscale_ms = v * 1000;
			break;
		case 'u':
			if (ctl_orch_parse_subnet(optarg, &c->orch) < 0) {
				fprintf(stderr,
					"hmesh-controld: --container-subnet \"%s\": want an IPv4 "
					"A.B.C.D/P with P in 8..29\n",
					optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "hmesh-controld: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (c->node_id >= c->lim.max_nodes) {
		fprintf(stderr, "hmesh-controld: --node-id %u: must be < --mfn-nodes %u\n",
			c->node_id, c->lim.max_nodes);
		return 2;
	}
	if (!c->tokens_file[0] && !loopback(c->listen_addr)) {
		fprintf(stderr,
			"hmesh-controld: --listen %s without --tokens would let anyone on "
			"the network change the node; give --tokens or a loopback address\n",
			c->listen_addr);
		return 2;
	}
	if (cluster_file[0] && ctl_cluster_load(cluster_file, &ccfg) < 0)
		return 2;
	if (!runtime_set) {
		/* hmesh-run beside us: the build and the install put them together. */
		char self[PATH_MAX];
		ssize_t l = readlink("/proc/self/exe", self, sizeof(self) - 1);
		char *slash;

		self[l > 0 ? l : 0] = '\0';
		slash = strrchr(self, '/');
		if (slash)
			*slash = '\0';
		snprintf(c->orch.runtime, sizeof(c->orch.runtime), "%.*s/hmesh-run",
			 (int)(sizeof(c->orch.runtime) - 12), self);
		if (access(c->orch.runtime, X_OK) < 0) {
			fprintf(stderr,
				"hmesh-controld: %s: %s; give --runtime PATH, or --runtime none "
				"to run no containers on this node\n",
				c->orch.runtime, strerror(errno));
			return 2;
		}
	}
	if (ctl_model_init(&node.model, &c->lim) < 0) {
		hm_log(HM_LOG_ERR, MOD, "out of memory for the model");
		return 1;
	}
	if (ctl_stats_open(&node) < 0)
		goto out;
	if (cluster_file[0]) {
		if (ctl_cluster_start(&node, &ccfg, &node.cluster) < 0)
			goto out;
	} else if (ctl_store_open(c->state_dir, &node.model, &node.store) < 0) {
		goto out;
	}
	ctl_stat_set(node.st_rest, CTL_S_REVISION, node.model.revision);
	ctl_stat_set(node.st_rest, CTL_S_DP_CONF, c->dataplane_socket[0] != '\0');
	if (node.store)
		hm_log(HM_LOG_INFO, MOD,
		       "state %s: revision %" PRIu64 " (%" PRIu64 " changes replayed)",
		       c->state_dir, node.model.revision, ctl_store_replayed(node.store));
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (c->dataplane_socket[0]) {
		if (ctl_sync_start(&node, &sync_thr) < 0) {
			hm_log(HM_LOG_ERR, MOD, "cannot start the dataplane channel thread");
			goto out;
		}
		sync_started = true;
	}
	if (c->orch.runtime[0] && ctl_orch_start(&node, &c->orch, &node.orch) < 0) {
		hm_log(HM_LOG_ERR, MOD, "cannot start the container orchestration");
		goto out;
	}
	rest = ctl_rest_start(&node);
	if (rest == NULL)
		goto out;
	hm_log(HM_LOG_INFO, MOD, "REST API on %s:%u", c->listen_addr, c->listen_port);
	printf("hmesh-controld: ready\n");
	fflush(stdout);
	while (!quit)
		pause();
	hm_log(HM_LOG_INFO, MOD, "signal %d: stopping", (int)quit);
	rc = 0;
out:
	ctl_rest_stop(rest);
	if (sync_started) {
		pthread_mutex_lock(&node.lock);
		node.stop = true;
		pthread_cond_broadcast(&node.changed);
		pthread_mutex_unlock(&node.lock);
		pthread_join(sync_thr, NULL);
	}
	/* Containers first: removing their backends may need the cluster. */
	ctl_orch_stop(node.orch);
	ctl_cluster_stop(node.cluster);
	ctl_store_close(node.store);
	ctl_model_fini(&node.model);
	hm_stats_destroy(node.seg);
	return rc;
}
