# SPDX-License-Identifier: MIT
# kiln itself under AddressSanitizer and UBSan, for the API soak test
# (tests/api/): hostile requests must never read or write out of bounds.
KILN_ASAN := $(BUILD)/kiln-asan

$(KILN_ASAN): $(SRCS) $(GEN_HEADERS) $(wildcard src/*.h src/*/*.h)
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O1 -g -Wall -Wextra -Werror -Isrc -I$(BUILD)/gen -D_GNU_SOURCE -pthread \
		-fsanitize=address,undefined -fno-omit-frame-pointer -o $@ $(SRCS) $(LDLIBS)

all: $(KILN_ASAN)
