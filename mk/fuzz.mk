# SPDX-License-Identifier: MIT
# libFuzzer targets (fuzz/fuzz_<name>.c) built with clang, ASan and UBSan
# against kiln's own sources compiled separately (build/fuzz-obj/), and the
# seed corpora the project generates (fuzz/seedgen.c). `make fuzz` runs each
# target FUZZ_SECONDS seconds on its persistent corpus (build/fuzz/corpus/);
# `make check` runs them briefly and replays fuzz/regressions/ (scripts/fuzz.sh).
FUZZ_CC      := clang
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(sort $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c)))
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(BUILD)/fuzz/%)
FUZZ_SEEDGEN := $(BUILD)/fuzz/seedgen
FUZZ_CFLAGS  := -std=gnu11 -O1 -g -Wall -Wextra -Werror -Isrc -I$(BUILD)/gen -Itests/harness \
                -Ifuzz -D_GNU_SOURCE -pthread $(ARCH_CFLAGS) -fno-omit-frame-pointer \
                -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
FUZZ_LIB_SRCS := $(filter-out src/main.c,$(SRCS)) tests/harness/virtq_driver.c
FUZZ_LIB_OBJS := $(FUZZ_LIB_SRCS:%.c=$(BUILD)/fuzz-obj/%.o)

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_BINS) $(FUZZ_SEEDGEN)

fuzz: fuzz-build
	bash scripts/fuzz.sh $(FUZZ_SECONDS)

$(BUILD)/fuzz-obj/%.o: %.c | $(GEN_HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

$(FUZZ_BINS): $(BUILD)/fuzz/%: fuzz/fuzz_%.c fuzz/fuzz_input.h $(FUZZ_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJS) $(LDLIBS)

# Seeds are written by kiln's own image builders (the loader tests') and its
# snapshot writer and configuration encoder.
$(FUZZ_SEEDGEN): fuzz/seedgen.c tests/unit/image_builder.c tests/unit/image_builder.h \
		src/util/snapshot_file.c src/util/error.c src/x86/snapshot_config.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O1 -g -Wall -Wextra -Werror -Isrc -Itests/unit -D_GNU_SOURCE \
		-o $@ fuzz/seedgen.c tests/unit/image_builder.c src/util/snapshot_file.c \
		src/util/error.c src/x86/snapshot_config.c -lz -ljansson

-include $(FUZZ_LIB_OBJS:.o=.d)
