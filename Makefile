# SPDX-License-Identifier: MIT
#
# kllm top-level Makefile.
#
#   make                 libkllm (static + shared), tools, and kllm.ko when
#                        kernel headers exist (KDIR=... selects them)
#   make check           every test group (see tests/run-all.sh)
#   make unit [T=NAME]   unit tests of this build (BUILD=..., SAN=1, CROSS=...)
#   make install         library, headers, pkg-config file, tools under PREFIX
#   make deps            install what a fresh Debian 12 machine lacks
#   make vm-check        kllm.ko in QEMU on each target kernel (tests/vm/run.sh)
#   make run             build, fetch SmolLM2-135M (tools/fetch-model.sh), answer
#                        PROMPT="..." with kllm-run (MODEL=FILE.gguf skips the fetch)
#
# Userspace objects go to $(BUILD); each kernel's module is built in its own
# copy of the module sources under $(BUILD)/kmod-<release>.

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
CROSS ?=
SAN ?=
CC := $(CROSS)gcc
AR := $(CROSS)ar
NM := $(CROSS)nm
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

WARN := -Wall -Wextra -Werror -Wvla
# Code that also runs in the kernel (16 KiB stacks) keeps frames small.
KSTACK := -Wframe-larger-than=2048
CFLAGS ?= -O2 -g
BASE_CFLAGS := $(CFLAGS) $(WARN) -fPIC -pthread -I$(SRCDIR)/kernels \
	-I$(SRCDIR)/uapi -I$(SRCDIR)/runtime -DKLLM_SRCDIR=\"$(SRCDIR)\"
LDLIBS := -lpthread -lm

ifeq ($(SAN),1)
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# ASan's redzones inflate stack frames; the real limit is checked by the
# plain build and by Kbuild.
BASE_CFLAGS += $(SAN_FLAGS)
KSTACK :=
LDFLAGS += $(SAN_FLAGS)
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
$(BUILD)/obj/runtime/engine_dev.o: BASE_CFLAGS += $(DEV_CFLAGS)
# kllm-bench submit issues the driver's ioctls and io_uring commands itself.
$(BUILD)/obj/tools/kllm-bench/submit.o: BASE_CFLAGS += $(DEV_CFLAGS)
# test_engine checks the engine's io_uring set-up (kllm_dev_ring_init).
$(BUILD)/obj/tests/unit/test_engine.o: BASE_CFLAGS += $(DEV_CFLAGS)
endif

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
LDFLAGS += -static
RUN ?= qemu-aarch64 -cpu max
endif

