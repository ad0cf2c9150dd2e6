# SPDX-License-Identifier: MIT
# --net user's host harness (tests/harness/net_user_bridge.c): the backend
# bridged to a tap in a network namespace, whose kernel plays the guest.
# Built with the seccomp test hooks (never shipped), and again under
# AddressSanitizer, whose leak check at exit covers the backend's teardown.
NET_USER_BRIDGE_SRCS := tests/harness/net_user_bridge.c src/backends/net_user.c \
                        src/sandbox/seccomp.c $(wildcard src/util/*.c)
NET_USER_BRIDGE_DEPS := $(NET_USER_BRIDGE_SRCS) $(wildcard src/*.h src/*/*.h)
NET_USER_BRIDGE_CFLAGS := -std=gnu11 -g -Wall -Wextra -Werror -Isrc -D_GNU_SOURCE -pthread \
                          -DKILN_TEST_HOOKS
harness: $(BUILD)/harness/net-user-bridge $(BUILD)/harness/net-user-bridge-asan

$(BUILD)/harness/net-user-bridge: $(NET_USER_BRIDGE_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(NET_USER_BRIDGE_CFLAGS) -O2 -o $@ $(NET_USER_BRIDGE_SRCS) $(LDLIBS)

$(BUILD)/harness/net-user-bridge-asan: $(NET_USER_BRIDGE_DEPS)
	@mkdir -p $(dir $@)
	$(CC) $(NET_USER_BRIDGE_CFLAGS) -O1 -fsanitize=address,undefined \
		-fno-sanitize-recover=undefined -fno-omit-frame-pointer -o $@ \
		$(NET_USER_BRIDGE_SRCS) $(LDLIBS)
