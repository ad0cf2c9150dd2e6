# SPDX-License-Identifier: MIT
# The Linux default guest, from Debian's packages (see scripts/build-linux-guest.sh).
.PHONY: linux-guest
linux-guest:
	bash scripts/build-linux-guest.sh $(BUILD)/linux-guest

# kiln's small test kernel (scripts/build-linux-small.sh, kernel/linux-small.config).
.PHONY: linux-small
linux-small:
	bash scripts/build-linux-small.sh
