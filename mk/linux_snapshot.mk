# SPDX-License-Identifier: MIT
# The snapshot end-to-end initramfs: the default guest's, with a second
# archive appended that holds tests/linux/snapshot_init.sh as /init and
# vsock-check (tests/linux/vsock_check.c, built by mk/linux.mk's rule).
LINUX_SNAPSHOT := $(BUILD)/linux-snapshot
.PHONY: linux-snapshot
linux-snapshot: $(LINUX_SNAPSHOT)/initramfs.cpio.gz

$(LINUX_SNAPSHOT)/initramfs.cpio.gz: $(LINUX_VSOCK)/vsock-check tests/linux/snapshot_init.sh linux-guest
	rm -rf $(LINUX_SNAPSHOT)/root && mkdir -p $(LINUX_SNAPSHOT)/root/bin
	cp $(LINUX_VSOCK)/vsock-check $(LINUX_SNAPSHOT)/root/bin/vsock-check
	install -m 755 tests/linux/snapshot_init.sh $(LINUX_SNAPSHOT)/root/init
	(cd $(LINUX_SNAPSHOT)/root && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -9n) \
		> $(LINUX_SNAPSHOT)/extra.cpio.gz
	cat $(BUILD)/linux-guest/initramfs.cpio.gz $(LINUX_SNAPSHOT)/extra.cpio.gz > $@.tmp
	mv $@.tmp $@
