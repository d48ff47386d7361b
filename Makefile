# SPDX-License-Identifier: MIT
#
# kllm top-level Makefile.
#
#   make                 libkllm (static + shared), tools, and kllm.ko when
#                        kernel headers exist (KDIR=... selects them)
#   make check           every test group (see tests/run-all.sh)
#   make unit [T=NAME]   unit tests of this build (BUILD=..., SAN=1, CROSS=...)
#   make tsan-check      the thread pool's tests under ThreadSanitizer (build/tsan)
#   make install         library, kllm.h, pkg-config file, tools under PREFIX
#                        (LIBDIR=, INCLUDEDIR=, BINDIR=, DESTDIR= for packages)
#   make uninstall       remove what make install put there
#   make deps            install what a fresh Debian 12 machine lacks
#   make vm-check        kllm.ko in QEMU on each target kernel (tests/vm/run.sh)
#   make run             build, fetch SmolLM2-135M (tools/fetch-model.sh), answer
#                        PROMPT="..." with kllm-run (MODEL=FILE.gguf skips the fetch)
#
# Userspace objects go to $(BUILD); each kernel's module is built in its own
# copy of the module sources under $(BUILD)/kmod-<release>.
#
# Configuration: CC/CROSS, CFLAGS, CPPFLAGS, LDFLAGS (all honoured, e.g.
# dpkg-buildflags'), SAN=1, DEV=0 and what pkg-config finds (liburing,
# libdrm, check) are written to $(BUILD)/config.mk, which every object and
# link depends on: it is rewritten only when its content changes, and then
# everything is rebuilt, so `make DEV=0` followed by `make`, or a build from
# before `make deps` installed liburing, never mixes objects of two
# configurations.  WERROR=1 (the default in a git checkout: development
# and CI) adds -Werror; a build from a release tree, or WERROR=0, does not.
#
# Libraries: $(BUILD)/lib/libkllm.so exports exactly the functions declared
# in runtime/kllm.h (-fvisibility=hidden and runtime/libkllm.map), and
# $(BUILD)/public/libkllm.a, the installed static library, is one
# relocatable object whose symbols other than those are local.
# $(BUILD)/lib/libkllm.a is the build tree's internal archive (every symbol
# global) for the tools, unit tests and test programs that use internals.

VERSION := 0.1.0
SOVERSION := 0

SRCDIR := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BUILD ?= build
# One spelling for every object path: the .d files name their targets as
# $(BUILD) was spelt, and a relative and an absolute BUILD for the same
# directory would otherwise miss each other's header dependencies.
override BUILD := $(abspath $(BUILD))
# ... while `make build/bin/kllm-run` (a file under BUILD, spelt relative to
# the source tree) still names the same target.
BUILD_REL := $(patsubst $(SRCDIR)/%,%,$(BUILD))
ifneq ($(BUILD_REL),$(BUILD))
$(BUILD_REL)/%: $(BUILD)/% ;
endif
PREFIX ?= /usr/local
# LIBDIR=$(PREFIX)/lib/x86_64-linux-gnu for a multiarch layout.
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
# Man pages (docs/man/NAME.SECTION) go to MANDIR/manSECTION, dated
# MANDATE: SOURCE_DATE_EPOCH's day, else the last commit's, else today.
MANDIR ?= $(PREFIX)/share/man
MANDATE ?= $(shell t=$${SOURCE_DATE_EPOCH:-$$(git -C $(SRCDIR) log -1 --format=%ct 2>/dev/null)}; \
	date -u $${t:+-d @$$t} +%Y-%m-%d)
CROSS ?=
SAN ?=
CC := $(CROSS)gcc
AR := $(CROSS)ar
NM := $(CROSS)nm
LD := $(CROSS)ld
OBJCOPY := $(CROSS)objcopy
PKG_CONFIG ?= pkg-config

ARCH := $(shell $(CC) -dumpmachine | cut -d- -f1)

# Flags every kernels/ file gets, identically in the module (see Kbuild).
KK_CFLAGS := -O2 -ffp-contract=off -fno-fast-math -fno-math-errno \
	-fno-strict-aliasing -ffreestanding
KK_AVX2 := -mavx2 -mfma -mf16c
KK_AVX512 := $(KK_AVX2) -mavx512f -mavx512bw -mavx512vl -mavx512dq
KK_AVX512VNNI := $(KK_AVX512) -mavx512vnni
KK_NEON := -march=armv8-a
KK_DOTPROD := -march=armv8.2-a+dotprod
KK_I8MM := -march=armv8.2-a+dotprod+i8mm

