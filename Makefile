# HyperMesh — kernel-bypass service-mesh appliance.
#
# Targets:
#   make [all]        build libraries, binaries, test binaries and benches under build/
#   make setup        Debian packages, wolfSSL + ngtcp2 from source into build/deps,
#                     hugepages (scripts/setup.sh; safe to run twice)
#   make test         setup, build, then every Criterion unit test and every
#                     integration test (tests/run.sh); prints one summary line
#   make fuzz         build the libFuzzer targets and run each for FUZZ_SECONDS (default 60)
#   make soak         the consensus simulation over SOAK_SEEDS seeds (default 10000, ~15 min),
#                     then the node under traffic and churn for SOAK_SECONDS (default 300)
#                     with leak checks (scripts/run-node.sh --soak)
#   make bench        run the benchmarks under perf/ (each beside its reference)
#   make bench-check  repeat the benchmarks, compare ratios with perf/baseline.json
#                     (Mann-Whitney U + Kolmogorov-Smirnov); fails on a regression
#   make bench-baseline  measure and write perf/baseline.json on purpose
#   make bench-plot   PNG charts in perf/plots/ from the last make bench
#   make run          bring up a node on a DPDK virtual device and carry traffic
#   make format       clang-format every C source and header
#   make clean        remove build/ except the cached dependency prefix build/deps
#   make help         this text
#   make stoq         the STOQ library, hmesh-stoq, tests/stoq and its perf/bench_* only
#
# Variables: BUILD (default build), CC (default gcc), SANITIZE=1 (ASan+UBSan),
#            ARGS (make run ARGS="--duration 20"),
#            FUZZ_SECONDS, V=1 (show commands)

BUILD ?= build
CC ?= gcc
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
SANITIZE ?= 0
# DP_STATS=off compiles the dataplane's packet-path counters out (perf/telemetry.sh)
DP_STATS ?= on

ifeq ($(V),1)
Q :=
else
Q := @
endif

PKGS := libdpdk hwloc libbpf libpcap
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CRITERION_LIBS := $(shell pkg-config --libs criterion 2>/dev/null || echo -lcriterion)

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -MMD -MP -fno-strict-aliasing
CPPFLAGS += -I. -Icommon -Imfn -Idataplane -Itelemetry -Iperf/lib $(PKG_CFLAGS) -D_GNU_SOURCE
LDLIBS += $(PKG_LIBS) -lm -lpthread
ifeq ($(SANITIZE),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif
ifeq ($(DP_STATS),off)
# A measurement build only: without the counters GCC's flow analysis
# sees phantom uninitialised reads in dp_mfn (the arrays are filled for
# every i < n before use); it is not worth a memset on the packet path.
CPPFLAGS += -DDP_STATS_OFF
CFLAGS += -Wno-maybe-uninitialized
endif

# ---- libraries: one per folder; a folder's main.c files are binaries ----
COMMON_SRCS := $(wildcard common/*.c)
MFN_SRCS := $(wildcard mfn/*.c)
DP_SRCS := $(filter-out dataplane/main.c,$(wildcard dataplane/*.c))
PERFLIB_SRCS := $(wildcard perf/lib/*.c)
# telemetry/*.c is the stats-segment library every process links;
# hmesh_stat.c is the reader tool, telemetry/collectd/ the collectd plugin.
TELEM_SRCS := $(filter-out telemetry/hmesh_stat.c,$(wildcard telemetry/*.c))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

LIB_COMMON := $(BUILD)/lib/libhmcommon.a
LIB_MFN := $(BUILD)/lib/libhmmfn.a
LIB_DP := $(BUILD)/lib/libhmdp.a
LIB_PERF := $(BUILD)/lib/libhmperf.a
LIB_TELEM := $(BUILD)/lib/libhmtelem.a
LIB_STOQ := $(BUILD)/lib/libhmstoq.a
# Link order: dependents first (dataplane → stoq, the server it can host
# (dp_local.c) → mfn → telemetry → common).
ALL_LIBS := $(LIB_DP) $(LIB_STOQ) $(LIB_MFN) $(LIB_TELEM) $(LIB_COMMON) $(LIB_PERF)

BIN_DATAPLANE := $(BUILD)/bin/hmesh-dataplane
BIN_BENCH_CHECK := $(BUILD)/bin/hmesh-bench-check
BINS := $(BIN_DATAPLANE) $(BIN_BENCH_CHECK)
BINS += $(BUILD)/bin/hmesh-stoq

# ---- tests: tests/<module>/test_*.c, one Criterion binary each ----
TEST_SRCS := $(wildcard tests/*/test_*.c)
TEST_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))

