# SPDX-License-Identifier: MIT
# kiln: plain make. `make run` and `make check` are the two newcomer commands.

CC       ?= gcc
BUILD    := build
# -mcx16: every x86_64 host with KVM has CMPXCHG16B, which the emulation-gap
# code needs inline (src/x86/insn_execute.c); gcc and clang both build kiln.
ARCH_CFLAGS := -mcx16
CFLAGS   := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Isrc -I$(BUILD)/gen \
            -D_GNU_SOURCE -pthread $(ARCH_CFLAGS) -MMD -MP $(EXTRA_CFLAGS)
LDFLAGS  := -pthread $(EXTRA_LDFLAGS)
# -lslirp: --net user's TCP/IP stack (libslirp's pkg-config file asks for
# glib's development files too, which kiln does not otherwise need).
LDLIBS   := -luring -lmicrohttpd -ljansson -lseccomp -lslirp -lz

SRCS     := $(shell find src -name '*.c' | sort)
OBJS     := $(SRCS:%.c=$(BUILD)/obj/%.o)
LIB_OBJS := $(filter-out $(BUILD)/obj/src/main.o,$(OBJS))
KILN     := $(BUILD)/kiln

UNIT_SRCS := $(wildcard tests/unit/*.c) tests/harness/virtq_driver.c
UNIT_OBJS := $(UNIT_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_BIN  := $(BUILD)/unit-tests

PYTEST   := /usr/bin/python3 -m pytest

.PHONY: all deps run check unit pytest clean guests
.DEFAULT_GOAL := all

# Feature fragments: generated sources (ACPI AML), guests, Linux guest, bench.
include $(sort $(wildcard mk/*.mk))

all: $(KILN) guests

deps:
	@bash scripts/deps.sh

$(KILN): $(OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/%.o: %.c | $(GEN_HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(UNIT_OBJS): CFLAGS += -Itests/harness

$(UNIT_BIN): $(UNIT_OBJS) $(LIB_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ -lcriterion $(LDLIBS)

DEMO_RUN := $(KILN) run --kernel $(BUILD)/guest/demo.elf --cpus 2 --memory 256

# Without /dev/kvm the demo boots on the nested AMD-V host (README), saying so.
run: deps
	$(MAKE) all
	@if [ -e /dev/kvm ]; then $(DEMO_RUN); else \
		echo "run: this machine has no /dev/kvm; booting the demo on the nested AMD-V host"; \
		bash scripts/nested-host.sh '$(DEMO_RUN)'; fi

unit: $(UNIT_BIN)
	$(UNIT_BIN) --jobs 2

pytest: all
	$(PYTEST) -q tests

check: deps
	$(MAKE) all $(UNIT_BIN) $(UNIT_ASAN_BIN)
	bash scripts/check.sh

clean:
	rm -rf $(BUILD)

-include $(OBJS:.o=.d) $(UNIT_OBJS:.o=.d)
