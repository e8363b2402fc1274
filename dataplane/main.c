/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hmesh-dataplane: the HyperMesh DPDK primary process.
 *
 *   hmesh-dataplane <EAL options> -- [--config FILE] [--set KEY=VALUE]...
 *                                     [--duration SECONDS] [--print-config]
 *
 * The main lcore sets up ports, queues, rings and the MFN pipeline, launches
 * the forwarding lcores, then runs the control path (telemetry is served by
 * DPDK's own thread) until SIGINT/SIGTERM or --duration, and shuts down in
 * stages so no packet in a ring is leaked.
 */
/* rte_vect_get_max_simd_bitwidth is still experimental in DPDK 22.11. */
#define ALLOW_EXPERIMENTAL_API

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_vect.h>

#include "dp_app.h"
#include "dp_ctl.h"
#include "dp_local.h"
#include "dp_stats.h"

struct dp_app dp_app;

static volatile sig_atomic_t dp_signalled;

static void on_signal(int sig)
{
	dp_signalled = sig;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: hmesh-dataplane <EAL options> -- [options]\n"
		"\n"
		"HyperMesh dataplane: receives packets on DPDK ports, parses them to the QUIC\n"
		"header, runs the MFN lookup pipeline and transmits them to their destination.\n"
		"\n"
		"EAL options are DPDK's own (see dpdk-testpmd --help), e.g.\n"
		"  -l 0-1 --vdev=net_ring0                    loopback virtual port\n"
		"  -l 0-1 --vdev=net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap\n"
		"  -l 0-3 -a 0000:3b:00.0                     a real NIC bound to vfio-pci\n"
		"The main lcore runs the control path; every other lcore forwards, except the\n"
		"one that runs the STOQ server hosted with stoq_listen (stoq_lcore).\n"
		"On CPUs with AVX2 the parser takes frames two at a time; the EAL option\n"
		"--force-max-simd-bitwidth=128 turns that off (the choice is printed at start).\n"
		"\n"
		"Options (after --):\n"
		"  --config FILE        load \"key = value\" settings (keys below)\n"
		"  --set KEY=VALUE      set one key, after the file (repeatable)\n"
		"  --duration SECONDS   stop after this long (default: until SIGINT/SIGTERM)\n"
		"  --print-config       print the effective configuration and exit\n"
		"  -h, --help           this text\n"
		"\n"
		"Telemetry: /hmesh/stats, /hmesh/ports, /hmesh/lcores on DPDK's telemetry\n"
		"socket (dpdk-telemetry.py). Final counters and one \"stats-json:\" line are\n"
		"printed on exit. Exit status: 0 after a clean run, 1 on a set-up error.\n"
		"\n"
		"Configuration keys:\n");
	hm_cfg_print_help(&dp_config_table, out);
}

static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

struct dp_opts {
	double duration;
	bool print_config;
};

static int parse_app_args(int argc, char **argv, struct dp_config *cfg, struct dp_opts *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "set", required_argument, NULL, 's' },
		{ "duration", required_argument, NULL, 'd' },
		{ "print-config", no_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	char err[512];
	/* --set applies after the file whatever the order on the command line. */
	const char *sets[64];
	int n_sets = 0, opt, ret;
	const char *file = NULL;
	char *end;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			file = optarg;
			break;
		case 's':
			if (n_sets == (int)RTE_DIM(sets)) {
				fprintf(stderr, "hmesh-dataplane: more than %zu --set options\n",
					RTE_DIM(sets));
				return -EINVAL;
			}
			sets[n_sets++] = optarg;
			break;
		case 'd':
			o->duration = strtod(optarg, &end);
			if (end == optarg || *end || o->duration <= 0) {
				fprintf(stderr,
					"hmesh-dataplane: --duration is \"%s\": must be a positive "
					"number of seconds\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'p':
			o->print_config = true;
			break;
		default:
			fprintf(stderr, "hmesh-dataplane: see --help\n");
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "hmesh-dataplane: unexpected argument \"%s\" (see --help)\n",
			argv[optind]);
		return -EINVAL;
	}
	if (file) {
		ret = hm_cfg_load_file(&dp_config_table, cfg, file, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "hmesh-dataplane: %s\n", err);
			return ret;
		}
	}
	for (int i = 0; i < n_sets; i++) {
		char key[128];
		const char *eq = strchr(sets[i], '=');

		if (!eq || eq == sets[i] || (size_t)(eq - sets[i]) >= sizeof(key)) {
			fprintf(stderr, "hmesh-dataplane: --set \"%s\": expected KEY=VALUE\n",
				sets[i]);
			return -EINVAL;
		}
		memcpy(key, sets[i], (size_t)(eq - sets[i]));
		key[eq - sets[i]] = '\0';
		ret = hm_cfg_set(&dp_config_table, cfg, key, eq + 1, false, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "hmesh-dataplane: --set: %s\n", err);
			return ret;
		}
	}
	ret = dp_config_check(cfg, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "hmesh-dataplane: %s\n", err);
		return ret;
	}
	return 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Control path on the main lcore until a signal or the duration ends. */
