/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rt_container — containers from OCI bundles: namespaces, pivot_root into
 * the rootfs, mounts, masked and read-only paths, cgroup limits, user,
 * capabilities, rlimits, no_new_privs and a seccomp filter, then exec.
 *
 * A container is prepared by a clone()d child that does everything up to
 * the exec, then waits:
 *   - OCI lifecycle (create/start): on the bundle's exec FIFO in the state
 *     directory, opened by `start` (as runc and crun do);
 *   - warm pool: on a socket, for the final process (args, env, stdio fds
 *     passed with SCM_RIGHTS), so a start costs one message and an exec.
 *
 * State lives in RT_STATE_ROOT/<id>/state.json (HMESH_RUN_ROOT overrides
 * the root), in the OCI runtime spec's state format.
 */
#ifndef RT_CONTAINER_H
#define RT_CONTAINER_H

#include <stdbool.h>
#include <sys/types.h>

#include "rt_spec.h"

#define RT_STATE_ROOT "/run/hmesh-run"
#define RT_ID_MAX     64

/* Where states live ($HMESH_RUN_ROOT or RT_STATE_ROOT). */
const char *rt_state_root(void);

/* Container ids: 1-63 characters of [A-Za-z0-9_.-], not starting with '.'. */
bool rt_id_ok(const char *id);

/*
 * Prepare container @id from @bundle and leave it waiting on its exec FIFO
 * (status "created"). Returns the container's pid (> 0), or -1 with the
 * reason in @err. The caller is the container's parent (run waits for it).
 */
pid_t rt_create(const char *id, const char *bundle, char *err, size_t errlen);

/* Let a created container exec its process. 0 or -1 with @err. */
int rt_start(const char *id, char *err, size_t errlen);

/* The OCI state JSON of @id into @buf. 0 or -1 with @err. */
int rt_state(const char *id, char *buf, size_t len, char *err, size_t errlen);

/* Signal the container's init. 0 or -1 with @err. */
int rt_kill(const char *id, int sig, char *err, size_t errlen);

/* Remove a stopped container (@force: kill it first). 0 or -1 with @err. */
int rt_delete(const char *id, bool force, char *err, size_t errlen);

/*
 * Prepare a warm container from @spec for the pool, in cgroup @cg_id; it
 * waits on *@sock (returned) for rt_pool_release(). Returns its pid, or -1
 * with @err.
 */
pid_t rt_pool_prepare(const struct rt_spec *spec, const char *cg_id, int *sock, char *err,
		      size_t errlen);
/*
 * rt_pool_prepare() in two halves, so a pool serves requests while the
 * container sets itself up: _start returns once the child runs (its pid;
 * *@sock becomes readable when it is ready or failed), _finish reads that:
 * 0 when ready, or -1 with @err after reaping it and removing its cgroup
 * (@sock closed).
 */
pid_t rt_pool_prepare_start(const struct rt_spec *spec, const char *cg_id, int *sock, char *err,
			    size_t errlen);
int rt_pool_prepare_finish(pid_t pid, int sock, const char *cg_id, char *err, size_t errlen);
/*
 * A container being prepared runs at nice 19 so that it does not slow the
 * starts the pool is serving; when a request waits for it, this gives it
 * the caller's priority.
 */
void rt_pool_hurry(pid_t pid);

/*
 * Release a warm container waiting on @sock: it execs @args (NULL: the
 * spec's) with @env (NULL: the spec's) and @fds[0..2] as its stdio.
 * Returns 0 or -errno.
 */
int rt_pool_release(int sock, char *const *args, char *const *env, const int fds[3]);

#endif /* RT_CONTAINER_H */
