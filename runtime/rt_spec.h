/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rt_spec — the part of the OCI runtime spec (config.json, v1.0) that
 * hmesh-run implements, parsed strictly: a field it does not implement is an
 * error naming the field ("linux.seccomp: not supported"), never ignored,
 * so a bundle never runs with less isolation than it asked for.
 *
 * Implemented: ociVersion 1.0.x-1.2.x; process.{terminal (false only),
 * user.{uid,gid,additionalGids}, args, env, cwd, capabilities.{bounding,
 * effective,inheritable,permitted,ambient}, rlimits, noNewPrivileges};
 * root.{path,readonly}; hostname; mounts[].{destination,type,source,
 * options}; linux.{namespaces[].type (pid, network, ipc, uts, mount,
 * cgroup; no path), resources.{memory.limit, cpu.{shares,quota,period},
 * pids.limit, devices (deny-all only)}, maskedPaths, readonlyPaths};
 * annotations (kept; org.hypermesh.net.* configure the network, rt_net.h).
 */
#ifndef RT_SPEC_H
#define RT_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rt_net.h"

#define RT_ARGS_MAX    64
#define RT_MOUNTS_MAX  32
#define RT_PATHS_MAX   32
#define RT_RLIMITS_MAX 16

enum rt_ns {
	RT_NS_PID = 1 << 0,
	RT_NS_NET = 1 << 1,
	RT_NS_IPC = 1 << 2,
	RT_NS_UTS = 1 << 3,
	RT_NS_MNT = 1 << 4,
	RT_NS_CGROUP = 1 << 5,
};

struct rt_mount {
	char *dest, *type, *source;
	unsigned long flags; /* MS_* from the options */
	char *data;	     /* the options that are not flags, comma-joined */
	bool bind;	     /* "bind" or "rbind" in the options */
};

struct rt_rlimit {
	int resource;
	uint64_t soft, hard;
};

struct rt_spec {
	char *args[RT_ARGS_MAX + 1]; /* NULL-terminated */
	char *env[RT_ARGS_MAX + 1];
	char *cwd;
	uint32_t uid, gid;
	uint32_t n_gids;
	uint32_t gids[16];
	uint64_t caps[5]; /* bounding, effective, inheritable, permitted, ambient: bit = CAP_* */
	struct rt_rlimit rlimits[RT_RLIMITS_MAX];
	uint32_t n_rlimits;
	bool no_new_privs;
	char *root; /* absolute (resolved against the bundle) */
	bool root_readonly;
	char *hostname;
	struct rt_mount mounts[RT_MOUNTS_MAX];
	uint32_t n_mounts;
	uint32_t ns;	     /* enum rt_ns bits */
	int64_t mem_limit;   /* bytes, -1 = none */
	uint64_t cpu_shares; /* 0 = none */
	int64_t cpu_quota;   /* us, -1 = none */
	uint64_t cpu_period; /* us, 0 = none */
	int64_t pids_limit;  /* -1 = none */
	char *masked[RT_PATHS_MAX], *readonly[RT_PATHS_MAX];
	uint32_t n_masked, n_readonly;
	char *annotations_json; /* as given, or NULL */
	struct rt_net net;	/* from annotations org.hypermesh.net.* (rt_net.h) */
};

/*
 * Parse @bundle/config.json. Returns 0, or -1 with the reason in @err
 * ("process.args: required", "linux.seccomp: not supported").
 */
int rt_spec_load(const char *bundle, struct rt_spec *s, char *err, size_t errlen);

/* The same from a JSON text (tests, fuzzing); @bundle resolves root.path. */
int rt_spec_parse(const char *json, size_t len, const char *bundle, struct rt_spec *s, char *err,
		  size_t errlen);

void rt_spec_free(struct rt_spec *s);

/* The runtime's errors: @fmt into @err; returns -1 (for "return rt_errf(...)"). */
int rt_errf(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif /* RT_SPEC_H */
