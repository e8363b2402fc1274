/* SPDX-License-Identifier: BSD-3-Clause */
/* rt_spec: what it takes from a bundle's config.json, and what it refuses by name. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "rt_spec.h"

static const char *good =
    "{\"ociVersion\":\"1.0.2\",\"hostname\":\"h\","
    "\"process\":{\"terminal\":false,\"user\":{\"uid\":1000,\"gid\":100,\"additionalGids\":[5]},"
    "\"args\":[\"sh\",\"-c\",\"true\"],\"env\":[\"PATH=/bin\"],\"cwd\":\"/srv\","
    "\"capabilities\":{\"bounding\":[\"CAP_KILL\"],\"effective\":[\"CAP_KILL\"],"
    "\"permitted\":[\"CAP_KILL\"],\"inheritable\":[\"CAP_KILL\"],\"ambient\":[\"CAP_KILL\"]},"
    "\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"soft\":64,\"hard\":128}],\"noNewPrivileges\":true},"
    "\"root\":{\"path\":\"rootfs\",\"readonly\":true},"
    "\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
    "{\"destination\":\"/data\",\"type\":\"bind\",\"source\":\"/srv/"
    "data\",\"options\":[\"rbind\",\"ro\"]},"
    "{\"destination\":\"/"
    "tmp\",\"type\":\"tmpfs\",\"source\":\"tmpfs\",\"options\":[\"nosuid\",\"size=1m\"]}],"
    "\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"mount\"},{\"type\":\"uts\"}],"
    "\"resources\":{\"memory\":{\"limit\":1048576},\"pids\":{\"limit\":8},"
    "\"cpu\":{\"shares\":512,\"quota\":50000,\"period\":100000}},"
    "\"maskedPaths\":[\"/proc/kcore\"],\"readonlyPaths\":[\"/proc/sys\"]},"
    "\"annotations\":{\"org.example\":\"x\"}}";

Test(spec, takes_every_supported_field)
{
	struct rt_spec s;
	char err[256] = "";

	cr_assert_eq(rt_spec_parse(good, strlen(good), "/b", &s, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_eq(s.args[2], "true");
	cr_expect_null(s.args[3]);
	cr_expect_str_eq(s.root, "/b/rootfs");
	cr_expect(s.root_readonly);
	cr_expect_eq(s.uid, 1000);
	cr_expect_eq(s.n_gids, 1);
	cr_expect_eq(s.caps[4], 1ull << 5 /* CAP_KILL */);
	cr_expect_eq(s.rlimits[0].resource, RLIMIT_NOFILE);
	cr_expect_eq(s.rlimits[0].hard, 128);
	cr_expect(s.no_new_privs);
	cr_expect_eq(s.n_mounts, 3);
	cr_expect(s.mounts[1].bind);
	cr_expect(s.mounts[1].flags & MS_RDONLY);
	cr_expect_str_eq(s.mounts[2].data, "size=1m");
	cr_expect(s.mounts[2].flags & MS_NOSUID);
	cr_expect_eq(s.mem_limit, 1048576);
	cr_expect_eq(s.pids_limit, 8);
	cr_expect_eq(s.cpu_quota, 50000);
	cr_expect_eq(s.n_masked, 1);
	cr_expect_not_null(strstr(s.annotations_json, "org.example"));
	rt_spec_free(&s);
}

static void refuse(const char *from, const char *to, const char *field)
{
	char buf[4096], err[256] = "";
	const char *at = strstr(good, from);
	struct rt_spec s;

	cr_assert_not_null(at, "%s", from);
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - good), good, to, at + strlen(from));
	cr_assert_eq(rt_spec_parse(buf, strlen(buf), "/b", &s, err, sizeof(err)), -1, "accepted %s",
		     to);
	cr_expect_not_null(strstr(err, field), "error \"%s\" does not name %s", err, field);
}

