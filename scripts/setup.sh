#!/usr/bin/env bash
# HyperMesh node set-up: Debian packages, wolfSSL + ngtcp2 from Debian's own
# source packages into build/deps, hugepages. Safe to run twice: every step
# checks whether its work is already done and says so.
#
# Usage: scripts/setup.sh [--no-deps-build] [--no-hugepages]
#   --no-deps-build   skip the wolfSSL/ngtcp2 source builds
#   --no-hugepages    do not reserve hugepages or mount hugetlbfs
# Environment: HMESH_HUGEPAGES (2 MiB pages to reserve, default 1024)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
deps="$top/build/deps"
src="$top/build/deps-src"
hugepages=${HMESH_HUGEPAGES:-1024}
do_deps=1
do_huge=1

for a in "$@"; do
	case "$a" in
	--no-deps-build) do_deps=0 ;;
	--no-hugepages) do_huge=0 ;;
	-h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "setup: unknown option '$a' (see --help)" >&2; exit 2 ;;
	esac
done

step() { printf '\n==> setup: %s\n' "$*"; }
export DEBIAN_FRONTEND=noninteractive

# Every Debian package the project builds against or runs in tests.
pkgs=(
	build-essential pkg-config dpkg-dev autoconf automake libtool
	dpdk dpdk-dev libdpdk-dev python3-pyelftools
	libhwloc-dev libbpf-dev libxdp-dev clang llvm
	libpcap-dev libcriterion-dev
	collectd-core collectd-dev libprotobuf-c1 libmicrohttpd12
	prometheus libmicrohttpd-dev libjansson-dev libnghttp3-dev
	ngtcp2-client ngtcp2-server
	iproute2 python3 curl gnuplot-nox nftables
	libseccomp-dev libcap-dev busybox-static crun runc
	etcd-server etcd-client ethtool iputils-ping openssl bc
	fuse3 libfuse3-dev strace patch
)

step "Debian packages"
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "installing: ${missing[*]}"
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
else
	echo "all ${#pkgs[@]} packages already installed"
fi

# Add a deb-src twin for each Debian deb entry, same URIs/suites/components,
# so `apt-get source` finds wolfssl and ngtcp2 on a fresh machine.
add_deb_src() {
	local out=/etc/apt/sources.list.d/hmesh-deb-src.sources
	if [ -f "$out" ] || grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
		echo "deb-src entry already present"
		return 1
	fi
	local tmp
	tmp=$(mktemp)
	# deb822 files: copy each stanza whose Types has deb, as deb-src.
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk 'BEGIN{RS=""; ORS="\n\n"}
		     /Types:[^\n]*deb/ && /URIs:[^\n]*debian/ {
		         gsub(/Types:[^\n]*/, "Types: deb-src"); print }' "$f" >>"$tmp"
	done
	# one-line format
	if [ -f /etc/apt/sources.list ]; then
		grep -E '^deb[[:space:]]' /etc/apt/sources.list | grep debian |
			sed -E 's/^deb[[:space:]]/deb-src /' >"$tmp.list" || true
		[ -s "$tmp.list" ] && cp "$tmp.list" /etc/apt/sources.list.d/hmesh-deb-src.list
		rm -f "$tmp.list"
	fi
	if [ -s "$tmp" ]; then
		cp "$tmp" "$out"
	elif [ ! -f /etc/apt/sources.list.d/hmesh-deb-src.list ]; then
		rm -f "$tmp"
		echo "setup: no Debian 'deb' entry found in /etc/apt to derive a deb-src entry from" >&2
		exit 1
	fi
	rm -f "$tmp"
	echo "added deb-src entries for the Debian suites"
	return 0
}

fetch_source() { # $1 = source package; leaves the unpacked dir name in $srcdir
	local pkg=$1
	mkdir -p "$src"
	srcdir=$(find "$src" -maxdepth 1 -type d -name "$pkg-*" | head -n1)
	if [ -z "$srcdir" ]; then
		(cd "$src" && apt-get source -q "$pkg")
		srcdir=$(find "$src" -maxdepth 1 -type d -name "$pkg-*" | head -n1)
	fi
	[ -n "$srcdir" ] || { echo "setup: apt-get source $pkg left no source tree in $src" >&2; exit 1; }
}

jobs=$(nproc)

# wolfSSL's configure flags, stamped into the prefix like ngtcp2's below so
# that a prefix built with others is rebuilt. --enable-sp --enable-sp-asm:
# P-256 (the certificates' and key exchange's curve) in wolfSSL's
# single-precision code with its x86_64 assembly instead of the generic
# multi-precision math, which was over half of a handshake's CPU (perf
# record of `hmesh-stoq bench`, 2026-12-05): 640 -> 1,740 handshakes/s.
wolfssl_flags="--enable-quic --enable-aesni --enable-intelasm --enable-tls13 \
--enable-session-ticket --enable-alpn --enable-sni --enable-ed25519 --enable-curve25519 \
--enable-earlydata --enable-aesgcm --enable-hkdf --enable-keylog-export --enable-certgen \
--enable-opensslextra --enable-sp --enable-sp-asm --disable-examples --disable-crypttests \
--disable-benchmark"
wolfssl_stamp="$deps/.wolfssl-configure"
# Patches on Debian's source, applied in name order before configure
# (each file says what and why); their digest goes into the stamp, so a
# changed patch rebuilds the prefix too.
wolfssl_patches=$(cd "$(dirname "$0")/patches/wolfssl" && pwd)
wolfssl_id="$wolfssl_flags patches:$(cat "$wolfssl_patches"/*.patch | sha256sum | cut -c1-16)"