# ---- benches: perf/*.c, one binary each ----
PERF_SRCS := $(wildcard perf/*.c)
PERF_BINS := $(patsubst perf/%.c,$(BUILD)/perf/%,$(PERF_SRCS))

# ---- fuzz targets: fuzz/fuzz_<name>.c plus the sources named in FUZZ_SRCS_<name> ----
FUZZ_TARGETS := $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_SRCS_parse := dataplane/dp_parse.c
FUZZ_SRCS_ctlmsg := common/hm_ctlmsg.c
FUZZ_SRCS_rest := controlplane/ctl_rest.c controlplane/ctl_model.c controlplane/ctl_store.c \
	controlplane/ctl_sync.c common/hm_ctlmsg.c \
	common/hm_log.c common/hm_sockaddr.c
FUZZ_SRCS_rest += controlplane/ctl_cluster.c controlplane/ctl_peer.c controlplane/consensus.c \
	controlplane/ctl_orch.c
# recursive (=): STOQ_CFLAGS/STOQ_LIBS (wolfSSL for Ed25519) are set further down
FUZZ_XFLAGS_rest = $(STOQ_CFLAGS)
FUZZ_LIBS_rest = -lmicrohttpd -ljansson $(STOQ_LIBS)
FUZZ_SRCS_bft := controlplane/consensus.c
FUZZ_XFLAGS_bft = $(STOQ_CFLAGS)
FUZZ_LIBS_bft = $(STOQ_LIBS)
FUZZ_SRCS_config := common/hm_config.c common/hm_log.c common/hm_hist.c common/hm_idlist.c dataplane/dp_config.c \
	telemetry/hm_stats.c \
	dataplane/dp_mfn_static.c dataplane/dp_quiclb.c common/hm_quiclb.c
FUZZ_XFLAGS_config = $(STOQ_CFLAGS)
FUZZ_LIBS_config = $(STOQ_LIBS)
FUZZ_SRCS_oci := runtime/rt_spec.c runtime/rt_net.c
FUZZ_XFLAGS_oci := -Iruntime
FUZZ_LIBS_oci := -ljansson -lcap
FUZZ_SRCS_stats_reader := telemetry/hm_stats.c common/hm_log.c common/hm_hist.c
FUZZ_SRCS_cid := stoq/stoq_cid.c stoq/stoq_config.c common/hm_config.c common/hm_log.c common/hm_idlist.c \
	common/hm_quiclb.c
FUZZ_XFLAGS_cid = -Istoq $(STOQ_CFLAGS)
FUZZ_LIBS_cid = $(STOQ_LIBS)
# recursive (=): STOQ_SRCS is set in the STOQ section further down
FUZZ_SRCS_stoq_frame = $(STOQ_SRCS) common/hm_log.c common/hm_config.c common/hm_hist.c \
	common/hm_quiclb.c common/hm_ethdev.c common/hm_idlist.c telemetry/hm_stats.c
FUZZ_XFLAGS_stoq_frame = -Istoq $(STOQ_CFLAGS)
FUZZ_LIBS_stoq_frame = $(STOQ_LIBS) -lrte_net_ring
FUZZ_SRCS_stoq_gcm := stoq/stoq_gcm.c common/hm_log.c
FUZZ_XFLAGS_stoq_gcm = -Istoq $(STOQ_CFLAGS)
FUZZ_LIBS_stoq_gcm = $(STOQ_LIBS)
FUZZ_SRCS_stoq_h3 = $(STOQ_SRCS) common/hm_log.c common/hm_config.c common/hm_hist.c \
	common/hm_quiclb.c common/hm_ethdev.c common/hm_idlist.c telemetry/hm_stats.c
FUZZ_XFLAGS_stoq_h3 = -Istoq $(STOQ_CFLAGS)
FUZZ_LIBS_stoq_h3 = $(STOQ_LIBS)
FUZZ_CFLAGS := -g -O1 -std=gnu11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-I. -Icommon -Imfn -Idataplane -Itelemetry -Icontrolplane $(PKG_CFLAGS) -D_GNU_SOURCE
FUZZ_BINS := $(patsubst %,$(BUILD)/fuzz/fuzz_%,$(FUZZ_TARGETS))

.PHONY: all setup test soak fuzz fuzz-build bench bench-check bench-baseline bench-plot run format clean help libs
.DEFAULT_GOAL := all

# all: at the end of the file, after every section has added to BINS.
libs: $(ALL_LIBS)

help:
	@sed -n '1,/^$$/p' $(firstword $(MAKEFILE_LIST)) | sed 's/^# \{0,1\}//'

setup:
	bash scripts/setup.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(LIB_COMMON): $(call obj,$(COMMON_SRCS))
$(LIB_MFN): $(call obj,$(MFN_SRCS))
$(LIB_DP): $(call obj,$(DP_SRCS))
$(LIB_PERF): $(call obj,$(PERFLIB_SRCS))
$(LIB_TELEM): $(call obj,$(TELEM_SRCS))
$(ALL_LIBS):
	@mkdir -p $(@D)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(BIN_DATAPLANE): $(call obj,dataplane/main.c) $(ALL_LIBS)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(ALL_LIBS) $(LDLIBS)

$(BIN_BENCH_CHECK): $(call obj,perf/tools/bench_check.c) $(ALL_LIBS)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(ALL_LIBS) $(LDLIBS) -ljansson

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(ALL_LIBS)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(ALL_LIBS) $(LDLIBS) $(CRITERION_LIBS)

$(BUILD)/perf/%: $(BUILD)/obj/perf/%.o $(ALL_LIBS)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(ALL_LIBS) $(LDLIBS)

# ==== STOQ (stoq/): QUIC on ngtcp2 + wolfSSL, HTTP/3 on nghttp3 ==========
# wolfSSL and ngtcp2 come from the setup script's prefix (always build/deps,
# also for BUILD=build-asan); nghttp3 from Debian. Only stoq objects, the
# hmesh-stoq tool, tests/stoq/, perf/bench_aesgcm, bench_stoq_ring and bench_sha256 see these flags.
STOQ_DEPS ?= $(abspath build/deps)
STOQ_PC := PKG_CONFIG_PATH=$(STOQ_DEPS)/lib/pkgconfig pkg-config
STOQ_PKGS := libngtcp2 libngtcp2_crypto_wolfssl wolfssl libnghttp3
STOQ_CFLAGS := $(shell $(STOQ_PC) --cflags $(STOQ_PKGS) 2>/dev/null)
STOQ_LIBS := $(shell $(STOQ_PC) --libs $(STOQ_PKGS) 2>/dev/null) -Wl,-rpath,$(STOQ_DEPS)/lib
STOQ_SRCS := $(filter-out stoq/main.c,$(wildcard stoq/*.c))
BIN_STOQ := $(BUILD)/bin/hmesh-stoq

$(call obj,$(STOQ_SRCS) stoq/main.c $(wildcard tests/stoq/*.c) perf/bench_aesgcm.c \
	perf/bench_stoq_ring.c perf/bench_sha256.c \
	dataplane/dp_local.c tests/dataplane/test_parse.c tests/dataplane/test_parse_scalar.c): \
	CPPFLAGS += -Istoq $(STOQ_CFLAGS)
# The dataplane decodes QUIC-LB connection IDs with wolfCrypt's AES (dp_quiclb.c,
# common/hm_quiclb.c, which stoq_cid.c shares).
$(call obj,dataplane/dp_quiclb.c common/hm_quiclb.c tests/common/test_quiclb.c): \
	CPPFLAGS += $(STOQ_CFLAGS)
# rte_eth_from_rings: the hosted STOQ server's ring port (dp_local.c).
LDLIBS += $(STOQ_LIBS) -lrte_net_ring

$(LIB_STOQ): $(call obj,$(STOQ_SRCS))

$(BIN_STOQ): $(call obj,stoq/main.c) $(LIB_STOQ) $(LIB_TELEM) $(LIB_COMMON)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB_STOQ) $(LIB_TELEM) $(LIB_COMMON) $(STOQ_LIBS) $(PKG_LIBS) \
		-lm -lpthread

# More specific than $(BUILD)/tests/%, so make picks it for tests/stoq/.
$(BUILD)/tests/stoq/%: $(BUILD)/obj/tests/stoq/%.o $(LIB_STOQ) $(LIB_DP) $(LIB_COMMON)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB_STOQ) $(LIB_DP) $(LIB_COMMON) $(STOQ_LIBS) $(PKG_LIBS) -lm \
		-lpthread $(CRITERION_LIBS) -lrte_net_ring

stoq: $(LIB_STOQ) $(BIN_STOQ) $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/stoq/test_*.c)) \
	$(BUILD)/perf/bench_aesgcm $(BUILD)/perf/bench_stoq_ring $(BUILD)/perf/bench_sha256
.PHONY: stoq
# ==== end STOQ ============================================================

# ==== telemetry (telemetry/): hmesh-stat reader and the collectd plugin ====
BIN_STAT := $(BUILD)/bin/hmesh-stat
BINS += $(if $(wildcard telemetry/hmesh_stat.c),$(BIN_STAT))

$(BIN_STAT): $(call obj,telemetry/hmesh_stat.c) $(LIB_TELEM) $(LIB_COMMON)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB_TELEM) $(LIB_COMMON) -lm -lpthread

# collectd plugin: a shared object with its own PIC copy of the segment reader.
COLLECTD_PLUGIN := $(BUILD)/lib/collectd/hmesh.so
COLLECTD_CFLAGS := -DHAVE_CONFIG_H -I/usr/include -I/usr/include/collectd -Itelemetry -Icommon
BINS += $(if $(wildcard telemetry/collectd/hmesh.c),$(COLLECTD_PLUGIN))

$(COLLECTD_PLUGIN): telemetry/collectd/hmesh.c telemetry/collectd/hm_dpdktel.c \
		telemetry/collectd/hm_dpdktel.h telemetry/hm_stats.c telemetry/hm_stats.h \
		common/hm_log.c common/hm_log.h common/hm_hist.c common/hm_hist.h
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter -fPIC -shared \
		-D_GNU_SOURCE $(COLLECTD_CFLAGS) -o $@ telemetry/collectd/hmesh.c \
		telemetry/collectd/hm_dpdktel.c telemetry/hm_stats.c \
		common/hm_log.c common/hm_hist.c -lm -ljansson
# ==== end telemetry ========================================================

# ==== XDP steering program: net_af_xdp ports load it (xdp_prog=) ===========
BPF_STEER := $(BUILD)/lib/bpf/hmesh_steer.bpf.o
BINS += $(BPF_STEER)
$(BPF_STEER): dataplane/xdp/hmesh_steer.bpf.c
	@mkdir -p $(@D)
	@echo "  BPF     $@"
	$(Q)clang -O2 -g -Wall -Werror -target bpf -I/usr/include/$(shell gcc -dumpmachine) -c $< -o $@
# ==== end XDP ==============================================================

# ==== control plane (controlplane/ minus consensus): hmesh-controld ========
CTL_LIBS := $(shell pkg-config --libs libmicrohttpd jansson 2>/dev/null)
CTL_SRCS := $(filter-out controlplane/main.c controlplane/consensus%.c controlplane/bft_%.c,\
	$(wildcard controlplane/*.c))
LIB_CTL := $(BUILD)/lib/libhmctl.a
LIB_BFT := $(BUILD)/lib/libhmbft.a
BIN_CONTROLD := $(BUILD)/bin/hmesh-controld
BINS += $(if $(wildcard controlplane/main.c),$(BIN_CONTROLD))

$(call obj,$(CTL_SRCS) controlplane/main.c $(wildcard tests/controlplane/*.c)): \
	CPPFLAGS += -Icontrolplane $(STOQ_CFLAGS)

$(LIB_CTL): $(call obj,$(CTL_SRCS))
	@mkdir -p $(@D)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(BIN_CONTROLD): $(call obj,controlplane/main.c) $(LIB_CTL) $(LIB_BFT) $(LIB_TELEM) $(LIB_COMMON)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB_CTL) $(LIB_BFT) $(LIB_TELEM) $(LIB_COMMON) $(CTL_LIBS) \
		$(STOQ_LIBS) -lm -lpthread

$(BUILD)/tests/controlplane/%: $(BUILD)/obj/tests/controlplane/%.o $(LIB_CTL) $(LIB_BFT) $(LIB_TELEM) $(LIB_COMMON)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB_CTL) $(LIB_BFT) $(LIB_TELEM) $(LIB_COMMON) $(CTL_LIBS) \
		$(STOQ_LIBS) -lm -lpthread $(CRITERION_LIBS)
# ==== end control plane ====================================================

# ==== consensus (controlplane/consensus*.c, bft_*.c): BFT log, Ed25519 ======
BFT_SRCS := $(wildcard controlplane/consensus*.c controlplane/bft_*.c)

$(call obj,$(BFT_SRCS) $(wildcard tests/consensus/*.c)): CPPFLAGS += -Icontrolplane $(STOQ_CFLAGS)

$(LIB_BFT): $(call obj,$(BFT_SRCS))
	@mkdir -p $(@D)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/tests/consensus/%: $(BUILD)/obj/tests/consensus/%.o $(LIB_BFT) $(LIB_COMMON)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB_BFT) $(LIB_COMMON) $(STOQ_LIBS) -lm -lpthread \
		$(CRITERION_LIBS)

$(call obj,perf/consensus_sim.c): CPPFLAGS += -Icontrolplane $(STOQ_CFLAGS)
$(BUILD)/perf/consensus_sim: $(BUILD)/obj/perf/consensus_sim.o $(LIB_BFT) $(LIB_COMMON)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB_BFT) $(LIB_COMMON) $(STOQ_LIBS) -lm -lpthread
# ==== end consensus ========================================================

# ==== runtime (runtime/): containers from OCI bundles, hmesh-run ============
RT_LIBS := $(shell pkg-config --libs jansson libseccomp libcap 2>/dev/null)
RT_SRCS := $(filter-out runtime/main.c,$(wildcard runtime/*.c))
LIB_RT := $(BUILD)/lib/libhmrt.a
BIN_RUN := $(BUILD)/bin/hmesh-run
BINS += $(if $(wildcard runtime/main.c),$(BIN_RUN))

$(call obj,$(RT_SRCS) runtime/main.c $(wildcard tests/runtime/*.c)): CPPFLAGS += -Iruntime

$(LIB_RT): $(call obj,$(RT_SRCS))
	@mkdir -p $(@D)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(BIN_RUN): $(call obj,runtime/main.c) $(LIB_RT) $(LIB_TELEM) $(LIB_COMMON)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB_RT) $(LIB_TELEM) $(LIB_COMMON) $(RT_LIBS) -lm -lpthread

$(BUILD)/tests/runtime/%: $(BUILD)/obj/tests/runtime/%.o $(LIB_RT) $(LIB_TELEM) $(LIB_COMMON)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $< $(LIB_RT) $(LIB_TELEM) $(LIB_COMMON) $(RT_LIBS) -lm -lpthread \
		$(CRITERION_LIBS)

# The bench's container payload: a static binary that prints the time it started.
BIN_STAMP := $(BUILD)/bin/hmesh-stamp
BINS += $(BIN_STAMP)
$(BIN_STAMP): perf/tools/stamp.c
	@mkdir -p $(@D)
	@echo "  LD      $@ (static)"
	$(Q)$(CC) -O2 -static -o $@ $<
# ==== end runtime ==========================================================

.SECONDEXPANSION:
# Every project header is a prerequisite: a header edit must rebuild the
# targets (one clang call compiles several sources, so no -MMD here).
FUZZ_HDRS := $(wildcard */*.h)
$(BUILD)/fuzz/fuzz_%: fuzz/fuzz_%.c $$(FUZZ_SRCS_$$*) $(FUZZ_HDRS)
	@mkdir -p $(@D)
	@echo "  FUZZ    $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_XFLAGS_$*) -o $@ $(filter %.c,$^) $(LDLIBS) $(FUZZ_LIBS_$*)

test: setup
	$(MAKE) all
	bash tests/run.sh $(BUILD)

fuzz-build: $(FUZZ_BINS)

SOAK_SEEDS ?= 10000
SOAK_SECONDS ?= 300
soak: setup
	$(MAKE) all
	BFT_SEEDS=$(SOAK_SEEDS) $(BUILD)/tests/consensus/test_bft_sim
	bash scripts/run-node.sh $(BUILD) --duration $(SOAK_SECONDS) --soak

fuzz: setup
	$(MAKE) fuzz-build
	bash scripts/fuzz.sh $(BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

bench: setup
	$(MAKE) all
	bash perf/run.sh $(BUILD)

bench-check: setup
	$(MAKE) all
	bash perf/check.sh $(BUILD)

bench-plot:
	bash perf/plot.sh $(BUILD)

bench-baseline: setup
	$(MAKE) all
	bash perf/check.sh $(BUILD) --refresh

run: setup
	$(MAKE) all
	bash scripts/run-node.sh $(BUILD) $(ARGS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	find $(BUILD) -mindepth 1 -maxdepth 1 ! -name deps ! -name deps-src -exec rm -rf {} +

all: libs $(BINS) $(TEST_BINS) $(PERF_BINS)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
