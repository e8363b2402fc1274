/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * stoq_rootfs.c — does a server's root keep its files in 4 KiB pages?
 *
 * A first GET maps every page of its file (stoq_fcache.c). On a tmpfs
 * mounted without huge=, /dev/shm as distributions set it up, that is a
 * page table entry, a folio reference and a cold struct page per 4 KiB:
 * 9.6 % of a server's CPU at 1452-byte packets (README, "Where a first GET
 * from /dev/shm goes"). A tmpfs mounted huge=within_size or huge=always
 * holds its files in 2 MiB folios, and the page caches of ext4 and xfs
 * hold large folios. Nothing is wrong with such a root, so servers only
 * say so, once at start, where an operator reads the log.
 *
 * statfs says whether the root is a tmpfs; its mount options are in
 * /proc/self/mountinfo under the longest mount point the root's real path
 * lies under (the last one listed, when mounts are stacked on one point).
 * huge=advise counts as small pages: only a writer that mapped the file
 * with MADV_HUGEPAGE gets huge ones, and files arrive by write(2).
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>

#include <linux/magic.h>

#include "stoq_priv.h"

#define SHMEM_ENABLED "/sys/kernel/mm/transparent_hugepage/shmem_enabled"

/* mountinfo writes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') << 6 | (r[2] - '0') << 3 | (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

/* Is path the mount point mp or under it? */
static bool under(const char *path, const char *mp)
{
	size_t n = strlen(mp);

	if (strcmp(mp, "/") == 0)
		return true;
	return strncmp(path, mp, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* The huge= of a superblock's options ("rw,size=...,huge=within_size"). */
static bool opts_huge(const char *opts)
{
	const char *h = opts;

	while ((h = strstr(h, "huge=")) != NULL) {
		if (h == opts || h[-1] == ',') {
			h += 5;
			return strncmp(h, "always", 6) == 0 || strncmp(h, "within_size", 11) == 0;
		}
		h += 5;
	}
	return false;
}

/* The system-wide setting that overrides every mount's huge=: [force] or [deny]. */
static int shmem_override(void)
{
	char buf[128];
	FILE *f = fopen(SHMEM_ENABLED, "re");
	int r = 0;

	if (!f)
		return 0; /* no THP in this kernel: the mount option is all there is */
	if (fgets(buf, sizeof(buf), f)) {
		if (strstr(buf, "[force]"))
			r = 1;
		else if (strstr(buf, "[deny]"))
			r = -1;
	}
	fclose(f);
	return r;
}

int stoq_rootfs_small_pages(const char *dir, char *mnt, size_t mntlen)
{
	char real[PATH_MAX], best_mp[PATH_MAX] = "", best_opts[512] = "";
	size_t best_len = 0, cap = 0;
	struct statfs sf;
	char *line = NULL;
	bool found = false, best_tmpfs = false;
	FILE *f;
	int rc;

	if (statfs(dir, &sf) < 0)
		return -errno;
	if (sf.f_type != TMPFS_MAGIC)
		return 0;
	if (!realpath(dir, real))
		return -errno;
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	/* id parent maj:min root mountpoint options [optional...] - fstype source superopts */
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *mp = NULL, *fstype = NULL, *opts = NULL, *tok;
		bool dash = false;
		int i = 0;

		for (tok = strtok_r(line, " \n", &save); tok;
		     tok = strtok_r(NULL, " \n", &save), i++) {
			if (i == 4)
				mp = tok;
			else if (i > 5 && !dash && strcmp(tok, "-") == 0) {
				dash = true;
				i = -1; /* counted from the separator on */
			} else if (dash && i == 0)
				fstype = tok;
			else if (dash && i == 2)
				opts = tok;
		}
		if (!mp || !fstype || !opts)
			continue;
		unescape(mp);
		if (!under(real, mp) || strlen(mp) < best_len)
			continue;
		best_len = strlen(mp);
		snprintf(best_mp, sizeof(best_mp), "%s", mp);
		snprintf(best_opts, sizeof(best_opts), "%s", opts);
		best_tmpfs = strcmp(fstype, "tmpfs") == 0;
		found = true;
	}
	rc = ferror(f) ? -EIO : 0;
	free(line);
	fclose(f);
	if (rc < 0)
		return rc;
	if (!found || !best_tmpfs)
		return -ENOENT; /* statfs said tmpfs, mountinfo did not: say nothing */
	switch (shmem_override()) {
	case 1:
		return 0;
	case -1:
		break;
	default:
		if (opts_huge(best_opts))
			return 0;
	}
	if (mnt && mntlen)
		snprintf(mnt, mntlen, "%s", best_mp);
	return 1;
}