Test(spec, refusals_name_the_field)
{
	refuse("\"hostname\":\"h\",", "\"hooks\":{},", "hooks: not supported");
	refuse("\"terminal\":false", "\"terminal\":true", "process.terminal");
	refuse("\"noNewPrivileges\":true", "\"noNewPrivileges\":true,\"apparmorProfile\":\"x\"",
	       "process.apparmorProfile");
	refuse("{\"type\":\"uts\"}", "{\"type\":\"user\"}", "linux.namespaces[2].type");
	refuse("{\"type\":\"uts\"}", "{\"type\":\"uts\",\"path\":\"/proc/1/ns/uts\"}",
	       "linux.namespaces[].path");
	refuse("\"pids\":{\"limit\":8}", "\"pids\":{\"limit\":-1}", "linux.resources.pids.limit");
	refuse("\"inheritable\":[\"CAP_KILL\"]", "\"inheritable\":[]", "ambient");
	refuse("\"CAP_KILL\"],\"effective\"", "\"CAP_NOPE\"],\"effective\"",
	       "process.capabilities.bounding[0]");
	refuse("\"type\":\"bind\",\"source\":\"/srv/data\"",
	       "\"type\":\"bind\",\"source\":\"data\"", "mounts[1].source");
	refuse("\"soft\":64", "\"soft\":256", "process.rlimits[0]");
	refuse("\"rootfs\"", "\"../rootfs\"", "root.path");
	refuse("\"cwd\":\"/srv\"", "\"cwd\":\"srv\"", "process.cwd");
	refuse("{\"type\":\"uts\"}", "{\"type\":\"ipc\"}", "hostname: needs a \"uts\"");
	refuse("\"1.0.2\"", "\"0.9\"", "ociVersion");
}

/* The network annotations (rt_net.h): parsed into the spec, checked by name. */
static int net_spec(const char *ann, struct rt_spec *s, char *err, size_t len)
{
	char buf[2048];
	const char *at = strstr(good, "\"annotations\"");

	snprintf(buf, sizeof(buf), "%.*s\"annotations\":%s}", (int)(at - good), good, ann);
	/* A network namespace beside the others. */
	char *ns = strstr(buf, "{\"type\":\"uts\"}");
	char fixed[2100];

	snprintf(fixed, sizeof(fixed), "%.*s{\"type\":\"uts\"},{\"type\":\"network\"}%s",
		 (int)(ns - buf), buf, ns + strlen("{\"type\":\"uts\"}"));
	return rt_spec_parse(fixed, strlen(fixed), "/b", s, err, len);
}

