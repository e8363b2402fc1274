// SPDX-License-Identifier: BSD-3-Clause
#include "hm_ethdev.h"

#include <rte_ethdev.h>

void hm_eth_mtu_range(const struct rte_eth_dev_info *info, uint32_t *min_mtu, uint32_t *max_mtu)
{
	/* ethdev's own overhead: what a PMD's largest frame holds beyond its
	 * largest MTU, or an Ethernet header and CRC when it does not say. */
	uint32_t overhead = info->max_mtu != UINT16_MAX && info->max_rx_pktlen > info->max_mtu
				    ? info->max_rx_pktlen - info->max_mtu
				    : RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN;

	*min_mtu = info->min_mtu;
	*max_mtu = info->max_mtu;
	if (info->max_rx_pktlen > overhead)
		*max_mtu = RTE_MIN(*max_mtu, info->max_rx_pktlen - overhead);
}
