#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Build the Linux default guest from Debian packages, into build/linux-guest/:
#   bzImage                Debian's cloud kernel (newest linux-image-*-cloud-amd64)
#   vmlinux                the ELF kernel inside it (PVH entry: skips decompression)
#   initramfs.cpio.gz      busybox, the virtio modules, an /init with a ready line
# Cached: does nothing when the outputs are newer than this script.
set -euo pipefail

out="${1:-build/linux-guest}"
script="$(readlink -f "$0")"
if [ -s "$out/bzImage" ] && [ -s "$out/vmlinux" ] && [ -s "$out/initramfs.cpio.gz" ] &&
   [ "$out/initramfs.cpio.gz" -nt "$script" ]; then
	exit 0
fi

# The load order that satisfies the modules' dependencies (no depmod here).
modules="virtio virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk
failover net_failover virtio_net virtio_console virtio-rng vsock
vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport"

mkdir -p "$out"
out="$(readlink -f "$out")"
work="$out/work"
rm -rf "$work"
mkdir -p "$work/debs" "$work/root"
cd "$work/debs"

kernel_pkg() {
	apt-cache depends linux-image-cloud-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9].*-cloud-amd64$/ { print $2; exit }'
}
pkg="$(kernel_pkg)"
if [ -z "$pkg" ]; then
	apt-get update -qq
	pkg="$(kernel_pkg)"
fi
[ -n "$pkg" ] || { echo "build-linux-guest: no linux-image-*-cloud-amd64 package found" >&2; exit 1; }
echo "build-linux-guest: $pkg and busybox-static"
apt-get download -qq "$pkg" busybox-static 2>/dev/null ||
	{ apt-get update -qq && apt-get download -qq "$pkg" busybox-static; }
for deb in *.deb; do dpkg-deb -x "$deb" "$work/pkgroot"; done

cp "$work"/pkgroot/boot/vmlinuz-* "$out/bzImage"

# The protected-mode payload sits after the setup sectors, at payload_offset
# (setup header 0x248) for payload_length (0x24c) bytes; this kernel's is LZ4.
python3 - "$out/bzImage" "$work/payload" <<'PY'
import struct, sys
image = open(sys.argv[1], "rb").read()
setup_sects = image[0x1f1] or 4
offset, length = struct.unpack_from("<II", image, 0x248)
start = (setup_sects + 1) * 512 + offset
payload = image[start:start + length]
if payload[:4] != bytes.fromhex("02214c18"):
    sys.exit(f"build-linux-guest: payload is not legacy LZ4 (magic {payload[:4].hex()})")
open(sys.argv[2], "wb").write(payload)
PY
# lz4 complains about the size word the kernel appends; the ELF check below
# is what tells whether decompression worked.
lz4 -dc "$work/payload" > "$out/vmlinux" 2>/dev/null || true
readelf -n "$out/vmlinux" | grep -q "0x00000012" ||
	{ echo "build-linux-guest: vmlinux has no PVH entry note" >&2; exit 1; }

root="$work/root"
mkdir -p "$root"/{bin,dev,proc,sys,lib/modules}
cp "$work/pkgroot/bin/busybox" "$root/bin/busybox"
for m in $modules; do
	f="$(find "$work/pkgroot/lib/modules" -name "$m.ko" | head -n 1)"
	if [ -n "$f" ]; then cp "$f" "$root/lib/modules/"; else echo "build-linux-guest: no $m.ko"; fi
done
cat > "$root/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(echo $modules); do
	[ -f /lib/modules/\$m.ko ] && insmod /lib/modules/\$m.ko 2>/dev/null
done
echo "kiln-guest: ready"
echo "kiln-guest: nproc \$(nproc)"
echo "kiln-guest: \$(grep MemTotal /proc/meminfo)"
echo "kiln-guest: clocksource \$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
grep -q kiln.shell /proc/cmdline && exec setsid cttyhack sh
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) > "$out/initramfs.cpio.gz"
rm -rf "$work"
ls -l "$out"
