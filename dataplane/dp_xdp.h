/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dp_xdp — the dataplane side of our XDP steering program
 * (dataplane/xdp/hmesh_steer.bpf.c). A net_af_xdp port started with
 * xdp_prog=.../hmesh_steer.bpf.o has the program attached by the PMD
 * (through libbpf); this fills its hmesh_ports map with stoq_ports, so
 * only STOQ traffic comes to the dataplane and the rest stays the
 * kernel's. Ports of other drivers, or AF_XDP with the PMD's default
 * program (every packet of the queue), are left alone.
 */
#ifndef DP_XDP_H
#define DP_XDP_H

struct dp_app;
struct dp_port;

/* After the port started. 0, or a negative errno (logged, naming the port). */
int dp_xdp_port_steer(const struct dp_app *app, const struct dp_port *p);

#endif /* DP_XDP_H */
