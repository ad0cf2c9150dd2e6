# SPDX-License-Identifier: MIT
# Benchmarks (not tests): `make bench` prints kiln next to a raw KVM_RUN
# loop and QEMU on the same guests.
.PHONY: bench
RAW_KVM_RUN := $(BUILD)/bench/raw-kvm-run

$(RAW_KVM_RUN): bench/raw_kvm_run.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_OBJS) $(LDLIBS)

bench: all $(RAW_KVM_RUN)
	/usr/bin/python3 bench/bench.py

BLK_HARNESS := $(BUILD)/bench/blk-harness
$(BLK_HARNESS): bench/blk_harness.c tests/harness/virtq_driver.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/harness $(LDFLAGS) -o $@ bench/blk_harness.c \
		tests/harness/virtq_driver.c $(LIB_OBJS) $(LDLIBS)
bench: $(BLK_HARNESS)
