#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build the Linux default guest from Debian packages, into build/linux-guest/:
#   bzImage                Debian's cloud kernel (newest linux-image-*-cloud-amd64)
#   vmlinux                the ELF kernel inside it (PVH entry: skips decompression)
#   initramfs.cpio.gz      busybox, the virtio modules, an /init with a ready line
# Cached: does nothing when every output exists and is newer than this script.
#
# Usage: build-linux-guest.sh [OUTPUT_DIR]
# LINUX_GUEST_SERIES picks the kernel series (default 6.1.0: the kernel the
# project's notes describe; e.g. 6.12 for linux-image-6.12.*-cloud-amd64).
set -euo pipefail

out="${1:-build/linux-guest}"
series="${LINUX_GUEST_SERIES:-6.1.0}"
script="$(readlink -f "$0")"
outputs="bzImage vmlinux initramfs.cpio.gz"

say() { echo "build-linux-guest: $*"; }
die() { echo "build-linux-guest: $*" >&2; exit 1; }

up_to_date() {
	local f
	for f in $outputs; do
		[ -s "$out/$f" ] && [ "$out/$f" -nt "$script" ] || return 1
	done
}
if up_to_date; then
	exit 0
fi

# The load order that satisfies the modules' dependencies (the package ships
# no modules.dep, and there is no depmod/modprobe in the initramfs): each
# module after the ones its "depends=" modinfo field names (virtio needs
# virtio_ring's symbols, so virtio_ring comes first).
modules="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk
failover net_failover virtio_net virtio_console virtio-rng vsock
vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport"

mkdir -p "$out"
out="$(readlink -f "$out")"
work="$out/work"
rm -rf "$work"
mkdir -p "$work/debs" "$work/pkgroot" "$work/root"
# apt drops privileges to _apt for downloads when it can write the directory.
chmod 0777 "$work/debs"
trap 'rm -rf "$work"' EXIT

# The highest version of the series that the package lists know, by version
# order (sort -V), so the same lists always give the same kernel.
newest_kernel() {
	apt-cache search --names-only "^linux-image-${series//./\\.}[-.].*-cloud-amd64\$" |
		awk '{ print $1 }' | grep -v -- '-dbg$' | grep -E -- '-cloud-amd64$' |
		grep -E -- "^linux-image-${series//./\\.}[-.][0-9]" | sort -V | tail -n 1
}

download() {
	(cd "$work/debs" && apt-get download -qq "$@")
}

pkg="$(newest_kernel)"
if [ -z "$pkg" ] || ! download "$pkg" busybox-static; then
	say "package lists missing or stale: apt-get update"
	apt-get update -qq
	pkg="$(newest_kernel)"
	[ -n "$pkg" ] || die "apt-cache search lists no linux-image-${series}*-cloud-amd64"
	download "$pkg" busybox-static || die "apt-get download $pkg busybox-static failed"
fi
say "using $pkg and busybox-static"
for deb in "$work"/debs/*.deb; do
	dpkg-deb -x "$deb" "$work/pkgroot"
done

vmlinuz="$(find "$work/pkgroot/boot" -name 'vmlinuz-*' | head -n 1)"
[ -n "$vmlinuz" ] || die "$pkg has no boot/vmlinuz-*"
cp "$vmlinuz" "$out/bzImage.tmp"

# The compressed kernel sits after the setup sectors, at payload_offset (setup
# header 0x248) for payload_length (0x24c) bytes; its last 4 bytes are the
# decompressed size. This kernel's payload is an LZ4 legacy frame.
python3 - "$out/bzImage.tmp" "$work/payload.lz4" "$work/vmlinux.size" <<'PY'
import struct
import sys

image = open(sys.argv[1], "rb").read()
if image[0x202:0x206] != b"HdrS":
    sys.exit("build-linux-guest: bzImage has no HdrS setup header")
setup_sects = image[0x1f1] or 4
offset, length = struct.unpack_from("<II", image, 0x248)
start = (setup_sects + 1) * 512 + offset
payload = image[start:start + length]
if len(payload) != length or length < 8:
    sys.exit("build-linux-guest: payload runs past the end of the bzImage")
if payload[:4] != bytes.fromhex("02214c18"):
    sys.exit(f"build-linux-guest: payload is not legacy LZ4 (magic {payload[:4].hex()})")
open(sys.argv[2], "wb").write(payload[:-4])
open(sys.argv[3], "w").write(str(struct.unpack("<I", payload[-4:])[0]))
PY
lz4 -dc "$work/payload.lz4" > "$out/vmlinux.tmp" || die "lz4 could not decompress the payload"
[ "$(stat -c %s "$out/vmlinux.tmp")" = "$(cat "$work/vmlinux.size")" ] ||
	die "vmlinux is $(stat -c %s "$out/vmlinux.tmp") bytes, the bzImage says $(cat "$work/vmlinux.size")"
[ "$(head -c 4 "$out/vmlinux.tmp" | od -An -tx1 | tr -d ' ')" = "7f454c46" ] ||
	die "decompressed payload is not an ELF file"
# Xen ELF note type 0x12 is XEN_ELFNOTE_PHYS32_ENTRY: the PVH entry point.
readelf -n "$out/vmlinux.tmp" | grep -E -q '^[[:space:]]+Xen[[:space:]]+0x[0-9a-f]+[[:space:]].*\(0x00000012\)' ||
	die "vmlinux has no Xen PHYS32_ENTRY (PVH) note"

root="$work/root"
mkdir -p "$root"/{bin,dev,proc,sys,lib/modules}
cp "$work/pkgroot/bin/busybox" "$root/bin/busybox"
for m in $modules; do
	f="$(find "$work"/pkgroot/lib/modules/*/kernel -name "$m.ko" | head -n 1)"
	if [ -n "$f" ]; then
		cp "$f" "$root/lib/modules/"
	else
		say "warning: $pkg has no $m.ko; the guest will go without it"
	fi
