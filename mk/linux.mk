# SPDX-License-Identifier: MIT
# The Linux default guest, from Debian's packages (see scripts/build-linux-guest.sh).
.PHONY: linux-guest
linux-guest:
	bash scripts/build-linux-guest.sh $(BUILD)/linux-guest

# kiln's small test kernel (scripts/build-linux-small.sh, kernel/linux-small.config).
.PHONY: linux-small
linux-small:
	bash scripts/build-linux-small.sh

# The vsock end-to-end initramfs: the default guest's, with a second archive
# appended (the kernel unpacks both; later files replace earlier ones) that
# holds tests/linux/vsock_init.sh as /init and tests/linux/vsock_check.c,
# linked statically, as /bin/vsock-check.
LINUX_VSOCK := $(BUILD)/linux-vsock
.PHONY: linux-vsock
linux-vsock: $(LINUX_VSOCK)/initramfs.cpio.gz

$(LINUX_VSOCK)/vsock-check: tests/linux/vsock_check.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -static -o $@ $<

$(LINUX_VSOCK)/initramfs.cpio.gz: $(LINUX_VSOCK)/vsock-check tests/linux/vsock_init.sh linux-guest
	rm -rf $(LINUX_VSOCK)/root && mkdir -p $(LINUX_VSOCK)/root/bin
	cp $(LINUX_VSOCK)/vsock-check $(LINUX_VSOCK)/root/bin/vsock-check
	install -m 755 tests/linux/vsock_init.sh $(LINUX_VSOCK)/root/init
	(cd $(LINUX_VSOCK)/root && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -9n) \
		> $(LINUX_VSOCK)/extra.cpio.gz
	cat $(BUILD)/linux-guest/initramfs.cpio.gz $(LINUX_VSOCK)/extra.cpio.gz > $@.tmp
	mv $@.tmp $@
