/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hm_ethdev — what a DPDK port accepts, computed once for the dataplane's
 * ports and the STOQ library's DPDK back end.
 */
#ifndef HM_ETHDEV_H
#define HM_ETHDEV_H

#include <stdint.h>

struct rte_eth_dev_info;

/*
 * The MTUs rte_eth_dev_configure() will accept on the port @info describes:
 * from its min_mtu to the smaller of its max_mtu and the largest frame it
 * receives less the Ethernet overhead, computed the way ethdev checks it
 * (af_packet: its frame size). What a PMD claims: DPDK 22.11's af_xdp
 * claims 3542 on a veth and passes no frame over ~1790 bytes.
 */
void hm_eth_mtu_range(const struct rte_eth_dev_info *info, uint32_t *min_mtu, uint32_t *max_mtu);

#endif