/*
 * The main lcore's loop while the lcores forward: the pipeline's
 * writer-side work (flows to register, ageing, forecasts), the
 * periodic counter line. A 1 ms tick when there is such work, so a new flow
 * is registered in L1 within about a millisecond; 50 ms otherwise.
 */
static void control_loop(struct dp_app *app, const struct dp_opts *o, double t0,
			 struct dp_ctl *ctl)
{
	double next_stats = t0 + app->cfg.stats_interval, next_ports = t0;
	/* 1 ms: the MFN's main-lcore work, and control requests answered promptly. */
	const bool busy = app->pipe->main_poll != NULL || ctl != NULL;
	const struct timespec tick = { .tv_sec = 0, .tv_nsec = (busy ? 1 : 50) * 1000 * 1000 };

	while (!dp_signalled) {
		double t = now_s();

		if (app->pipe->main_poll)
			app->pipe->main_poll(app->pipe_ctx, (uint64_t)(t * 1e9));
		if (ctl != NULL)
			dp_ctl_poll(ctl);
		if (t >= next_ports) {
			/* Reads NIC registers on real ports: a few times a second is plenty. */
			dp_stats_ports_update(app);
			next_ports = t + 0.2;
		}

		if (o->duration > 0 && t - t0 >= o->duration)
			break;
		if (app->cfg.stats_interval && t >= next_stats) {
			struct dp_lcore_stats s;

			dp_stats_sum(&s);
			printf("stats: t=%.1fs rx=%" PRIu64 " tx=%" PRIu64 " drops=%" PRIu64 "\n",
			       t - t0, s.c[DP_C_RX_PACKETS], s.c[DP_C_TX_PACKETS],
			       dp_stats_drops_total(&s));
			fflush(stdout);
			/* Set at run time (CONFIG_SET) the schedule may lag: no burst of lines. */
			next_stats += app->cfg.stats_interval;
			if (next_stats < t)
				next_stats = t + app->cfg.stats_interval;
		}
		nanosleep(&tick, NULL);
	}
	if (dp_signalled)
		DP_LOG(INFO, "signal %d: stopping RX, draining rings", (int)dp_signalled);
}

/*
 * The stats segment's name: stats_segment, or "dataplane" with the EAL's
 * default file prefix and "dataplane-PREFIX" otherwise, so that dataplanes
 * started side by side (tests, benches) each have their own.
 */
static int open_stats_segment(struct dp_app *app)
{
	const char *v = app->cfg.stats_segment, *prefix;
	char name[HM_STATS_PROCESS_MAX];

	if (strcmp(v, "off") == 0)
		return 0;
	if (*v != '\0') {
		snprintf(app->stats_name, sizeof(app->stats_name), "%s", v);
		return dp_stats_segment_open(v);
	}
	prefix = strrchr(rte_eal_get_runtime_dir(), '/');
	prefix = prefix ? prefix + 1 : "rte";
	if (strcmp(prefix, "rte") == 0)
		snprintf(name, sizeof(name), "dataplane");
	else if ((size_t)snprintf(name, sizeof(name), "dataplane-%s", prefix) >= sizeof(name)) {
		DP_LOG(ERR, "--file-prefix \"%s\" is too long for a stats segment name: "
			    "set stats_segment", prefix);
		return -ENAMETOOLONG;
	}
	snprintf(app->stats_name, sizeof(app->stats_name), "%s", name);
	return dp_stats_segment_open(name);
}

