/* SPDX-License-Identifier: BSD-3-Clause */
/* dp_config: the dataplane's keys, custom parsers and cross-key checks. */
#include <criterion/criterion.h>
#include <errno.h>
#include <sys/socket.h>
#include <string.h>

#include "dp_config.h"
#include "dp_mfn.h"

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

Test(dp_config, mtu_and_generator_size)
{
	cr_assert_eq(c.mtu, 1500);
	cr_assert_eq(set("mtu", "1279"), -EINVAL, "QUIC needs 1200-byte UDP payloads");
	cr_assert(strstr(err, "\"mtu\""), "%s", err);
	cr_assert_eq(set("mtu", "9601"), -EINVAL);
	cr_assert(strstr(err, "\"mtu\""), "%s", err);
	cr_assert_eq(c.mtu, 1500, "a refused value leaves the key as it was");
	/* The generator's frames must fit the ports' MTU. */
	cr_assert_eq(set("gen_size", "9014"), 0);
	cr_assert_eq(dp_config_check(&c, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "\"gen_size\" is 9014: must be at most mtu + 14 (1514)");
	cr_assert_eq(set("mtu", "9000"), 0);
	cr_assert_eq(dp_config_check(&c, err, sizeof(err)), 0, "%s", err);
}

static const struct hm_cfg_key *key(const char *name)
{
	for (size_t i = 0; i < dp_config_table.n_keys; i++)
		if (strcmp(dp_config_table.keys[i].name, name) == 0)
			return &dp_config_table.keys[i];
	cr_assert_fail("no key %s", name);
	return NULL;
}

/* stoq_listen: its address parser, the value printed back, and the keys it needs. */
Test(dp_config, stoq_listen)
{
	char buf[80];

	cr_assert_eq(set("stoq_listen", "10.0.0.5:4433"), 0, "%s", err);
	cr_assert_eq(c.stoq_listen.addr.family, AF_INET);
	cr_assert_eq(c.stoq_listen.port, 4433);
	cr_assert_eq(memcmp(c.stoq_listen.addr.b, "\x0a\x00\x00\x05", 4), 0);
	cr_assert_eq(hm_cfg_format(key("stoq_listen"), &c, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "10.0.0.5:4433");
	cr_assert_eq(set("stoq_listen", "[fd00::1]:443"), 0, "%s", err);
	cr_assert_eq(c.stoq_listen.addr.family, AF_INET6);
	cr_assert_eq(c.stoq_listen.addr.b[15], 1);
	cr_assert_eq(c.stoq_listen.port, 443);
	cr_assert_eq(hm_cfg_format(key("stoq_listen"), &c, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "[fd00::1]:443");

	/* Each bad form is refused by name and leaves the value as it was. */
	const char *bad[] = { "10.0.0.5", "10.0.0.5:", "10.0.0.5:0", "10.0.0.5:65536",
			      "10.0.0.5:44x", "fd00::1:443", "[fd00::1]443", "[10.0.0.5]:443",
			      "[fd00::1:443", "host.example:443", ":443", "10.0.0.5: 443",
			      "10.0.0.5:+443", "[fd00::1]:-1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(set("stoq_listen", bad[i]), -EINVAL, "%s accepted", bad[i]);
		cr_assert(strstr(err, "\"stoq_listen\"") != NULL, "%s: %s", bad[i], err);
		cr_assert_eq(c.stoq_listen.addr.family, AF_INET6, "%s changed the value", bad[i]);
		cr_assert_eq(c.stoq_listen.port, 443);
	}
	cr_assert_eq(set("stoq_listen", ""), 0, "%s", err);
	cr_assert_eq(c.stoq_listen.addr.family, 0);
}

Test(dp_config, stoq_listen_needs)
{
	cr_assert_eq(set("stoq_listen", "10.0.0.5:4433"), 0, "%s", err);
	cr_assert_eq(dp_config_check(&c, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "needs stoq_root") != NULL, "%s", err);
	cr_assert_eq(set("stoq_root", "/srv"), 0, "%s", err);
	cr_assert_eq(dp_config_check(&c, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "needs stoq_config") != NULL, "%s", err);
	cr_assert_eq(set("stoq_config", "/etc/stoq.conf"), 0, "%s", err);
	cr_assert_eq(dp_config_check(&c, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "needs stoq_ports") != NULL, "%s", err);
	cr_assert_eq(set("stoq_ports", "443,4433"), 0, "%s", err);
	cr_assert_eq(dp_config_check(&c, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "port 4433 is in \"stoq_ports\"") != NULL, "%s", err);
	cr_assert_eq(set("stoq_ports", "443"), 0, "%s", err);
	cr_assert_eq(dp_config_check(&c, err, sizeof(err)), 0, "%s", err);

	cr_assert_eq(set("stoq_prefix_len", "33"), 0, "%s", err);
	cr_assert_eq(dp_config_check(&c, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "\"stoq_prefix_len\" is 33") != NULL, "%s", err);
	cr_assert_eq(set("stoq_prefix_len", "16"), 0, "%s", err);
	cr_assert_eq(set("stoq_gateway", "fd00::fe"), 0, "%s", err);
	cr_assert_eq(dp_config_check(&c, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "\"stoq_gateway\"") != NULL, "%s", err);
	cr_assert_eq(set("stoq_gateway", "10.0.255.254"), 0, "%s", err);
	cr_assert_eq(set("rx_lcores", "1"), 0, "%s", err);
	cr_assert_eq(set("worker_lcores", "2"), 0, "%s", err);
	cr_assert_eq(set("stoq_lcore", "2"), 0, "%s", err);
	cr_assert_eq(dp_config_check(&c, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "\"stoq_lcore\" 2 also has a forwarding role") != NULL, "%s", err);
	cr_assert_eq(set("stoq_lcore", "3"), 0, "%s", err);
	cr_assert_eq(dp_config_check(&c, err, sizeof(err)), 0, "%s", err);

	/* Without stoq_listen its other keys mean nothing: refused, not ignored. */
	cr_assert_eq(set("stoq_listen", ""), 0, "%s", err);
	cr_assert_eq(dp_config_check(&c, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "\"stoq_root\" is set without stoq_listen") != NULL, "%s", err);
}

/* mfn_static: each number is range-checked as read, never wrapped into its field. */
Test(dp_config, mfn_static_numbers)
{
	const char *ok = "1@443=10.0.0.1:4433*1000000#255,[fd00::2]:4433*1#0";

	cr_assert_eq(set("mfn_static", ok), 0, "%s", err);
	const struct {
		const char *text, *says;
	} bad[] = {
		/* 65537 and 4294967297 were read as node 1 and weight 1 */
		{ "0@443=10.0.0.1:443*4294967297#65537", "#NODE \"65537\" must be 0..255" },
		{ "0@443=10.0.0.1:443#65537", "#NODE \"65537\" must be 0..255" },
		{ "0@443=10.0.0.1:443#256", "#NODE \"256\" must be 0..255" },
		{ "0@443=10.0.0.1:443#-1", "#NODE \"-1\"" },
		{ "0@443=10.0.0.1:443#", "#NODE \"\"" },
		{ "0@443=10.0.0.1:443*4294967297", "*WEIGHT \"4294967297\" must be 1..1000000" },
		{ "0@443=10.0.0.1:443*18446744073709551617", "*WEIGHT \"18446744073709551617\"" },
		{ "0@443=10.0.0.1:443*1000001", "*WEIGHT \"1000001\" must be 1..1000000" },
		{ "0@443=10.0.0.1:443*0", "*WEIGHT \"0\"" },
		{ "0@443=10.0.0.1:443*+2", "*WEIGHT \"+2\"" },
		{ "0@443=10.0.0.1:-443", "port must be 1..65535" },
		{ "0@65979=10.0.0.1:443", "service 0 port \"65979\"" },
		{ "4096@443=10.0.0.1:443", "service id \"4096\"" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(set("mfn_static", bad[i].text), -EINVAL, "%s accepted", bad[i].text);
		cr_assert(strstr(err, "\"mfn_static\"") && strstr(err, bad[i].says), "%s: %s",
			  bad[i].text, err);
		cr_assert_str_eq(c.mfn_static, ok, "%s changed the value", bad[i].text);
	}
}

/* One UDP port per service and one service per port: a second mention would move it. */
Test(dp_config, mfn_static_ports_once)
{
	cr_assert_eq(set("mfn_static", "0@443=10.0.0.1:443;1@4433=10.0.0.2:443"), 0, "%s", err);
	cr_assert_eq(set("mfn_static", "0@443=10.0.0.1:443;1@443=10.0.0.2:443"), -EINVAL);
	cr_assert(strstr(err, "\"mfn_static\"") &&
		  strstr(err, "service 1 port 443: already service 0's"), "%s", err);
	cr_assert_eq(set("mfn_static", "0@443=10.0.0.1:443;0@444=10.0.0.2:443"), -EINVAL);
	cr_assert(strstr(err, "service 0: listed twice"), "%s", err);
}

static uint32_t got_node, got_weight;

static int count_service(void *ctx, uint32_t id, uint16_t port)
{
	(void)ctx, (void)id, (void)port;
	return 0;
}

static int keep_backend(void *ctx, const struct mfn_alm_backend *b)
{
	(void)ctx;
	got_node = b->node;
	got_weight = b->weight;
	return 0;
}

/* The applying path (ops) gets the numbers as written, the bounds included. */
Test(dp_config, mfn_static_applied_values)
{
	const struct dp_mfn_static_ops ops = {
		.service = count_service, .backend = keep_backend, .default_node = 7 };
	char why[160];

	cr_assert_eq(dp_mfn_static_parse("1@443=10.0.0.1:4433*1000000#255", &ops, NULL, why,
					 sizeof(why)),
		     0, "%s", why);
	cr_assert_eq(got_node, 255);
	cr_assert_eq(got_weight, 1000000);
	cr_assert_eq(dp_mfn_static_parse("1@443=10.0.0.1:4433*4294967297#65537", &ops, NULL, why,
					 sizeof(why)),
		     -EINVAL, "wrapped to node %u weight %u", got_node, got_weight);
	cr_assert_eq(dp_mfn_static_parse("1@443=10.0.0.1:4433", &ops, NULL, why, sizeof(why)), 0);
	cr_assert_eq(got_node, 7, "no #NODE: the default node");
	cr_assert_eq(got_weight, 1);
}