WERROR ?= $(if $(wildcard $(SRCDIR)/.git),1,0)
WARN := -Wall -Wextra $(if $(filter 1,$(WERROR)),-Werror) -Wvla
# Code that also runs in the kernel (16 KiB stacks) keeps frames small.
KSTACK := -Wframe-larger-than=2048
CFLAGS ?= -O2 -g
CPPFLAGS ?=
LDFLAGS ?=
# Every userspace object: hidden unless kllm.h declares it (its visibility
# pragma), so libkllm.so exports the public API alone.
BASE_CFLAGS := $(CPPFLAGS) $(CFLAGS) $(WARN) -fPIC -fvisibility=hidden -pthread -I$(SRCDIR)/kernels \
	-I$(SRCDIR)/uapi -I$(SRCDIR)/uapi/prog -I$(SRCDIR)/runtime -DKLLM_SRCDIR=\"$(SRCDIR)\"
LDLIBS := -lpthread -lm
# Link flags of our own, after the user's LDFLAGS (a command-line LDFLAGS=
# must not drop them).
KLLM_LDFLAGS :=

ifeq ($(SAN),1)
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# ASan's redzones inflate stack frames; the real limit is checked by the
# plain build and by Kbuild.
BASE_CFLAGS += $(SAN_FLAGS)
KSTACK :=
KLLM_LDFLAGS += $(SAN_FLAGS)
endif
# SAN=thread: ThreadSanitizer (make tsan-check), in a build of its own.
ifeq ($(SAN),thread)
SAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer
BASE_CFLAGS += $(SAN_FLAGS)
KSTACK :=
KLLM_LDFLAGS += $(SAN_FLAGS)
endif

# The device engine (runtime/engine_dev.c) talks to kllm.ko through
# liburing and libdrm.  Without them (a cross build, or DEV=0) libkllm has
# the CPU engine only and KLLM_ENGINE=dev says "device engine not built in".
DEV ?= $(if $(CROSS),0,1)
ifeq ($(DEV),1)
DEV_OK := $(shell $(PKG_CONFIG) --exists liburing libdrm && echo 1)
endif
ifeq ($(DEV_OK),1)
DEV_CFLAGS := -DKLLM_HAVE_DEV $(shell $(PKG_CONFIG) --cflags liburing libdrm)
LDLIBS += $(shell $(PKG_CONFIG) --libs liburing libdrm)
# kllm.pc: what a static link of libkllm needs besides -pthread -lm.
PC_REQUIRES_PRIVATE := liburing libdrm
# (kllm_dev_node.c: the device-access layer, runtime/kllm_dev_access.h)
$(BUILD)/obj/runtime/engine_dev.o $(BUILD)/obj/runtime/kllm_dev_node.o: BASE_CFLAGS += $(DEV_CFLAGS)
# kllm-bench submit issues the driver's ioctls and io_uring commands itself.
$(BUILD)/obj/tools/kllm-bench/submit.o: BASE_CFLAGS += $(DEV_CFLAGS)
# test_engine checks the engine's io_uring set-up (kllm_dev_ring_init).
$(BUILD)/obj/tests/unit/test_engine.o: BASE_CFLAGS += $(DEV_CFLAGS)
endif

# kllm-run's line editing: libedit (BSD-licensed; Debian libedit-dev), when
# pkg-config finds it (EDIT=0: without); else plain line input.  Tracked in
# config.mk like the device engine: installing it rebuilds kllm-run.
EDIT ?= $(if $(CROSS),0,1)
ifeq ($(EDIT),1)
EDIT_OK := $(shell $(PKG_CONFIG) --exists libedit && echo 1)
endif
ifeq ($(EDIT_OK),1)
EDIT_CFLAGS := -DKLLM_HAVE_LIBEDIT $(shell $(PKG_CONFIG) --cflags libedit)
EDIT_LIBS := $(shell $(PKG_CONFIG) --libs libedit)
$(BUILD)/obj/tools/kllm-run/input.o: BASE_CFLAGS += $(EDIT_CFLAGS)
$(BUILD)/bin/kllm-run: LDLIBS += $(EDIT_LIBS)
endif