done

# /init: busybox sh. Loads the modules in the order above, prints what the
# guest sees, then powers off unless kiln.shell is on the command line.
cat > "$root/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# The initramfs has no /dev/console node, so the kernel could not give init
# a console: take it from devtmpfs now.
exec 0</dev/console 1>/dev/console 2>&1
# A kernel without module support (kiln's small kernel) has them built in.
[ -e /proc/modules ] || modules_builtin=1
for m in ${modules//$'\n'/ }; do
	if [ -n "\$modules_builtin" ]; then
		:
	elif [ -f /lib/modules/\$m.ko ]; then
		insmod /lib/modules/\$m.ko || echo "kiln-guest: insmod \$m failed"
	else
		echo "kiln-guest: no module \$m"
	fi
done
echo "kiln-guest: ready"
echo "kiln-guest: nproc \$(nproc)"
echo "kiln-guest: \$(grep MemTotal /proc/meminfo)"
echo "kiln-guest: clocksource \$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
# What each virtio device on PCI got bound to.
for dev in /sys/bus/virtio/devices/*; do
	[ -e "\$dev/driver" ] || continue
	echo "kiln-guest: \$(basename \$dev) device \$(cat \$dev/device) driver \$(basename \$(readlink \$dev/driver))"
done
for word in \$(cat /proc/cmdline); do
	[ "\$word" = kiln.check ] || continue
	# Exercise each driver: a file system on the disk, hvc0, the hwrng.
	for d in /sys/block/vd*; do
		[ -e "\$d" ] || continue
		echo "kiln-guest: \$(basename \$d) queues \$(ls \$d/mq | wc -l) ro \$(cat \$d/ro) serial \$(cat \$d/serial 2>/dev/null)"
	done
	if [ -b /dev/vda ]; then
		echo "kiln-guest: vda size \$(cat /sys/block/vda/size) sectors"
		mke2fs -q /dev/vda && mkdir -p /mnt && mount /dev/vda /mnt &&
			dd if=/dev/urandom of=/mnt/data bs=4096 count=256 2>/dev/null && sync &&
			echo "kiln-guest: vda data \$(md5sum < /mnt/data | cut -d' ' -f1)" &&
			umount /mnt && echo "kiln-guest: vda umounted"
	fi
	[ -c /dev/hvc0 ] && echo "kiln-guest: hello hvc0" > /dev/hvc0 && echo "kiln-guest: hvc0 written"
	[ -c /dev/hwrng ] && echo "kiln-guest: hwrng \$(head -c 16 /dev/hwrng | od -An -tx1 | tr -d ' \\n')" &&
		echo "kiln-guest: rng_current \$(cat /sys/class/misc/hw_random/rng_current)"
done
for word in \$(cat /proc/cmdline); do
	[ "\$word" = kiln.s3 ] || continue
	# ACPI S3: the sleep states offered, a sleep the RTC alarm ends three
	# seconds later (busybox has no rtcwake: the same alarm through sysfs),
	# then what must have come back: the CPUs, the disk's data, the hwrng.
	echo "kiln-guest: power states \$(cat /sys/power/state)"
	echo "kiln-guest: mem_sleep \$(cat /sys/power/mem_sleep 2>/dev/null)"
	if [ -e /sys/class/rtc/rtc0/wakealarm ]; then
		echo 0 > /sys/class/rtc/rtc0/wakealarm
		echo +3 > /sys/class/rtc/rtc0/wakealarm
		echo "kiln-guest: suspending"
		if echo mem > /sys/power/state; then
			echo "kiln-guest: resumed from S3"
		else
			echo "kiln-guest: suspend failed"
		fi
	else
		echo "kiln-guest: no rtc0 wakealarm"
	fi
	echo "kiln-guest: cpus online after resume \$(cat /sys/devices/system/cpu/online)"
	if [ -b /dev/vda ] && mount /dev/vda /mnt 2>/dev/null; then
		echo "kiln-guest: vda data after resume \$(md5sum < /mnt/data | cut -d' ' -f1)"
		umount /mnt
	fi
	[ -c /dev/hwrng ] && echo "kiln-guest: hwrng after resume \$(head -c 16 /dev/hwrng | od -An -tx1 | tr -d ' \\n')"
done
for word in \$(cat /proc/cmdline); do
	if [ "\$word" = kiln.reboot ]; then
		echo "kiln-guest: rebooting"
		reboot -f
	fi
	if [ "\$word" = kiln.shell ]; then
		echo "kiln-guest: kiln.shell given: starting a shell; leaving it powers off"
		setsid cttyhack sh
	fi
done
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -9n) \
	> "$out/initramfs.cpio.gz.tmp"

# Rename last, so an interrupted build never leaves outputs that look fresh.
for f in $outputs; do
	mv "$out/$f.tmp" "$out/$f"
done
rm -rf "$work"
say "built $outputs in $out from $pkg"
