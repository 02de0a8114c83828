# kestrel — `make` builds ./kestrel, `make test` runs the suite.
# Objects go to $(BUILD); several builds can live side by side (make BUILD=build-clang CC=clang).

CC      ?= cc
BUILD   ?= build
BIN     ?= kestrel
OPT     ?= -O2
WARN    := -Wall -Wextra -Werror -Wshadow -Wvla
CFLAGS  ?=
CPPFLAGS += -Iinclude -Isrc -D_GNU_SOURCE
ALL_CFLAGS = -std=c11 $(OPT) -g $(WARN) -pthread $(CFLAGS) $(EXTRA_CFLAGS)
LDLIBS  += -lm -pthread

LIB_SRC  := $(sort $(wildcard src/*.c src/quant/*.c))
LIB_SRC  := $(filter-out src/main.c,$(LIB_SRC))
CLI_SRC  := src/main.c $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
LIB      := $(BUILD)/libkestrel.a

# Per-ISA kernel files carry their own flags and are only called when the CPU has
# the instructions (src/quant/dispatch.c); the rest of the build targets any CPU of the arch.
TARGET := $(shell $(CC) -dumpmachine)
ifneq (,$(findstring x86_64,$(TARGET)))
$(BUILD)/src/quant/avx2_%.o:       ISA_FLAGS = -mavx2 -mfma -mf16c
$(BUILD)/src/quant/avxvnni_%.o:    ISA_FLAGS = -mavx2 -mfma -mf16c -mavxvnni
$(BUILD)/src/quant/avx512_%.o:     ISA_FLAGS = -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq
$(BUILD)/src/quant/vnni_%.o:       ISA_FLAGS = -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni
endif

# ---- aarch64 (1/2): settings -------------------------------------------------------------
# NEON is baseline on aarch64, so the aarch64 build has no ISA flags and runs on any ARMv8-A
# CPU; the dotprod kernels in src/quant/neon_*.c sit in a region that the files compile for
# armv8.2-a+dotprod themselves (a pragma), and are only installed when hwcaps report dotprod.
# `make test-aarch64` cross-builds the library and the unit tests into $(AARCH64_BUILD) and
# runs them under qemu-user; `make test` runs them too, counted in its total, when the cross
# compiler, its libc and qemu are installed (AARCH64_IN_TEST=no leaves them out; so do
# builds with EXTRA_CFLAGS, i.e. the sanitizer build).
AARCH64_CC      ?= aarch64-linux-gnu-gcc
AARCH64_AR      ?= aarch64-linux-gnu-ar
AARCH64_QEMU    ?= qemu-aarch64
AARCH64_SYSROOT ?= /usr/aarch64-linux-gnu
AARCH64_BUILD   ?= build-aarch64
# Unit tests (and test_gemm, whose model part uses the tiny synth-kernels files): test_reference
# and test_cli run whole models and stay x86-only.
AARCH64_TESTS   := $(filter $(TEST_SRC:tests/%.c=%),test_kernels test_gemm test_quant_legacy test_quant_k \
                   test_sampler test_threadpool test_tokenizer test_gguf test_unicode)
# These also run on a CPU without dotprod (qemu -cpu cortex-a53), to cover the baseline kernels.
AARCH64_V80_TESTS := $(filter $(AARCH64_TESTS),test_kernels)
# qemu wrappers, one per run: run.sh names each line after the wrapper.
AARCH64_RUN     := $(AARCH64_TESTS:%=$(AARCH64_BUILD)/qemu/%.aarch64) \
                   $(AARCH64_V80_TESTS:%=$(AARCH64_BUILD)/qemu/%.aarch64-v8.0)
AARCH64_IN_TEST ?= $(if $(EXTRA_CFLAGS),no,yes)
AARCH64_TOOLS   := $(if $(findstring aarch64,$(TARGET)),,$(and $(shell command -v $(AARCH64_CC) 2>/dev/null),\
                   $(shell command -v $(AARCH64_QEMU) 2>/dev/null),$(wildcard $(AARCH64_SYSROOT)/lib/ld-linux-aarch64.so.1)))
ifeq ($(AARCH64_IN_TEST),yes)
ifneq (,$(AARCH64_TOOLS))
AARCH64_TEST_DEPS := aarch64-tests
AARCH64_TEST_RUN  := $(AARCH64_RUN)
else
AARCH64_TEST_NOTE := echo "aarch64 tests skipped: install gcc-aarch64-linux-gnu qemu-user"
endif
endif
# ---- aarch64 (1/2): end ------------------------------------------------------------------

.PHONY: all test test-asan clean bench
all: $(BIN)

$(BIN): $(CLI_OBJ) $(LIB)
	$(CC) $(ALL_CFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LDFLAGS) $(LDLIBS)

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(ISA_FLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: tests/%.c $(wildcard tests/*.h) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests $(ALL_CFLAGS) -o $@ $< $(LIB) $(LDFLAGS) $(LDLIBS)

test: $(BIN) $(TEST_BIN) $(AARCH64_TEST_DEPS)
	@$(AARCH64_TEST_NOTE)
	@KESTREL_BIN=$(abspath $(BIN)) KESTREL_TEST_DIR=$(abspath $(BUILD)/tests) sh tests/run.sh $(TEST_BIN) $(AARCH64_TEST_RUN)

# The same suite under AddressSanitizer + UndefinedBehaviorSanitizer, in its own build folder.
test-asan:
	KESTREL_TEST_QUICK=1 $(MAKE) test BUILD=build-asan BIN=build-asan/kestrel OPT=-O1 \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"

# Benchmarks: synth TinyLlama-shaped models in bench/models/, kestrel bench on them and the
# default model, bench/RESULTS.md (scripts/bench.sh; BENCH_PROMPT/GEN/REPS/THREADS override).
bench: $(BIN)
	KESTREL_BIN=$(abspath $(BIN)) CC="$(CC)" sh scripts/bench.sh

clean:
	rm -rf build build-* $(BIN)

# ---- aarch64 (2/2): cross build and qemu runs -------------------------------------------
.PHONY: test-aarch64 aarch64-tests
test-aarch64: aarch64-tests
	@sh tests/run.sh $(AARCH64_RUN)

# The library and the unit tests, cross-compiled in their own make (own BUILD, CC and flags).
aarch64-tests:
	@$(if $(AARCH64_TOOLS),:,echo "aarch64: need $(AARCH64_CC), $(AARCH64_QEMU) and $(AARCH64_SYSROOT)" \
	  "(apt-get install gcc-aarch64-linux-gnu qemu-user)"; exit 1)
	@$(MAKE) --no-print-directory BUILD=$(AARCH64_BUILD) CC=$(AARCH64_CC) AR=$(AARCH64_AR) \
	  OPT=-O2 CFLAGS= EXTRA_CFLAGS= AARCH64_IN_TEST=no aarch64-bins

# (Made inside that make.) The cross-built tests and their wrappers.
.PHONY: aarch64-bins
aarch64-bins: $(AARCH64_TESTS:%=$(BUILD)/tests/%) $(AARCH64_RUN)
	@:

# Wrappers that run one cross-built test under qemu (-cpu max: dotprod, i8mm, ...).
# KESTREL_TEST_QUICK: test_gemm's whole-model part runs fewer batch sizes under emulation.
$(AARCH64_BUILD)/qemu/%.aarch64: Makefile
	@mkdir -p $(dir $@)
	@printf '#!/bin/sh\nKESTREL_TEST_QUICK=1 exec %s -L %s -cpu max %s "$$@"\n' '$(AARCH64_QEMU)' '$(AARCH64_SYSROOT)' \
	  '$(abspath $(AARCH64_BUILD)/tests/$*)' > $@ && chmod +x $@
$(AARCH64_BUILD)/qemu/%.aarch64-v8.0: Makefile
	@mkdir -p $(dir $@)
	@printf '#!/bin/sh\nexec %s -L %s -cpu cortex-a53 %s "$$@"\n' '$(AARCH64_QEMU)' '$(AARCH64_SYSROOT)' \
	  '$(abspath $(AARCH64_BUILD)/tests/$*)' > $@ && chmod +x $@
# ---- aarch64 (2/2): end ------------------------------------------------------------------

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
