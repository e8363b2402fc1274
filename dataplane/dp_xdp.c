/* SPDX-License-Identifier: BSD-3-Clause */
/* dp_xdp — fill hmesh_steer's port map on net_af_xdp ports (see dp_xdp.h). */
#include "dp_xdp.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_devargs.h>
#include <rte_ethdev.h>
#include <rte_byteorder.h>

#include "dp_app.h"

#define PORTS_MAP "hmesh_ports"

/* Value of @key= in a devargs string ("iface=veth0,xdp_prog=/x.o"). */
static bool devarg(const char *args, const char *key, char *out, size_t len)
{
	size_t kl = strlen(key);

	for (const char *p = args; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
		if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
			size_t n = strcspn(p + kl + 1, ",");

			snprintf(out, len, "%.*s", (int)n, p + kl + 1);
			return true;
		}
	}
	return false;
}

/* The map named @name used by program @prog_fd, or -ENOENT. */
static int prog_map(int prog_fd, const char *name)
{
	struct bpf_prog_info pi = {0};
	uint32_t ids[16], len = sizeof(pi);

	pi.nr_map_ids = 16;
	pi.map_ids = (uint64_t)(uintptr_t)ids;
	if (bpf_obj_get_info_by_fd(prog_fd, &pi, &len) < 0)
		return -errno;
	for (uint32_t i = 0; i < pi.nr_map_ids && i < 16; i++) {
		struct bpf_map_info mi = {0};
		uint32_t ml = sizeof(mi);
		int fd = bpf_map_get_fd_by_id(ids[i]);

		if (fd < 0)
			continue;
		if (bpf_obj_get_info_by_fd(fd, &mi, &ml) == 0 && strcmp(mi.name, name) == 0)
			return fd;
		close(fd);
	}
	return -ENOENT;
}

int dp_xdp_port_steer(const struct dp_app *app, const struct dp_port *p)
{
	struct rte_eth_dev_info info;
	const struct rte_devargs *da;
	char iface[IF_NAMESIZE], prog[256];
	uint32_t prog_id = 0;
	unsigned int ifindex;
	int prog_fd, map_fd, rc = 0;
	uint8_t one = 1;

	if (strcmp(p->driver, "net_af_xdp") != 0)
		return 0;
	if (rte_eth_dev_info_get(p->port_id, &info) != 0 || info.device == NULL)
		return 0;
	da = rte_dev_devargs(info.device);
	if (da == NULL || da->args == NULL || !devarg(da->args, "xdp_prog", prog, sizeof(prog))) {
		DP_LOG(INFO,
		       "port %u (%s): the PMD's own XDP program: every packet of its queues "
		       "comes here (give xdp_prog=.../hmesh_steer.bpf.o to leave the rest to the "
		       "kernel)",
		       p->port_id, p->name);
		return 0;
	}
	if (!devarg(da->args, "iface", iface, sizeof(iface)) ||
	    (ifindex = if_nametoindex(iface)) == 0) {
		DP_LOG(ERR, "port %u (%s): no interface in its devargs \"%s\"", p->port_id, p->name,
		       da->args);
		return -ENODEV;
	}
	if (bpf_xdp_query_id((int)ifindex, 0, &prog_id) < 0 || prog_id == 0) {
		DP_LOG(ERR, "port %u (%s): no XDP program attached to %s", p->port_id, p->name,
		       iface);
		return -ENOENT;
	}
	prog_fd = bpf_prog_get_fd_by_id(prog_id);
	if (prog_fd < 0) {
		DP_LOG(ERR, "port %u: XDP program %u of %s: %s", p->port_id, prog_id, iface,
		       strerror(errno));
		return -errno;
	}
	map_fd = prog_map(prog_fd, PORTS_MAP);
	close(prog_fd);
	if (map_fd < 0) {
		DP_LOG(ERR,
		       "port %u (%s): xdp_prog %s has no \"" PORTS_MAP "\" map: not "
		       "hmesh_steer.bpf.o?",
		       p->port_id, p->name, prog);
		return map_fd;
	}
	/* Port 0: every UDP port (stoq_ports empty carries them all). */
	for (uint8_t i = 0; i < (app->cfg.stoq_ports.n ? app->cfg.stoq_ports.n : 1) && !rc; i++) {
		uint16_t be =
		    app->cfg.stoq_ports.n ? rte_cpu_to_be_16(app->cfg.stoq_ports.port[i]) : 0;

		if (bpf_map_update_elem(map_fd, &be, &one, BPF_ANY) < 0)
			rc = -errno;
	}
	close(map_fd);
	if (rc < 0) {
		DP_LOG(ERR, "port %u (%s): filling " PORTS_MAP ": %s", p->port_id, p->name,
		       strerror(-rc));
		return rc;
	}
	DP_LOG(INFO,
	       "port %u (%s): XDP program %s on %s steers UDP %s to the dataplane; the rest "
	       "goes to the kernel",
	       p->port_id, p->name, prog, iface,
	       app->cfg.stoq_ports.n ? "stoq_ports" : "(every port)");
	return 0;
}
