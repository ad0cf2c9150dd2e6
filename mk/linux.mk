# SPDX-License-Identifier: MIT
# The Linux default guest, from Debian's packages (see scripts/build-linux-guest.sh).
.PHONY: linux-guest
linux-guest:
	bash scripts/build-linux-guest.sh $(BUILD)/linux-guest
