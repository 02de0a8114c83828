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
$(BUILD)/src/quant/avx512_%.o:     ISA_FLAGS = -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq
$(BUILD)/src/quant/vnni_%.o:       ISA_FLAGS = -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni
endif

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

$(BUILD)/tests/%: tests/%.c tests/test.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests $(ALL_CFLAGS) -o $@ $< $(LIB) $(LDFLAGS) $(LDLIBS)

test: $(BIN) $(TEST_BIN)
	@KESTREL_BIN=$(abspath $(BIN)) KESTREL_TEST_DIR=$(abspath $(BUILD)/tests) sh tests/run.sh $(TEST_BIN)

# The same suite under AddressSanitizer + UndefinedBehaviorSanitizer, in its own build folder.
test-asan:
	KESTREL_TEST_QUICK=1 $(MAKE) test BUILD=build-asan BIN=build-asan/kestrel OPT=-O1 \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"

clean:
	rm -rf build build-* $(BIN)

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
