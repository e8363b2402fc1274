/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rt_cgroup — a container's control group, on cgroup v2 (unified, with the
 * memory, pids and cpu controllers) or on v1 hierarchies (one directory per
 * controller, as this machine mounts them), behind one ops table. The
 * group lives at <root>/hmesh/<id> in each hierarchy used.
 */
#ifndef RT_CGROUP_H
#define RT_CGROUP_H

#include <stdint.h>
#include <sys/types.h>

#include "rt_spec.h"

struct rt_cgroup_usage {
	uint64_t memory_bytes;
	uint64_t pids;
	uint64_t oom_kills; /* processes killed by the memory limit */
};

struct rt_cgroup_ops {
	const char *name; /* "v1", "v2" */
	int (*create)(const char *id, const struct rt_spec *s);
	int (*attach)(const char *id, pid_t pid);
	int (*usage)(const char *id, struct rt_cgroup_usage *u);
	/* Kill what is left inside, then remove the group. */
	int (*destroy)(const char *id);
};

/* The ops for this machine (v2 when /sys/fs/cgroup is a unified hierarchy). */
const struct rt_cgroup_ops *rt_cgroup_detect(void);

#endif /* RT_CGROUP_H */
