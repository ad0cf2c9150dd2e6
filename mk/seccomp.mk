# SPDX-License-Identifier: MIT
# kiln with its test hooks (-DKILN_TEST_HOOKS), never shipped: with
# $KILN_SECCOMP_TEST_VIOLATE set to a thread kind (vcpu, worker-blk, ...),
# that thread makes a system call no list allows once its filter is on, so
# tests/cli/test_seccomp.py can see kiln killed by SIGSYS.
KILN_SECCOMP_TEST := $(BUILD)/kiln-seccomp-test

$(KILN_SECCOMP_TEST): $(SRCS) $(GEN_HEADERS) $(wildcard src/*.h src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -Isrc -I$(BUILD)/gen -D_GNU_SOURCE -pthread \
		-DKILN_TEST_HOOKS -o $@ $(SRCS) $(LDLIBS)

all: $(KILN_SECCOMP_TEST)
