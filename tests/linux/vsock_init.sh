#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# /init of the vsock end-to-end initramfs (mk/linux.mk: the default guest's
# initramfs with this /init and vsock-check appended): 64 MiB from the host
# into a guest listener, then 64 MiB from the guest to a host listener
# (CID 2, port 6000).
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec 0</dev/console 1>/dev/console 2>&1
bytes=67108864
mode=
# kiln.vsock_bytes=N: another size; kiln.vsock_fast: no checksums
# (bench/vsock_bench.py).
for word in $(cat /proc/cmdline); do
	case "$word" in
	kiln.vsock_bytes=*) bytes="${word#kiln.vsock_bytes=}" ;;
	kiln.vsock_fast) mode=fast ;;
	esac
done
echo "kiln-guest: ready"
/bin/vsock-check listen 5000 "$bytes" $mode &
listener=$!
wait "$listener"
/bin/vsock-check connect 2 6000 "$bytes" $mode
echo "kiln-guest: vsock done"
poweroff -f
