/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Escape probe for tests/integration/test_runtime.sh, run inside a
 * container (built static, copied into its rootfs): try to ptrace-attach
 * to the pid given (the test's own, on the host) and say what happened.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>

int main(int argc, char **argv)
{
	pid_t pid;

	if (argc != 2) {
		fprintf(stderr, "usage: ptrace_probe PID\n");
		return 2;
	}
	pid = (pid_t)atoi(argv[1]);
	if (ptrace(PTRACE_ATTACH, pid, NULL, NULL) == 0) {
		printf("ptrace ok\n");
		ptrace(PTRACE_DETACH, pid, NULL, NULL);
		return 0;
	}
	printf("ptrace refused (%s)\n", strerror(errno));
	return 0;
}