# kllm-serve (the OpenAI-compatible service) is built on libmicrohttpd,
# json-c and libcurl (Debian libmicrohttpd-dev, libjson-c-dev,
# libcurl4-openssl-dev), found by pkg-config (SERVE=0: not built); without
# them `make` builds everything else and says so.  kllm-bench's `http` load
# generator uses libcurl (and json-c) when the same check passes.  Tracked in
# config.mk like the device engine.
SERVE ?= $(if $(CROSS),0,1)
ifeq ($(SERVE),1)
SERVE_OK := $(shell $(PKG_CONFIG) --exists libmicrohttpd json-c libcurl && echo 1)
endif
ifeq ($(SERVE_OK),1)
SERVE_CFLAGS := -DKLLM_HAVE_SERVE $(shell $(PKG_CONFIG) --cflags libmicrohttpd json-c libcurl)
SERVE_LIBS := $(shell $(PKG_CONFIG) --libs libmicrohttpd json-c libcurl)
$(BUILD)/obj/tools/kllm-serve/%.o $(BUILD)/obj/tools/kllm-bench/http.o $(BUILD)/obj/tools/kllm-bench/http_%.o: BASE_CFLAGS += $(SERVE_CFLAGS)
$(BUILD)/bin/kllm-serve $(BUILD)/bin/kllm-bench: LDLIBS += $(SERVE_LIBS)
else ifeq ($(SERVE),1)
ifeq ($(filter clean deps,$(MAKECMDGOALS)),)
$(info kllm: kllm-serve not built (no libmicrohttpd/json-c/libcurl; `make deps` installs them))
endif
endif

# Every tool's objects: KLLM_VERSION, the string `TOOL --version` prints
# ("0.1.0"; VERSION is in config.mk, so a new one rebuilds them).
$(BUILD)/obj/tools/%.o: BASE_CFLAGS += -DKLLM_VERSION=\"$(VERSION)\"

# Check: the host's via pkg-config; a cross build's from ARM64_SYSROOT
# (tools/deps-arm64.sh unpacks Debian's arm64 packages there), linked static.
ifeq ($(CROSS),)
CHECK_CFLAGS := $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS := $(shell $(PKG_CONFIG) --libs check 2>/dev/null)
RUN ?=
else
ARM64_SYSROOT ?= $(HOME)/.cache/kllm/arm64-sysroot
CHECK_CFLAGS := -I$(ARM64_SYSROOT)/usr/include
CHECK_LIBS := -L$(ARM64_SYSROOT)/usr/lib/aarch64-linux-gnu -lcheck -lsubunit -lrt -lm
KLLM_LDFLAGS += -static
RUN ?= qemu-aarch64 -cpu max
endif

