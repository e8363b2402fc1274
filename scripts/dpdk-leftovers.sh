#!/usr/bin/env bash
# What a DPDK process leaves behind after it exits, per --file-prefix:
#   /var/run/dpdk/PREFIX/        its runtime directory (a tmpfs: config,
#                                telemetry socket, fbarray files);
#   HUGETLBFS/PREFIXmap_N        without --in-memory, every hugepage still
#                                mapped at exit (2 MiB each, held until the
#                                file is deleted), in each hugetlbfs mount.
#
# Usage: scripts/dpdk-leftovers.sh PREFIX...         remove them for PREFIX...
#        scripts/dpdk-leftovers.sh --list REGEX      print the prefixes that
#                                                    left something, one a line,
#                                                    whose name matches REGEX
# Only call it for prefixes whose processes have exited: the files of a
# running process are its memory.
set -euo pipefail
run_dir=${DPDK_RUN_DIR:-/var/run/dpdk}

huge_mounts() { awk '$3 == "hugetlbfs" { print $2 }' /proc/mounts 2>/dev/null || true; }

list() { # $1 = extended regex a prefix must match in full
	{
		for d in "$run_dir"/*/; do
			[[ -d "$d" ]] && basename "$d"
		done
		for h in $(huge_mounts); do
			for f in "$h"/*map_*; do
				[[ -e "$f" ]] && basename "$f" | sed -E 's/map_[0-9]+$//'
			done
		done
	} | grep -E "^($1)\$" | sort -u || true
}

case ${1:-} in
-h | --help)
	sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
--list)
	[[ $# -eq 2 ]] || { echo "dpdk-leftovers.sh: --list takes one REGEX" >&2; exit 2; }
	list "$2"
	exit 0
	;;
"")
	echo "dpdk-leftovers.sh: no prefix given (--help)" >&2
	exit 2
	;;
esac
for p in "$@"; do
	# A prefix is a file name: no slash, no glob, not empty.
	if [[ -z "$p" || "$p" == */* || "$p" == *[*?[]* || "$p" == . || "$p" == .. ]]; then
		echo "dpdk-leftovers.sh: bad prefix '$p'" >&2
		exit 2
	fi
	rm -rf "${run_dir:?}/$p"
	for h in $(huge_mounts); do
		rm -f "$h/$p"map_*
	done
done
