# SPDX-License-Identifier: MIT
# The virtqueue stress harness, built four ways: as shipped, with
# ThreadSanitizer, and (test-only) with either full fence removed, which the
# harness must catch losing notifications.
HARNESS_SRCS := tests/harness/virtq_stress.c tests/harness/virtq_driver.c src/virtio/queue.c \
                src/vm/memory.c
HARNESS_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Isrc -Itests/harness \
                  -D_GNU_SOURCE -pthread
HARNESS_BINS := $(BUILD)/harness/virtq-stress $(BUILD)/harness/virtq-stress-tsan \
                $(BUILD)/harness/virtq-stress-no-avail-fence \
                $(BUILD)/harness/virtq-stress-no-used-fence

.PHONY: harness
harness: $(HARNESS_BINS)
all: harness

$(BUILD)/harness/virtq-stress: $(HARNESS_SRCS) $(wildcard tests/harness/*.h src/virtio/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(HARNESS_CFLAGS) -o $@ $(HARNESS_SRCS)

$(BUILD)/harness/virtq-stress-tsan: $(HARNESS_SRCS) $(wildcard tests/harness/*.h src/virtio/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(HARNESS_CFLAGS) -fsanitize=thread -Wno-tsan -o $@ $(HARNESS_SRCS)

$(BUILD)/harness/virtq-stress-no-avail-fence: $(HARNESS_SRCS) $(wildcard tests/harness/*.h src/virtio/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(HARNESS_CFLAGS) -DVIRTQ_TEST_DROP_AVAIL_EVENT_FENCE -o $@ $(HARNESS_SRCS)

$(BUILD)/harness/virtq-stress-no-used-fence: $(HARNESS_SRCS) $(wildcard tests/harness/*.h src/virtio/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(HARNESS_CFLAGS) -DVIRTQ_TEST_DROP_USED_IDX_FENCE -o $@ $(HARNESS_SRCS)

# The unit tests again under AddressSanitizer: hostile descriptor chains and
# loader inputs must never read or write outside their buffers.
UNIT_ASAN_BIN := $(BUILD)/unit-tests-asan
LIB_SRCS := $(filter-out src/main.c,$(SRCS))

$(UNIT_ASAN_BIN): $(UNIT_SRCS) $(LIB_SRCS) $(GEN_HEADERS) $(wildcard src/*/*.h tests/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O1 -g -Wall -Wextra -Werror -Isrc -I$(BUILD)/gen -Itests/harness \
		-D_GNU_SOURCE -pthread $(ARCH_CFLAGS) -fsanitize=address,undefined \
		-fno-sanitize-recover=undefined -fno-omit-frame-pointer -o $@ $(UNIT_SRCS) $(LIB_SRCS) -lcriterion $(LDLIBS)

# virtio-blk over virtio-pci with its workers and io_uring through reset,
# pause/resume and teardown with reads in flight, plain and under TSan.
BLK_RESET_SRCS := tests/harness/blk_reset.c tests/harness/virtq_driver.c \
                  $(filter-out src/main.c,$(SRCS))
BLK_RESET_DEPS := $(BLK_RESET_SRCS) $(GEN_HEADERS) $(wildcard src/*/*.h tests/harness/*.h)
harness: $(BUILD)/harness/blk-reset $(BUILD)/harness/blk-reset-tsan

$(BUILD)/harness/blk-reset: $(BLK_RESET_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(HARNESS_CFLAGS) $(ARCH_CFLAGS) -I$(BUILD)/gen -o $@ $(BLK_RESET_SRCS) $(LDLIBS)

$(BUILD)/harness/blk-reset-tsan: $(BLK_RESET_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(HARNESS_CFLAGS) $(ARCH_CFLAGS) -I$(BUILD)/gen -O1 -fsanitize=thread -Wno-tsan \
		-o $@ $(BLK_RESET_SRCS) $(LDLIBS)

# virtio-net over a real tap in a test-made network namespace, this program
# as the guest's driver (tests/harness/test_net_tap.py).
NET_TAP_SRCS := tests/harness/net_tap.c tests/harness/virtq_driver.c \
                $(filter-out src/main.c,$(SRCS))
harness: $(BUILD)/harness/net-tap

$(BUILD)/harness/net-tap: $(NET_TAP_SRCS) $(GEN_HEADERS) $(wildcard src/*/*.h src/*.h tests/harness/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(HARNESS_CFLAGS) $(ARCH_CFLAGS) -I$(BUILD)/gen -o $@ $(NET_TAP_SRCS) $(LDLIBS)
harness: $(BUILD)/harness/net-tap-tsan

$(BUILD)/harness/net-tap-tsan: $(NET_TAP_SRCS) $(GEN_HEADERS) $(wildcard src/*/*.h src/*.h tests/harness/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(HARNESS_CFLAGS) $(ARCH_CFLAGS) -I$(BUILD)/gen -O1 -fsanitize=thread -Wno-tsan \
		-o $@ $(NET_TAP_SRCS) $(LDLIBS)

# virtio-vsock over virtio-pci with its workers and Unix-socket host side,
# driven by a guest stack in the harness: plain, ASan and TSan.
VSOCK_HARNESS_SRCS := tests/harness/vsock_harness.c tests/harness/virtq_driver.c \
                      $(filter-out src/main.c,$(SRCS))
VSOCK_HARNESS_DEPS := $(VSOCK_HARNESS_SRCS) $(GEN_HEADERS) $(wildcard src/*/*.h tests/harness/*.h)
harness: $(BUILD)/harness/vsock-harness $(BUILD)/harness/vsock-harness-asan \
         $(BUILD)/harness/vsock-harness-tsan

$(BUILD)/harness/vsock-harness: $(VSOCK_HARNESS_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(HARNESS_CFLAGS) $(ARCH_CFLAGS) -I$(BUILD)/gen -o $@ $(VSOCK_HARNESS_SRCS) $(LDLIBS)

$(BUILD)/harness/vsock-harness-asan: $(VSOCK_HARNESS_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(HARNESS_CFLAGS) $(ARCH_CFLAGS) -I$(BUILD)/gen -O1 -fsanitize=address,undefined \
		-fno-sanitize-recover=undefined -fno-omit-frame-pointer -o $@ $(VSOCK_HARNESS_SRCS) $(LDLIBS)

$(BUILD)/harness/vsock-harness-tsan: $(VSOCK_HARNESS_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(HARNESS_CFLAGS) $(ARCH_CFLAGS) -I$(BUILD)/gen -O1 -fsanitize=thread -Wno-tsan \
		-o $@ $(VSOCK_HARNESS_SRCS) $(LDLIBS)