Test(spec, network_annotations)
{
	struct rt_spec s;
	char err[256] = "";

	cr_assert_eq(net_spec("{\"org.hypermesh.net.bridge\":\"hmbr0\","
			      "\"org.hypermesh.net.address\":\"fd00:1::5/64\","
			      "\"org.hypermesh.net.gateway\":\"fd00:1::1\","
			      "\"org.hypermesh.net.mtu\":\"9000\",\"other\":\"kept\"}",
			      &s, err, sizeof(err)),
		     0, "%s", err);
	cr_expect(s.net.set);
	cr_expect_str_eq(s.net.bridge, "hmbr0");
	cr_expect_eq(s.net.family, AF_INET6);
	cr_expect_eq(s.net.prefix, 64);
	cr_expect_eq(s.net.addr[15], 5);
	cr_expect(s.net.has_gw);
	cr_expect_eq(s.net.mtu, 9000);
	rt_spec_free(&s);

	cr_assert_eq(net_spec("{\"other\":\"x\"}", &s, err, sizeof(err)), 0, "%s", err);
	cr_expect(!s.net.set, "annotations of others do not ask for a network");
	rt_spec_free(&s);

	static const struct {
		const char *ann, *field;
	} bad[] = {
	    {"{\"org.hypermesh.net.host_interface\":\"dp0\",\"org.hypermesh.net.bridge\":\"b\","
	     "\"org.hypermesh.net.address\":\"10.0.0.2/24\"}",
	     "exactly one"},
	    {"{\"org.hypermesh.net.host_interface\":\"dp0\",\"org.hypermesh.net.address\":\"10.0.0.2/33\"}",
	     "org.hypermesh.net.address \"10.0.0.2/33\""},
	    {"{\"org.hypermesh.net.host_interface\":\"dp0\",\"org.hypermesh.net.address\":\"10.0.0.2/24\","
	     "\"org.hypermesh.net.mtu\":\"100\"}",
	     "org.hypermesh.net.mtu \"100\""},
	    {"{\"org.hypermesh.net.host_interface\":\"dp 0\",\"org.hypermesh.net.address\":\"10.0.0.2/24\"}",
	     "org.hypermesh.net.host_interface \"dp 0\""},
	    {"{\"org.hypermesh.net.bridge\":7}", "must be a string"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		cr_expect_neq(net_spec(bad[i].ann, &s, err, sizeof(err)), 0, "accepted %s", bad[i].ann);
		cr_expect_not_null(strstr(err, bad[i].field), "%s: error \"%s\" does not name %s",
				   bad[i].ann, err, bad[i].field);
	}
}

/*
 * The gateway's family is the address's, whichever annotation comes first
 * (jansson keeps the document's order): a v6 gateway read as v4 bytes would
 * become the container's default route.
 */
Test(spec, gateway_of_another_family_refused_in_either_order)
{
	static const char *const bad[] = {
	    "{\"org.hypermesh.net.bridge\":\"br0\",\"org.hypermesh.net.address\":\"10.0.0.2/24\","
	    "\"org.hypermesh.net.gateway\":\"fd00::1\"}",
	    "{\"org.hypermesh.net.bridge\":\"br0\",\"org.hypermesh.net.gateway\":\"fd00::1\","
	    "\"org.hypermesh.net.address\":\"10.0.0.2/24\"}",
	    "{\"org.hypermesh.net.bridge\":\"br0\",\"org.hypermesh.net.address\":\"fd00::2/64\","
	    "\"org.hypermesh.net.gateway\":\"10.0.0.1\"}",
	    "{\"org.hypermesh.net.bridge\":\"br0\",\"org.hypermesh.net.gateway\":\"10.0.0.1\","
	    "\"org.hypermesh.net.address\":\"fd00::2/64\"}",
	};
	struct rt_spec s;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (net_spec(bad[i], &s, err, sizeof(err)) == 0) {
			rt_spec_free(&s);
			cr_expect(false, "accepted %s", bad[i]);
			continue;
		}
		cr_expect_not_null(strstr(err, "org.hypermesh.net.gateway \""),
				   "%s: error \"%s\" does not name the gateway", bad[i], err);
		cr_expect_not_null(strstr(err, "org.hypermesh.net.address \""),
				   "%s: error \"%s\" does not name the address", bad[i], err);
	}

	/* The same family, gateway first, still parses. */
	cr_assert_eq(net_spec("{\"org.hypermesh.net.bridge\":\"br0\","
			      "\"org.hypermesh.net.gateway\":\"10.0.0.1\","
			      "\"org.hypermesh.net.address\":\"10.0.0.2/24\"}",
			      &s, err, sizeof(err)),
		     0, "%s", err);
	cr_expect_eq(s.net.family, AF_INET);
	cr_expect_eq(s.net.gw[0], 10);
	cr_expect_eq(s.net.gw[3], 1);
	rt_spec_free(&s);
}

/*
 * OCI's cpu.shares minimum is 2 (0 is "none"): 1 would wrap the v2 weight
 * computed from shares - 2, a value the kernel refuses far from the spec.
 */
Test(spec, cpu_shares_below_oci_minimum_refused)
{
	struct rt_spec s;
	char err[256] = "";

	refuse("\"shares\":512", "\"shares\":1", "linux.resources.cpu.shares is 1");
	for (unsigned v = 0; v <= 2; v += 2) {
		char buf[4096];
		const char *at = strstr(good, "\"shares\":512");

		snprintf(buf, sizeof(buf), "%.*s\"shares\":%u%s", (int)(at - good), good, v,
			 at + strlen("\"shares\":512"));
		cr_assert_eq(rt_spec_parse(buf, strlen(buf), "/b", &s, err, sizeof(err)), 0,
			     "shares %u: %s", v, err);
		cr_expect_eq(s.cpu_shares, v);
		rt_spec_free(&s);
	}
}