# ---------------------------------------------------------------- sources
KK_ALL := $(wildcard $(SRCDIR)/kernels/*.c)
ifeq ($(ARCH),x86_64)
KK_SRCS := $(filter-out %_neon.c %_dotprod.c %_i8mm.c,$(KK_ALL))
else ifeq ($(ARCH),aarch64)
KK_SRCS := $(filter-out %_avx2.c %_avx512.c %_avx512vnni.c,$(KK_ALL))
else
KK_SRCS := $(filter-out %_neon.c %_dotprod.c %_i8mm.c %_avx2.c %_avx512.c %_avx512vnni.c,$(KK_ALL))
endif
RT_SRCS := $(wildcard $(SRCDIR)/runtime/*.c)
UAPI_SRCS := $(wildcard $(SRCDIR)/uapi/prog/*.c)
TOOLS := $(notdir $(wildcard $(SRCDIR)/tools/kllm-*))
TOOL_DIRS := $(filter-out %.sh %.py $(if $(SERVE_OK),,kllm-serve),$(TOOLS))
TESTS := $(basename $(notdir $(wildcard $(SRCDIR)/tests/unit/test_*.c)))

obj = $(patsubst $(SRCDIR)/%.c,$(BUILD)/obj/%.o,$(1))
KK_OBJS := $(call obj,$(KK_SRCS))
LIB_OBJS := $(KK_OBJS) $(call obj,$(RT_SRCS)) $(call obj,$(UAPI_SRCS))

# The internal archive (tools, tests), the public static and shared library.
LIBA := $(BUILD)/lib/libkllm.a
LIBA_PUB := $(BUILD)/public/libkllm.a
LIBSO := $(BUILD)/lib/libkllm.so.$(VERSION)
LIBMAP := $(SRCDIR)/runtime/libkllm.map
# The exported functions, one a line (the version script's global: list).
LIBSYMS := $(BUILD)/public/libkllm.syms
BINS := $(addprefix $(BUILD)/bin/,$(TOOL_DIRS))
TEST_BINS := $(addprefix $(BUILD)/tests/,$(TESTS))

.PHONY: all lib tools tests unit check install install-service uninstall deps module clean \
	print-ldlibs nm-check test vm-check run FORCE
.DEFAULT_GOAL := all

all: lib tools module

lib: $(LIBA) $(LIBA_PUB) $(if $(CROSS),,$(LIBSO))

# ---------------------------------------------------------------- configuration
# Everything that decides what an object or a link contains.  config.mk is
# remade on every run but rewritten only when this text changes; make then
# sees it newer than every object and rebuilds them all.  Expanded once,
# here (:=): the target-specific BASE_CFLAGS of a few objects must not leak
# into it through whichever target asks for config.mk first.
CONFIG := $(BUILD)/config.mk
define CONFIG_TEXT :=
# kllm build configuration: every object and link of this build depends on
# this file, rewritten (and everything rebuilt) when any line changes.
VERSION = $(VERSION)
SRCDIR = $(SRCDIR)
CC = $(CC) ($(shell command -v $(CC)))
CC_VERSION = $(shell $(CC) --version 2>/dev/null | head -1)
CROSS = $(CROSS)
AR = $(AR)
SAN = $(SAN)
DEV = $(DEV)
DEV_OK = $(DEV_OK)
DEV_CFLAGS = $(DEV_CFLAGS)
EDIT = $(EDIT)
EDIT_OK = $(EDIT_OK)
EDIT_CFLAGS = $(EDIT_CFLAGS)
EDIT_LIBS = $(EDIT_LIBS)
SERVE = $(SERVE)
SERVE_OK = $(SERVE_OK)
SERVE_CFLAGS = $(SERVE_CFLAGS)
SERVE_LIBS = $(SERVE_LIBS)
CHECK_CFLAGS = $(CHECK_CFLAGS)
CHECK_LIBS = $(CHECK_LIBS)
WERROR = $(WERROR)
CPPFLAGS = $(CPPFLAGS)
CFLAGS = $(CFLAGS)
LDFLAGS = $(LDFLAGS)
BASE_CFLAGS = $(BASE_CFLAGS)
KLLM_LDFLAGS = $(KLLM_LDFLAGS)
LDLIBS = $(LDLIBS)
endef

$(CONFIG): FORCE
	@$(shell mkdir -p $(@D))$(file >$@.tmp,$(CONFIG_TEXT))if cmp -s $@.tmp $@; then rm -f $@.tmp; \
	else [ ! -e $@ ] || echo "kllm: build configuration changed ($(BUILD_REL)/config.mk): rebuilding" >&2; \
		mv -f $@.tmp $@; fi
FORCE:
tools: $(BINS)
tests: $(TEST_BINS)

# Per-file SIMD flags come from the file name.
kk_simd_flags = $(strip \
	$(if $(filter %_avx2.c,$(1)),$(KK_AVX2)) \
	$(if $(filter %_avx512.c,$(1)),$(KK_AVX512)) \
	$(if $(filter %_avx512vnni.c,$(1)),$(KK_AVX512VNNI)) \
	$(if $(filter %_neon.c,$(1)),$(KK_NEON)) \
	$(if $(filter %_dotprod.c,$(1)),$(KK_DOTPROD)) \
	$(if $(filter %_i8mm.c,$(1)),$(KK_I8MM)))

$(BUILD)/obj/kernels/%.o: $(SRCDIR)/kernels/%.c $(CONFIG)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(KSTACK) $(KK_CFLAGS) $(call kk_simd_flags,$<) -MMD -MP -c $< -o $@

$(BUILD)/obj/uapi/%.o: $(SRCDIR)/uapi/%.c $(CONFIG)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(KSTACK) -MMD -MP -c $< -o $@

$(BUILD)/obj/%.o: $(SRCDIR)/%.c $(CONFIG)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CHECK_CFLAGS) -MMD -MP -c $< -o $@

$(LIBA): $(LIB_OBJS) $(CONFIG)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $(LIB_OBJS)

$(LIBSYMS): $(LIBMAP) $(CONFIG)
	@mkdir -p $(dir $@)
	sed -n 's/^[[:space:]]*\(kllm_[a-z0-9_]*\);.*/\1/p' $(LIBMAP) | sort -u > $@

# The installed static library: the objects linked into one relocatable
# object whose symbols but the public ones are made local, so a static link
# sees nothing of libkllm but kllm.h's functions (no gguf_*, tok_*, kk_*).
$(LIBA_PUB): $(LIB_OBJS) $(LIBSYMS) $(CONFIG)
	@mkdir -p $(dir $@)
	$(LD) -r -o $(@D)/libkllm.o $(LIB_OBJS)
	$(OBJCOPY) --localize-hidden --keep-global-symbols=$(LIBSYMS) $(@D)/libkllm.o
	rm -f $@ && $(AR) rcs $@ $(@D)/libkllm.o

$(LIBSO): $(LIB_OBJS) $(LIBMAP) $(CONFIG)
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,libkllm.so.$(SOVERSION) -Wl,--no-undefined \
		-Wl,--version-script=$(LIBMAP) $(LDFLAGS) $(KLLM_LDFLAGS) -o $@ $(LIB_OBJS) $(LDLIBS)
	ln -sf libkllm.so.$(VERSION) $(BUILD)/lib/libkllm.so.$(SOVERSION)
	ln -sf libkllm.so.$(SOVERSION) $(BUILD)/lib/libkllm.so

define tool_rule
$(BUILD)/bin/$(1): $(call obj,$(wildcard $(SRCDIR)/tools/$(1)/*.c)) $(LIBA) $(CONFIG)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) $$(KLLM_LDFLAGS) -o $$@ $$(filter-out $(CONFIG),$$^) $$(LDLIBS)
endef
$(foreach t,$(TOOL_DIRS),$(eval $(call tool_rule,$(t))))

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIBA) $(CONFIG)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(KLLM_LDFLAGS) -o $@ $(filter-out $(CONFIG),$^) $(CHECK_LIBS) $(LDLIBS)
# test_ppl checks kllm-bench ppl's computation, tools/kllm-bench/ppl_eval.c
# (linked after libkllm.a: the archive again for what only it calls).
$(BUILD)/tests/test_ppl: $(BUILD)/obj/tools/kllm-bench/ppl_eval.o
$(BUILD)/tests/test_ppl: LDLIBS := $(LIBA) $(LDLIBS)

# make unit [T=name]: run unit tests; RUN wraps each (qemu for cross builds).
UNIT_SEL := $(if $(T),$(BUILD)/tests/test_$(T),$(TEST_BINS))
unit: $(UNIT_SEL)
	@CK_DEFAULT_TIMEOUT=$${CK_DEFAULT_TIMEOUT:-120} RUN="$(RUN)" \
		$(SRCDIR)/tests/run-unit.sh $(UNIT_SEL)

# make tsan-check: the thread pool's parallel-for under ThreadSanitizer, in
# build/tsan (SAN=thread): the pool's tests (test_relay hands results from
# job to job), every op kind on pools of 1-7 threads (test_threads) and
# forward passes of synthetic models on 2 threads (test_model).  A race
# report ends the test that made it (halt_on_error), failing the stage.
TSAN_BUILD := $(SRCDIR)/build/tsan
TSAN_TESTS := $(addprefix $(TSAN_BUILD)/tests/test_,pool threads model)
.PHONY: tsan-check
tsan-check:
	+@$(MAKE) -s --no-print-directory BUILD=$(TSAN_BUILD) SAN=thread $(TSAN_TESTS)
	@TSAN_OPTIONS="halt_on_error=1 $${TSAN_OPTIONS:-}" CK_TIMEOUT_MULTIPLIER=4 RUN= \
		$(SRCDIR)/tests/run-unit.sh $(TSAN_TESTS)

# kernels/ must stay freestanding: no undefined symbol but mem*.
# kernels/ calls nothing outside itself but memcpy/memset/memmove; and its
# non-FPU units (Kbuild's kk_nofpu, the one list) call into the FPU units
# only through kk_op_run, from kk_op.o (tests/module-check.sh checks the
# same, and register use, on the module's own objects).
KK_NOFPU_OBJS := $(call obj,$(addprefix $(SRCDIR)/kernels/,$(filter %.c, \
	$(shell sed -n '/^kk_nofpu :=/,/[^\\]$$/p' $(SRCDIR)/Kbuild))))
KK_FPU_OBJS := $(filter-out $(KK_NOFPU_OBJS),$(KK_OBJS))

nm-check: $(KK_OBJS)
	@$(CROSS)ld -r -o $(BUILD)/kernels-all.o $(KK_OBJS)
	@bad=$$($(NM) -u $(BUILD)/kernels-all.o | awk '{print $$NF}' | \
		grep -v -E '^(memcpy|memset|memmove|_GLOBAL_OFFSET_TABLE_)$$' | sort -u); \
	if [ -n "$$bad" ]; then echo "kernels/ calls outside itself: $$bad"; exit 1; fi; \
	echo "nm-check: kernels/ objects need only memcpy/memset/memmove"
	@[ -n "$(KK_NOFPU_OBJS)" ] || { echo "nm-check: no kk_nofpu list in Kbuild"; exit 1; }; \
	defs=$$($(NM) --defined-only -g $(KK_FPU_OBJS) | awk 'NF == 3 {print $$3}' | sort -u); \
	rc=0; for o in $(KK_NOFPU_OBJS); do \
		for s in $$($(NM) -u $$o | awk '{print $$NF}' | grep -Fx -- "$$defs"); do \
			[ "$$s:$${o##*/}" = kk_op_run:kk_op.o ] && continue; \
			echo "nm-check: $${o##*/} (non-FPU) reaches $$s in an FPU unit"; rc=1; \
		done; \
	done; [ $$rc -eq 0 ] && echo "nm-check: non-FPU units reach FPU units only via kk_op_run"

# ---------------------------------------------------------------- module
# KDIR: the running kernel's build tree, else the newest Debian headers.
KDIR ?= $(firstword $(wildcard /lib/modules/$(shell uname -r)/build) \
	$(shell ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -1))
KREL = $(shell $(MAKE) -s -C $(KDIR) kernelrelease 2>/dev/null)

module:
ifeq ($(CROSS),)
	+@if [ -z "$(KDIR)" ] || [ ! -e "$(KDIR)/Makefile" ]; then \
		echo "module: no kernel headers (install linux-headers-amd64 or set KDIR=); kllm.ko skipped"; \
	else \
		$(SRCDIR)/kmod/build.sh "$(KDIR)" "$(abspath $(BUILD))"; \
	fi
else
	@echo "module: not built in a cross build"
endif

# kllm.ko for Debian's arm64 kernel, cross-built on any host: the newest
# arm64 kernel of ARM64_SERIES (6.12, or 6.1) downloaded and unpacked under
# ~/.cache/kllm/arm64-kernel by tools/deps-arm64-kernel.sh, the module in
# $(BUILD)/kmod-arm64-<release>/kllm.ko (kmod/build.sh; docs/DRIVER.md, "arm64").
ARM64_SERIES ?= 6.12
.PHONY: module-arm64
module-arm64:
	+@out=$$($(SRCDIR)/tools/deps-arm64-kernel.sh $(ARM64_SERIES)) || exit 1; \
	echo "$$out"; \
	$(SRCDIR)/kmod/build.sh "$${out##* }" "$(abspath $(BUILD))"

.PHONY: modules_install dkms vm-check-debug vm-check-arm64 install-driver-files uninstall-driver

# Install kllm.ko for KDIR's kernel (under updates/) and the driver's files
# (install-driver-files, below); INSTALL_MOD_PATH= (or DESTDIR=) stages both
# into a directory.  Not signed here (distribution headers carry no key;
# DKMS signs with its own; docs/DRIVER.md, "Packaging").
KMOD_REL = $(shell sed -n 's/.*UTS_RELEASE "\(.*\)"/\1/p' $(KDIR)/include/generated/utsrelease.h 2>/dev/null)
KMOD_STAGE = $(or $(INSTALL_MOD_PATH),$(DESTDIR))
modules_install: module
	+$(MAKE) -C $(KDIR) M=$(abspath $(BUILD))/kmod-$(KMOD_REL) \
		INSTALL_MOD_PATH=$(abspath $(KMOD_STAGE)) INSTALL_MOD_DIR=updates \
		CONFIG_MODULE_SIG_ALL= modules_install
	+$(MAKE) --no-print-directory -f $(SRCDIR)/Makefile install-driver-files DESTDIR=$(KMOD_STAGE)
	@if [ -z "$(KMOD_STAGE)" ]; then depmod -a $(KMOD_REL); fi

# DKMS: stage the module sources in /usr/src/kllm-$(VERSION) (kmod/dkms.conf)
# and add, build and install them for KDIR's kernel; DKMS installs modules
# only, so the driver's files come from install-driver-files.
dkms:
	rm -rf /usr/src/kllm-$(VERSION)
	$(SRCDIR)/kmod/stage.sh /usr/src/kllm-$(VERSION) $(VERSION)
	-dkms remove -m kllm -v $(VERSION) --all >/dev/null 2>&1
	dkms add -m kllm -v $(VERSION)
	dkms build -m kllm -v $(VERSION) -k $(KMOD_REL)
	dkms install -m kllm -v $(VERSION) -k $(KMOD_REL)
	+$(MAKE) --no-print-directory -f $(SRCDIR)/Makefile install-driver-files

# The driver's files, where a distribution puts them: under /usr/lib
# (never /lib), whatever PREFIX says, beside the module they serve:
#   UDEVRULESDIR/70-kllm.rules   the node to group kllm, mode 0660
#   SYSUSERSDIR/kllm.conf        sysusers.d: creates group kllm
#   MODULESLOADDIR/kllm.conf     modules-load.d: kllm.ko loaded at boot
# DESTDIR= stages them for a package (whose postinst then runs
# systemd-sysusers and udevadm).  Into the live system (no DESTDIR), the
# group is created now and udev rereads its rules and applies them to a
# node that already exists.  tests/vm/guest_pkg.c runs Debian's
# systemd-sysusers and systemd-udevd on these files in the guest.
UDEVRULESDIR ?= /usr/lib/udev/rules.d
SYSUSERSDIR ?= /usr/lib/sysusers.d
MODULESLOADDIR ?= /usr/lib/modules-load.d
DRIVER_FILES := $(UDEVRULESDIR)/70-kllm.rules $(SYSUSERSDIR)/kllm.conf $(MODULESLOADDIR)/kllm.conf
install-driver-files:
	install -D -m 644 $(SRCDIR)/kmod/70-kllm.rules $(DESTDIR)$(UDEVRULESDIR)/70-kllm.rules
	install -D -m 644 $(SRCDIR)/kmod/kllm.sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/kllm.conf
	install -D -m 644 $(SRCDIR)/kmod/kllm.modules-load.conf $(DESTDIR)$(MODULESLOADDIR)/kllm.conf
	@if [ -n "$(DESTDIR)" ]; then exit 0; fi; \
	if command -v systemd-sysusers >/dev/null 2>&1; then \
		echo "systemd-sysusers $(SYSUSERSDIR)/kllm.conf"; \
		systemd-sysusers $(SYSUSERSDIR)/kllm.conf || exit 1; \
	elif ! getent group kllm >/dev/null; then \
		echo "groupadd --system kllm"; groupadd --system kllm || exit 1; \
	fi; \
	if command -v udevadm >/dev/null 2>&1 && udevadm control --reload 2>/dev/null; then \
		echo "udevadm control --reload; udevadm trigger --action=add (accel, drm)"; \
		udevadm trigger --action=add --subsystem-match=accel --subsystem-match=drm; \
	else \
		echo "install-driver-files: udevd is not running; the rule applies from its next start"; \
	fi

# Remove what modules_install, dkms and install-driver-files installed:
# the driver's files, kllm.ko under every kernel's updates/ and, on the
# live system, this version's DKMS module and sources (INSTALL_MOD_PATH=
# or DESTDIR= name a staging directory instead).  Group kllm stays, as
# distributions leave system groups (files may still carry its gid).
uninstall-driver:
	rm -f $(addprefix $(KMOD_STAGE),$(DRIVER_FILES))
	rm -f $(KMOD_STAGE)/lib/modules/*/updates/kllm.ko*
	@if [ -n "$(KMOD_STAGE)" ]; then exit 0; fi; \
	if command -v dkms >/dev/null 2>&1 && dkms status -m kllm -v $(VERSION) 2>/dev/null | grep -q .; then \
		echo "dkms remove -m kllm -v $(VERSION) --all"; dkms remove -m kllm -v $(VERSION) --all; \
	fi; \
	rm -rf /usr/src/kllm-$(VERSION); \
	for d in /lib/modules/*/modules.dep; do d=$${d%/modules.dep}; depmod -a $${d##*/}; done; \
	if command -v udevadm >/dev/null 2>&1; then udevadm control --reload 2>/dev/null || true; fi

# ---------------------------------------------------------------- install
# The public library (libkllm.so and the localised libkllm.a, 0644), kllm.h
# alone under INCLUDEDIR/kllm, kllm.pc, the tools and the man pages (one
# source each, docs/man/NAME.SECTION, for every tool, the driver and the
# library: "@VERSION@" becomes VERSION and the empty date of its .TH line
# MANDATE, 0644 under MANDIR/manSECTION).
# DESTDIR stages.
MAN_PAGES := $(notdir $(wildcard $(SRCDIR)/docs/man/*.[1-9]))
PC_LIBDIR = $(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))
PC_INCLUDEDIR = $(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))
install: lib tools
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/kllm \
		$(DESTDIR)$(BINDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 644 $(LIBA_PUB) $(DESTDIR)$(LIBDIR)/libkllm.a
	install -m 644 $(LIBSO) $(DESTDIR)$(LIBDIR)/
	ln -sf libkllm.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libkllm.so.$(SOVERSION)
	ln -sf libkllm.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libkllm.so
	install -m 644 $(SRCDIR)/runtime/kllm.h $(DESTDIR)$(INCLUDEDIR)/kllm/
	install -m 755 $(BINS) $(DESTDIR)$(BINDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(PC_LIBDIR)|g' \
		-e 's|@INCLUDEDIR@|$(PC_INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
		-e 's|@REQUIRES_PRIVATE@|$(PC_REQUIRES_PRIVATE)|g' -e '/^[A-Za-z.]*: *$$/d' \
		$(SRCDIR)/runtime/kllm.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/kllm.pc
	chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/kllm.pc
	@for p in $(MAN_PAGES); do \
		d=$(DESTDIR)$(MANDIR)/man$${p##*.}; \
		echo "install $$p -> $$d/ ($(VERSION), $(MANDATE))"; \
		install -d "$$d" && sed -e 's|@VERSION@|$(VERSION)|g' \
			-e '1s|^\(\.TH [^ ]* [^ ]*\) ""|\1 "$(MANDATE)"|' $(SRCDIR)/docs/man/$$p > "$$d/$$p" && \
		chmod 644 "$$d/$$p" || exit 1; \
	done

# kllm-serve's systemd units (ExecStart names BINDIR's kllm-serve) and its
# example configuration; `make install-service`, not part of install.
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SERVE_EXAMPLEDIR ?= $(PREFIX)/share/doc/kllm
install-service: $(BUILD)/bin/kllm-serve
	install -d $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(SERVE_EXAMPLEDIR) $(DESTDIR)$(BINDIR)
	install -m 755 $(BUILD)/bin/kllm-serve $(DESTDIR)$(BINDIR)/
	sed 's|/usr/local/bin/kllm-serve|$(BINDIR)/kllm-serve|' \
		$(SRCDIR)/tools/kllm-serve/kllm-serve.service > $(DESTDIR)$(SYSTEMDUNITDIR)/kllm-serve.service
	install -m 644 $(SRCDIR)/tools/kllm-serve/kllm-serve.socket $(DESTDIR)$(SYSTEMDUNITDIR)/
	install -m 644 $(SRCDIR)/tools/kllm-serve/kllm-serve.json.example $(DESTDIR)$(SERVE_EXAMPLEDIR)/serve.json.example
	chmod 644 $(DESTDIR)$(SYSTEMDUNITDIR)/kllm-serve.service

uninstall:
	rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/kllm-serve.service $(DESTDIR)$(SYSTEMDUNITDIR)/kllm-serve.socket \
		$(DESTDIR)$(SERVE_EXAMPLEDIR)/serve.json.example
	rm -f $(DESTDIR)$(LIBDIR)/libkllm.a $(DESTDIR)$(LIBDIR)/libkllm.so \
		$(DESTDIR)$(LIBDIR)/libkllm.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libkllm.so.$(VERSION) \
		$(DESTDIR)$(INCLUDEDIR)/kllm/kllm.h $(DESTDIR)$(PKGCONFIGDIR)/kllm.pc \
		$(addprefix $(DESTDIR)$(BINDIR)/,$(TOOL_DIRS)) \
		$(foreach p,$(MAN_PAGES),$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(p)))/$(p))
	rmdir $(DESTDIR)$(INCLUDEDIR)/kllm 2>/dev/null || true

# ---------------------------------------------------------------- top level
# What a program linking libkllm.a needs after it (scripts that link it).
print-ldlibs:
	@echo $(LDLIBS)

deps:
	$(SRCDIR)/tools/deps.sh

check:
	$(SRCDIR)/tests/run-all.sh

# The README's test command: set-up, then every test group, each timed.
test:
	WITH_DEPS=1 $(SRCDIR)/tests/run-all.sh

# The README's first command: a chat answer from a small real model.
PROMPT ?= What is the capital of France? Answer in one sentence.
run:
	@command -v $(CC) >/dev/null 2>&1 || \
		{ echo "run: $(CC) not found (apt-get install build-essential)" >&2; exit 1; }
	@echo "run: building libkllm and the tools" >&2
	@$(MAKE) -s --no-print-directory lib tools
	@model="$(MODEL)"; \
	if [ -z "$$model" ]; then model=$$($(SRCDIR)/tools/fetch-model.sh) || exit 1; fi; \
	$(BUILD)/bin/kllm-run -m "$$model" --chat -p "$(PROMPT)" --temp 0 -n 64

# kllm.ko under QEMU on bookworm's 6.1 and 6.12 (tools/deps-vm.sh installs them).
vm-check:
	$(SRCDIR)/tests/vm/run.sh

# kllm.ko on Debian's arm64 6.12 in qemu-system-aarch64 (TCG): load, node,
# SIMD path, unload, and vm-check's guest suites but guest_pkg (see
# docs/DRIVER.md, "arm64"), SmolLM2 included (tests/vm/arm64-smoke.sh;
# VM_ARM64_SUITES= picks others, ARM64_SERIES=6.1).
VM_ARM64_SUITES ?= basic drm job share sched abuse abuse_fpu fuzz engine smollm2
vm-check-arm64:
	VM_ONLY="$(VM_ARM64_SUITES)" $(SRCDIR)/tests/vm/arm64-smoke.sh $(ARM64_SERIES)

# The same guest tests on a debug 6.12 (lockdep, KASAN, kmemleak,
# atomic-sleep checks) built once into ~/.cache/kllm/debug-kernel.
vm-check-debug:
	VM_DEBUG=1 $(SRCDIR)/tests/vm/run.sh

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
