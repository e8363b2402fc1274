/* SPDX-License-Identifier: BSD-3-Clause */
/* dp_config: the dataplane's keys, custom parsers and cross-key checks. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "dp_config.h"

static struct dp_config c;
static char err[512];

static void setup(void)
{
	cr_assert_eq(dp_config_defaults(&c, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(dp_config_check(&c, err, sizeof(err)), 0, "defaults must pass: %s", err);
}

TestSuite(dp_config, .init = setup);

static int set(const char *k, const char *v)
{
	return hm_cfg_set(&dp_config_table, &c, k, v, false, err, sizeof(err));
}

Test(dp_config, defaults)
{
	cr_assert_eq(c.rx_burst, 32);
	cr_assert_eq(c.ring_size, 1024);
	cr_assert_eq(c.short_dcid_len, 8);
	cr_assert_eq(c.tx_port, -1);
	cr_assert_eq(c.layout, DP_LAYOUT_AUTO);
	cr_assert_eq(c.stoq_ports.n, 0);
	cr_assert_eq(c.next_hop_mac.set, false);
}

Test(dp_config, lcore_lists)
{
	cr_assert_eq(set("rx_lcores", "1,3-5"), 0, "%s", err);
	cr_assert_eq(c.rx_lcores.n, 4);
	cr_assert_eq(c.rx_lcores.id[0], 1);
	cr_assert_eq(c.rx_lcores.id[3], 5);
	cr_assert_eq(set("rx_lcores", "3-1"), -EINVAL);
	cr_assert_eq(set("rx_lcores", "1,1"), -EINVAL);
	cr_assert(strstr(err, "\"rx_lcores\" is 1,1: lcore 1 listed twice"), "%s", err);
	cr_assert_eq(set("rx_lcores", "a"), -EINVAL);
	cr_assert_eq(set("rx_lcores", "2000"), -EINVAL);
	cr_assert_eq(c.rx_lcores.n, 4, "rejected value must leave the old one");
}

Test(dp_config, ports_and_mac)
{
	cr_assert_eq(set("stoq_ports", "443,4433"), 0, "%s", err);
	cr_assert_eq(c.stoq_ports.n, 2);
	cr_assert_eq(c.stoq_ports.port[1], 4433);
	cr_assert_eq(set("stoq_ports", "0"), -EINVAL);
	cr_assert_eq(set("stoq_ports", "70000"), -EINVAL);
	cr_assert_eq(set("stoq_ports", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17"), -EINVAL);
	cr_assert_eq(set("next_hop_mac", "02:00:00:00:00:0a"), 0, "%s", err);
	cr_assert(c.next_hop_mac.set);
	cr_assert_eq(c.next_hop_mac.b[5], 0x0a);
	cr_assert_eq(set("next_hop_mac", "02:00:00:00:00"), -EINVAL);
	cr_assert_eq(set("next_hop_mac", "02:00:00:00:00:0g"), -EINVAL);
	cr_assert_eq(set("next_hop_mac", "02:00:00:00:00:0a:"), -EINVAL);
}

Test(dp_config, ring_size_power_of_two)
{
	cr_assert_eq(set("ring_size", "1000"), -EINVAL);
	cr_assert_str_eq(err, "\"ring_size\" is 1000: must be a power of two");
}

Test(dp_config, cross_key_checks)
{
	cr_assert_eq(set("rx_lcores", "1"), 0);
	cr_assert_eq(dp_config_check(&c, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "must be set together"), "%s", err);
	cr_assert_eq(set("worker_lcores", "1-2"), 0);
	cr_assert_eq(dp_config_check(&c, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "lcore 1 is in both \"rx_lcores\" and \"worker_lcores\"");
	cr_assert_eq(set("worker_lcores", "2"), 0);
	cr_assert_eq(dp_config_check(&c, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(set("layout", "rtc"), 0);
	cr_assert_eq(dp_config_check(&c, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "\"layout\" is rtc"), "%s", err);
}

Test(dp_config, mbuf_cache_bound)
{
	cr_assert_eq(set("mbufs", "1023"), 0);
	cr_assert_eq(set("mbuf_cache", "512"), 0);
	cr_assert_eq(dp_config_check(&c, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(set("mbufs", "1024"), 0);
	cr_assert_eq(set("mbuf_cache", "700"), -EINVAL, "above its own bound");
}
