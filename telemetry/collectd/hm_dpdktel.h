/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hm_dpdktel — a client of DPDK's telemetry socket (v2: a SOCK_SEQPACKET
 * Unix socket, /var/run/dpdk/PREFIX/dpdk_telemetry.v2, one JSON object per
 * reply) for the NIC and port counters the PMDs keep: /ethdev/list, then
 * /ethdev/xstats,N for each port. The collectd plugin dispatches them as
 * port_xstats{port,stat}; on real NICs these are the hardware counters
 * (rx_missed_errors, rx_phy_crc_errors, ...).
 */
#ifndef HM_DPDKTEL_H
#define HM_DPDKTEL_H

#include <stdint.h>

/*
 * Connect to @path, walk every port's xstats, call @fn for each, close.
 * Returns the number of ports read, or a negative errno (-ENOENT: no
 * process listening, -EPROTO: an answer that is not what DPDK sends).
 */
int hm_dpdktel_xstats(const char *path,
		      void (*fn)(void *arg, int port, const char *stat, uint64_t value), void *arg);

#endif /* HM_DPDKTEL_H */