int main(int argc, char **argv)
{
	struct dp_app *app = &dp_app;
	struct dp_opts opts = { 0 };
	struct dp_ctl *ctl = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	char err[512];
	double t0, t1;
	int ret, rc = 1;

	if (wants_help(argc, argv)) {

		usage(stdout);
		return 0;
	}
	ret = rte_eal_init(argc, argv);
	if (ret < 0) {
		fprintf(stderr, "hmesh-dataplane: EAL initialisation failed: %s\n",
			rte_strerror(rte_errno));
		return 1;
	}
	argc -= ret;
	argv += ret;
	argv[0] = "hmesh-dataplane";

	ret = dp_config_defaults(&app->cfg, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "hmesh-dataplane: built-in default: %s\n", err);
		goto out_eal;
	}
	if (parse_app_args(argc, argv, &app->cfg, &opts))
		goto out_eal;
	if (opts.print_config) {
		hm_cfg_print(&dp_config_table, &app->cfg, stdout);
		rc = 0;
		goto out_eal;
	}

	app->parse_cfg.short_dcid_len = (uint8_t)app->cfg.short_dcid_len;
	app->parse_cfg.n_stoq_ports = app->cfg.stoq_ports.n;
	app->parse_cfg.accept_sport = app->cfg.backend_port >= 0;
	app->parse_cfg.require_quic_bit = app->cfg.quic_bit == 1;
	for (uint8_t i = 0; i < app->cfg.stoq_ports.n; i++)
		app->parse_cfg.stoq_ports[i] = rte_cpu_to_be_16(app->cfg.stoq_ports.port[i]);
	/* As DPDK's own vector paths: the CPU has it and EAL allows 256 bits. */
	app->parse_pair = dp_parse_pair_usable() &&
			  rte_vect_get_max_simd_bitwidth() >= RTE_VECT_SIMD_256;
	memset(app->port_index, -1, sizeof(app->port_index));

	if (open_stats_segment(app))
		goto out_eal;
	if (dp_layout_init(app))
		goto out_stats;
	for (unsigned int l = 0; l < RTE_MAX_LCORE; l++)
		if (app->lcores[l].role != DP_ROLE_NONE)
			dp_stats_segment_label(l, dp_role_name(app->lcores[l].role),
					       app->lcores[l].socket, app->lcores[l].hw_core);
	dp_stats_segment_label(rte_get_main_lcore(), "main",
			       (int)rte_lcore_to_socket_id(rte_get_main_lcore()), -1);
	for (uint16_t i = 0; i < app->n_ports; i++)
		app->port_index[app->ports[i].port_id] = (int8_t)i;
	if (app->cfg.backend_port >= 0 &&
	    (app->n_ports != 2 || app->cfg.backend_port >= RTE_MAX_ETHPORTS ||
	     app->port_index[app->cfg.backend_port] < 0)) {
		DP_LOG(ERR,
		       "\"backend_port\" %d (router mode): needs exactly two ports, one of them "
		       "port %d; there are %u",
		       app->cfg.backend_port, app->cfg.backend_port, app->n_ports);
		goto out_stats;
	}
	if (dp_ports_init(app))
		goto out_ports;
	if (dp_stats_segment_ports(app))
		goto out_ports;
	if (dp_layout_rings_init(app))
		goto out_layout;
	if (dp_local_init(app)) /* it says why */
		goto out_layout;
	app->pipe = app->cfg.mfn ? &dp_pipeline_mfn : &dp_pipeline_passthrough;
	ret = app->pipe->create(app, &app->pipe_ctx);
	if (ret) {
		DP_LOG(ERR, "pipeline %s: %s", app->pipe->name, strerror(-ret));
		goto out_layout;
	}
	dp_layout_print(app, stdout);
	fflush(stdout);
	if (dp_telemetry_register(app))
		goto out_pipe;

	if (sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL)) {
		DP_LOG(ERR, "signal handlers: %s", strerror(errno));
		goto out_pipe;
	}
	if (app->cfg.gen_packets && dp_gen_inject(app))
		goto out_pipe;
	if (app->cfg.ctl_socket[0] != '\0') {
		ctl = dp_ctl_open(app, app->cfg.ctl_socket);
		if (ctl == NULL)
			goto out_pipe;
	}

	app->rx_running = app->n_rx;
	app->worker_running = app->n_workers;
	app->stop_rx = false;
	t0 = now_s();
	dp_loop_prepare(app);
	ret = rte_eal_mp_remote_launch(dp_lcore_main, app, SKIP_MAIN);
	if (ret) {
		DP_LOG(ERR, "launching lcores: %s", rte_strerror(-ret));
		goto out_pipe;
	}
	printf("hmesh-dataplane: forwarding (Ctrl-C to stop)\n");
	fflush(stdout);
	control_loop(app, &opts, t0, ctl);
	/* The hosted server first, so what it sent last still leaves. */
	dp_local_stop(app);
	if (app->local)
		rte_eal_wait_lcore(app->local->lcore);
	app->stop_rx = true;
	rte_eal_mp_wait_lcore();
	t1 = now_s();
	dp_stats_ports_update(app);
	dp_stats_print(app, stdout, t1 - t0);
	dp_local_print(app, stdout);
	rc = 0;

out_pipe:
	dp_ctl_close(ctl);
	if (app->pipe && app->pipe_ctx)
		app->pipe->destroy(app->pipe_ctx);
	app->pipe_ctx = NULL;
out_layout:
	dp_layout_fini(app);
out_ports:
	dp_ports_fini(app);
out_stats:
	dp_stats_segment_close();
out_eal:
	rte_eal_cleanup();
	return rc;
}