wolfssl_built() {
	[ -f "$deps/lib/libwolfssl.so" ] && [ "$(cat "$wolfssl_stamp" 2>/dev/null)" = "$wolfssl_id" ]
}

# Each patch once: one that reverses cleanly is in already (a source tree
# kept from an earlier run); one that neither applies nor reverses stops
# the setup, naming it.
patch_wolfssl() {
	local p
	for p in "$wolfssl_patches"/*.patch; do
		if patch -d "$srcdir" -p1 -R -s -f --dry-run <"$p" >/dev/null 2>&1; then
			continue
		fi
		patch -d "$srcdir" -p1 -N -s <"$p" ||
			{ echo "setup: $p does not apply to $srcdir" >&2; return 1; }
		echo "applied $(basename "$p")"
	done
}

build_wolfssl() {
	if wolfssl_built; then
		echo "wolfSSL already built in $deps (QUIC, AES-NI, SP math)"
		return
	fi
	fetch_source wolfssl
	patch_wolfssl || exit 1
	echo "building wolfSSL from $srcdir"
	# shellcheck disable=SC2086 # the flags are words
	(cd "$srcdir" &&
		{ [ -x configure ] || ./autogen.sh; } &&
		{ [ ! -f Makefile ] || make -s distclean; } &&
		./configure -q --prefix="$deps" $wolfssl_flags &&
		make -s -j"$jobs" && make -s install)
	echo "$wolfssl_id" >"$wolfssl_stamp"
}

# ngtcp2 is built with link-time optimisation and without semantic
# interposition: its per-packet path is many small functions across files
# (ngtcp2_ppe_*, ngtcp2_put_uvarint, ngtcp2_ksl_*, ...) that configure's
# plain -O2 leaves as calls, through the PLT where they are exported. On
# perf/bench_stoq_ring (1 GiB, alternating runs, 2026-12-03) the server
# moved +15 % (median, ahead 5 of 6) per core over the -O2 build; -O3 on
# top of this gained nothing. Fat objects keep libngtcp2.a usable by
# clang (the fuzz builds) as well. The flags are stamped into the prefix so
# a prefix built with others is rebuilt.
ngtcp2_cflags="-g -O2 -flto=auto -ffat-lto-objects -fno-semantic-interposition"
ngtcp2_stamp="$deps/.ngtcp2-cflags"

# ngtcp2's crypto library is compiled against wolfSSL's headers, whose
# structures follow wolfSSL's flags: its stamp holds both.
ngtcp2_built() {
	[ -f "$deps/lib/libngtcp2_crypto_wolfssl.so" ] && [ -f "$deps/lib/pkgconfig/libngtcp2.pc" ] &&
		[ "$(cat "$ngtcp2_stamp" 2>/dev/null)" = "$ngtcp2_cflags $wolfssl_id" ]
}

build_ngtcp2() {
	if ngtcp2_built; then
		echo "ngtcp2 (wolfSSL crypto) already built in $deps ($ngtcp2_cflags)"
		return
	fi
	fetch_source ngtcp2
	echo "building ngtcp2 from $srcdir with $ngtcp2_cflags"
	(cd "$srcdir" &&
		{ [ -x configure ] || autoreconf -fi; } &&
		{ [ ! -f Makefile ] || make -s distclean; } &&
		PKG_CONFIG_PATH="$deps/lib/pkgconfig" CFLAGS="$ngtcp2_cflags" LDFLAGS="-flto=auto" \
			./configure -q --prefix="$deps" \
			--with-wolfssl --without-openssl --without-gnutls --without-boringssl \
			--without-picotls --enable-lib-only &&
		make -s -j"$jobs" && make -s install)
	echo "$ngtcp2_cflags $wolfssl_id" >"$ngtcp2_stamp"
}

if ((do_deps)); then
	step "wolfSSL and ngtcp2 from Debian source packages into $deps"
	if wolfssl_built && ngtcp2_built; then
		echo "prefix complete"
	else
		if add_deb_src; then apt-get update -q; fi
		build_wolfssl
		build_ngtcp2
	fi
fi

if ((do_huge)); then
	step "hugepages ($hugepages x 2 MiB) and hugetlbfs"
	nr=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
	cur=$(cat "$nr")
	if [ "$cur" -lt "$hugepages" ]; then
		echo "$hugepages" >"$nr"
		cur=$(cat "$nr")
		[ "$cur" -ge "$hugepages" ] || { echo "setup: asked for $hugepages hugepages, kernel gave $cur" >&2; exit 1; }
		echo "reserved $cur hugepages"
	else
		echo "$cur hugepages already reserved"
	fi
	if ! grep -q ' /dev/hugepages hugetlbfs ' /proc/mounts; then
		mkdir -p /dev/hugepages
		mount -t hugetlbfs -o pagesize=2M nodev /dev/hugepages
		echo "mounted hugetlbfs on /dev/hugepages"
	else
		echo "hugetlbfs already mounted on /dev/hugepages"
	fi
fi

step "bpffs for AF_XDP"
if mountpoint -q /sys/fs/bpf; then
	echo "bpffs already mounted"
else
	mkdir -p /sys/fs/bpf
	mount -t bpf bpf /sys/fs/bpf
	echo "mounted bpffs on /sys/fs/bpf"
fi

step "done"
