#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# /init of the snapshot end-to-end initramfs (mk/linux_snapshot.mk): a
# file system on vda with 1 MiB of random data, DHCP on eth0 (--net user),
# then a count forever, one line a tick: the tick, the data's MD5 read back
# from the disk (caches dropped first, so the read goes to the device), a
# ping of the user-mode network's gateway, and a short vsock connection to
# the host (CID 2, port 6000). The host snapshots it, kills kiln, restores
# and checks that each goes on (tests/linux/nested_snapshot.py).
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec 0</dev/console 1>/dev/console 2>&1
mkdir -p /tmp /mnt
printf '#!/bin/sh\n[ "$1" = bound ] || exit 0\nip addr add $ip/$mask dev $interface\nip route add default via $router\n' > /tmp/dhcp.sh
chmod +x /tmp/dhcp.sh
ip link set eth0 up
udhcpc -i eth0 -f -q -n -t 10 -s /tmp/dhcp.sh >/dev/null 2>&1
echo "kiln-snap: dhcp $?"
mke2fs -q /dev/vda && mount /dev/vda /mnt &&
	dd if=/dev/urandom of=/mnt/data bs=4096 count=256 2>/dev/null && sync
echo "kiln-snap: data $(md5sum < /mnt/data | cut -d' ' -f1)"
n=0
while :; do
	n=$((n + 1))
	echo "$n" >> /mnt/count
	sync
	echo 3 > /proc/sys/vm/drop_caches
	data=$(md5sum < /mnt/data | cut -d' ' -f1)
	ping -c 1 -W 2 10.0.2.2 >/dev/null 2>&1 && net=up || net=down
	vsock-check connect 2 6000 4096 >/dev/null 2>&1 && vsock=up || vsock=down
	echo "kiln-snap: tick $n data $data net $net vsock $vsock"
	sleep 1
done