# ---------------------------------------------------------------- sources
KK_ALL := $(wildcard $(SRCDIR)/kernels/*.c)
ifeq ($(ARCH),x86_64)
KK_SRCS := $(filter-out %_neon.c %_dotprod.c,$(KK_ALL))
else ifeq ($(ARCH),aarch64)
KK_SRCS := $(filter-out %_avx2.c %_avx512.c %_avx512vnni.c,$(KK_ALL))
else
KK_SRCS := $(filter-out %_neon.c %_dotprod.c %_avx2.c %_avx512.c %_avx512vnni.c,$(KK_ALL))
endif
RT_SRCS := $(wildcard $(SRCDIR)/runtime/*.c)
UAPI_SRCS := $(wildcard $(SRCDIR)/uapi/*.c)
TOOLS := $(notdir $(wildcard $(SRCDIR)/tools/kllm-*))
TOOL_DIRS := $(filter-out %.sh %.py,$(TOOLS))
TESTS := $(basename $(notdir $(wildcard $(SRCDIR)/tests/unit/test_*.c)))

obj = $(patsubst $(SRCDIR)/%.c,$(BUILD)/obj/%.o,$(1))
KK_OBJS := $(call obj,$(KK_SRCS))
LIB_OBJS := $(KK_OBJS) $(call obj,$(RT_SRCS)) $(call obj,$(UAPI_SRCS))

LIBA := $(BUILD)/lib/libkllm.a
LIBSO := $(BUILD)/lib/libkllm.so.$(VERSION)
BINS := $(addprefix $(BUILD)/bin/,$(TOOL_DIRS))
TEST_BINS := $(addprefix $(BUILD)/tests/,$(TESTS))

.PHONY: all lib tools tests unit check install deps module clean print-ldlibs \
	nm-check test vm-check run
.DEFAULT_GOAL := all

all: lib tools module

lib: $(LIBA) $(if $(CROSS),,$(LIBSO))
tools: $(BINS)
tests: $(TEST_BINS)

# Per-file SIMD flags come from the file name.
kk_simd_flags = $(strip \
	$(if $(filter %_avx2.c,$(1)),$(KK_AVX2)) \
	$(if $(filter %_avx512.c,$(1)),$(KK_AVX512)) \
	$(if $(filter %_avx512vnni.c,$(1)),$(KK_AVX512VNNI)) \
	$(if $(filter %_neon.c,$(1)),$(KK_NEON)) \
	$(if $(filter %_dotprod.c,$(1)),$(KK_DOTPROD)))

$(BUILD)/obj/kernels/%.o: $(SRCDIR)/kernels/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(KSTACK) $(KK_CFLAGS) $(call kk_simd_flags,$<) -MMD -MP -c $< -o $@

$(BUILD)/obj/uapi/%.o: $(SRCDIR)/uapi/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(KSTACK) -MMD -MP -c $< -o $@

$(BUILD)/obj/%.o: $(SRCDIR)/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CHECK_CFLAGS) -MMD -MP -c $< -o $@

$(LIBA): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

$(LIBSO): $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,libkllm.so.$(SOVERSION) -Wl,--no-undefined $(LDFLAGS) -o $@ $^ $(LDLIBS)
	ln -sf libkllm.so.$(VERSION) $(BUILD)/lib/libkllm.so.$(SOVERSION)
	ln -sf libkllm.so.$(SOVERSION) $(BUILD)/lib/libkllm.so

define tool_rule
$(BUILD)/bin/$(1): $(call obj,$(wildcard $(SRCDIR)/tools/$(1)/*.c)) $(LIBA)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach t,$(TOOL_DIRS),$(eval $(call tool_rule,$(t))))

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

# make unit [T=name]: run unit tests; RUN wraps each (qemu for cross builds).
UNIT_SEL := $(if $(T),$(BUILD)/tests/test_$(T),$(TEST_BINS))
unit: $(UNIT_SEL)
	@CK_DEFAULT_TIMEOUT=$${CK_DEFAULT_TIMEOUT:-120} RUN="$(RUN)" \
		$(SRCDIR)/tests/run-unit.sh $(UNIT_SEL)

# kernels/ must stay freestanding: no undefined symbol but mem*.
nm-check: $(KK_OBJS)
	@$(CROSS)ld -r -o $(BUILD)/kernels-all.o $(KK_OBJS)
	@bad=$$($(NM) -u $(BUILD)/kernels-all.o | awk '{print $$NF}' | \
		grep -v -E '^(memcpy|memset|memmove|_GLOBAL_OFFSET_TABLE_)$$' | sort -u); \
	if [ -n "$$bad" ]; then echo "kernels/ calls outside itself: $$bad"; exit 1; fi; \
	echo "nm-check: kernels/ objects need only memcpy/memset/memmove"

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

.PHONY: modules_install dkms vm-check-debug

# Install kllm.ko for KDIR's kernel (under updates/) and the udev rule that
# gives its node to group kllm; INSTALL_MOD_PATH= stages into a directory.
# Not signed here (distribution headers carry no key; DKMS signs with its own).
KMOD_REL = $(shell sed -n 's/.*UTS_RELEASE "\(.*\)"/\1/p' $(KDIR)/include/generated/utsrelease.h 2>/dev/null)
modules_install: module
	+$(MAKE) -C $(KDIR) M=$(abspath $(BUILD))/kmod-$(KMOD_REL) \
		INSTALL_MOD_PATH=$(abspath $(INSTALL_MOD_PATH)) INSTALL_MOD_DIR=updates \
		CONFIG_MODULE_SIG_ALL= modules_install
	install -D -m 644 $(SRCDIR)/kmod/70-kllm.rules $(INSTALL_MOD_PATH)/lib/udev/rules.d/70-kllm.rules
	@if [ -z "$(INSTALL_MOD_PATH)" ]; then depmod -a $(KMOD_REL); fi

# DKMS: stage the module sources in /usr/src/kllm-$(VERSION) (kmod/dkms.conf)
# and add, build and install them for KDIR's kernel.
dkms:
	rm -rf /usr/src/kllm-$(VERSION)
	$(SRCDIR)/kmod/stage.sh /usr/src/kllm-$(VERSION) $(VERSION)
	-dkms remove -m kllm -v $(VERSION) --all >/dev/null 2>&1
	dkms add -m kllm -v $(VERSION)
	dkms build -m kllm -v $(VERSION) -k $(KMOD_REL)
	dkms install -m kllm -v $(VERSION) -k $(KMOD_REL)

# ---------------------------------------------------------------- install
install: lib tools
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/kllm \
		$(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(LIBA) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(LIBSO) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libkllm.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libkllm.so.$(SOVERSION)
	ln -sf libkllm.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/libkllm.so
	install -m 644 $(SRCDIR)/runtime/kllm.h $(SRCDIR)/runtime/cpu.h $(SRCDIR)/runtime/pool.h $(SRCDIR)/kernels/kk.h $(DESTDIR)$(PREFIX)/include/kllm/
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' \
		$(SRCDIR)/runtime/kllm.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/kllm.pc

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

# The same guest tests on a debug 6.12 (lockdep, KASAN, kmemleak,
# atomic-sleep checks) built once into ~/.cache/kllm/debug-kernel.
vm-check-debug:
	VM_DEBUG=1 $(SRCDIR)/tests/vm/run.sh

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
