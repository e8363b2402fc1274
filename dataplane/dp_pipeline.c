/* SPDX-License-Identifier: BSD-3-Clause */
#include "dp_pipeline.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "dp_app.h"

struct passthrough {
	int32_t tx_port;
};

static int passthrough_create(const struct dp_app *app, void **ctx)
{
	struct passthrough *p = malloc(sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->tx_port = app->cfg.tx_port;
	*ctx = p;
	return 0;
}

static int passthrough_process(void *ctx, unsigned int lcore_id, struct rte_mbuf **pkts,
			       struct dp_pkt_info *const *info, int in_port, uint16_t *out_ports,
			       uint16_t n)
{
	const struct passthrough *p = ctx;
	bool one = true;

	(void)lcore_id;
	(void)info;
	if (p->tx_port >= 0)
		return p->tx_port;
	/* Back out of the input port. */
	if (in_port >= 0)
		return in_port;
	for (uint16_t i = 1; i < n; i++)
		one &= pkts[i]->port == pkts[0]->port;
	if (one)
		return pkts[0]->port;
	for (uint16_t i = 0; i < n; i++)
		out_ports[i] = pkts[i]->port;
	return DP_PIPE_PER_PACKET;
}

static void passthrough_destroy(void *ctx)
{
	free(ctx);
}

const struct dp_pipeline_ops dp_pipeline_passthrough = {
	.name = "passthrough",
	.create = passthrough_create,
	.process = passthrough_process,
	.quiescent = NULL,
	.destroy = passthrough_destroy,
};
