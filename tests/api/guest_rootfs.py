# SPDX-License-Identifier: MIT
"""What the API tests boot: kiln's small kernel with an ext4 root file system
made here, as a Firecracker user makes one (busybox and an /init script,
`mkfs.ext4 -d`), no initramfs. /init prints `kiln-guest: ready`, then by the
kernel command line:
  kiln.writeloop  writes numbered 4 KiB blocks to /dev/vdb one after another,
                  each followed by fsync (a flush), printing after each
                  `kiln-guest: tick SEQ UPTIME` (UPTIME: the guest's clock,
                  /proc/uptime), until the machine is stopped;
  kiln.spin       keeps two shell loops spinning (every vCPU of a 2-vCPU
                  machine busy), for the pause benchmark;
  kiln.s3         prints `kiln-guest: suspending` and sleeps in ACPI S3 with
                  no wake armed (the host wakes it), then `kiln-guest:
                  resumed from S3`, and waits as below;
  (nothing)       waits, so the host can drive the machine over the API,
                  printing `kiln-guest: vdb size SECTORS` when /dev/vdb
                  appears or changes size.
Ctrl-Alt-Del reboots the kernel (init never disables it), which kiln turns
into its exit."""
import shutil
import subprocess

from paths import BUILD

KERNEL = BUILD / "linux-small" / "bzImage"
BLOCK = 4096

INIT = r"""#!/bin/busybox sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
[ -e /dev/console ] || mount -t devtmpfs devtmpfs /dev
exec 0</dev/console 1>/dev/console 2>&1
echo "kiln-guest: ready"
# The root's device number (decimal) beside vda's (major:minor), then its
# type and options.
echo "kiln-guest: root $(stat -c %d /) $(cat /sys/block/vda/dev) $(grep ' / ' /proc/mounts | cut -d' ' -f3,4)"
echo "kiln-guest: cmdline $(cat /proc/cmdline)"
for word in $(cat /proc/cmdline); do
	[ "$word" = kiln.spin ] || continue
	(while :; do :; done) &
	(while :; do :; done) &
	echo "kiln-guest: spinning"
done
for word in $(cat /proc/cmdline); do
	[ "$word" = kiln.s3 ] || continue
	echo "kiln-guest: power states $(cat /sys/power/state)"
	echo "kiln-guest: suspending"
	if echo mem > /sys/power/state; then
		echo "kiln-guest: resumed from S3"
	else
		echo "kiln-guest: suspend failed"
	fi
done
for word in $(cat /proc/cmdline); do
	[ "$word" = kiln.writeloop ] || continue
	seq=0
	while :; do
		seq=$((seq + 1))
		printf 'kiln block %08d\n' $seq | dd of=/dev/vdb bs=4096 seek=$seq conv=sync,fsync 2>/dev/null ||
			echo "kiln-guest: write $seq failed"
		echo "kiln-guest: tick $seq $(cut -d' ' -f1 /proc/uptime)"
	done
done
last=
while :; do
	size=$(cat /sys/block/vdb/size 2>/dev/null)
	[ -n "$size" ] && [ "$size" != "$last" ] && echo "kiln-guest: vdb size $size"
	last=$size
	sleep 1
done
"""


def block_text(seq):
    """What the guest wrote in block SEQ of the data disk (then zeroes)."""
    return b"kiln block %08d\n" % seq


def make_rootfs(directory, size_mib=16):
    """An ext4 image with busybox and the /init above; returns its path."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    tree = directory / "rootfs-tree"
    for sub in ("bin", "sbin", "dev", "proc", "sys", "tmp"):
        (tree / sub).mkdir(parents=True, exist_ok=True)
    shutil.copy(busybox, tree / "bin" / "busybox")
    # The applets as links made here: a read-only root cannot take
    # `busybox --install` at boot.
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for name in applets:
        if name != "busybox" and not (tree / "bin" / name).exists():
            (tree / "bin" / name).symlink_to("busybox")
    init = tree / "sbin" / "init"
    init.write_text(INIT)
    init.chmod(0o755)
    image = directory / "rootfs.ext4"
    with open(image, "wb") as f:
        f.truncate(size_mib << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(tree), str(image)], check=True,
                   capture_output=True)
    return image
