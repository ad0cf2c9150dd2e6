# SPDX-License-Identifier: MIT
"""Runs inside the nested AMD-V host, in a network namespace of its own
(tests/linux/nested_drivers.py starts it under `unshare --net`, so no
interface outside it is touched): makes a tap there with 10.1.0.1/24 and
busybox's udhcpd on it, boots the small kernel under kiln with `--net
tap=...` and drives the guest's shell (kiln.shell) through COM1: DHCP, a ping
to the tap's side, 256 MiB from a host server into the guest and 256 MiB from
the guest to a host server, each checksummed (MD5) on both ends. Writes what
happened as JSON to the path given, for tests/linux/test_net_tap_e2e.py to
judge.

The data is a 1 MiB block repeated 256 times (a seeded pseudo-random block
from the host; the guest's own from /dev/urandom), which both sides produce
at the speed of a copy: 256 MiB from /dev/urandom took the emulated CPU most
of ten minutes. A repeat cannot hide corruption inside a block, a lost or
doubled block changes the byte count, and the blocks' order is all that goes
unchecked.

usage: nested_net_tap.py RESULTS.json"""
import hashlib
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KILN = os.path.join(ROOT, "build", "kiln")
KERNEL = os.path.join(ROOT, "build", "linux-small", "bzImage")
INITRD = os.path.join(ROOT, "build", "linux-guest", "initramfs.cpio.gz")
TAP = "kilntap0"
HOST_ADDR = "10.1.0.1"
GUEST_ADDR = "10.1.0.2"
TOTAL = 256 << 20
BOOT_TIMEOUT = 900  # below its limit in nested_drivers.py, so its output is kept

# Typed into the guest's shell (the initramfs has no /tmp: made first).
# Markers are built from $M so that the console's echo of a command never
# looks like its result. The guest's 256 MiB go through tee: its checksum is
# taken from a fifo while nc sends the same bytes.
GUEST_SCRIPT = """M=kiln-net
mkdir -p /tmp
printf '#!/bin/sh\\n[ "$1" = bound ] || exit 0\\nip addr add $ip/$mask dev $interface\\n' > /tmp/dhcp.sh
chmod +x /tmp/dhcp.sh
ip link set eth0 up
udhcpc -i eth0 -f -q -n -t 10 -s /tmp/dhcp.sh >/dev/null 2>&1; echo "$M: dhcp $?"
echo "$M: addr $(ip -4 addr show eth0 | grep -o 'inet [0-9./]*' | cut -d' ' -f2)"
ping -c 3 -W 10 {host} >/dev/null 2>&1; echo "$M: ping $?"
echo "$M: received $(nc {host} {in_port} < /dev/null | md5sum | cut -d' ' -f1)"
head -c 1048576 /dev/urandom > /tmp/block
mkfifo /tmp/sent
md5sum < /tmp/sent | cut -d' ' -f1 > /tmp/sent.sum &
i=0; while [ $i -lt {blocks} ]; do cat /tmp/block; i=$((i+1)); done | tee /tmp/sent | nc {host} {out_port}
wait
echo "$M: sent $(cat /tmp/sent.sum)"
poweroff -f
"""


def sh(*argv):
    subprocess.run(argv, check=True)


def make_tap(work):
    """The tap with the host's address, and udhcpd offering the guest's."""
    sh("ip", "link", "set", "lo", "up")
    sh("ip", "tuntap", "add", "dev", TAP, "mode", "tap")
    sh("ip", "addr", "add", f"{HOST_ADDR}/24", "dev", TAP)
    sh("ip", "link", "set", TAP, "up")
    conf = os.path.join(work, "udhcpd.conf")
    with open(conf, "w") as f:
        f.write(f"start {GUEST_ADDR}\nend {GUEST_ADDR}\ninterface {TAP}\n"
                f"lease_file {work}/leases\npidfile {work}/udhcpd.pid\n"
                "option subnet 255.255.255.0\n")
    open(os.path.join(work, "leases"), "w").close()
    return subprocess.Popen(["busybox", "udhcpd", "-f", conf],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def listener():
    s = socket.create_server((HOST_ADDR, 0))
    return s, s.getsockname()[1]


def send_into_guest(server, result):
    """A seeded pseudo-random 1 MiB block 256 times to the guest's nc, then close."""
    conn, _ = server.accept()
    block, digest, start = random.Random(11).randbytes(1 << 20), hashlib.md5(), time.monotonic()
    with conn:
        for _ in range(TOTAL >> 20):
            digest.update(block)
            conn.sendall(block)
    result["host_sent"] = digest.hexdigest()
    result["into_guest_seconds"] = round(time.monotonic() - start, 1)


def receive_from_guest(server, result):
    """Everything the guest's nc sends, to its end: byte count and MD5."""
    conn, _ = server.accept()
    digest, got, start = hashlib.md5(), 0, time.monotonic()
    with conn:
        while chunk := conn.recv(1 << 20):
            digest.update(chunk)
            got += len(chunk)
    result["host_received"] = digest.hexdigest()
    result["host_received_bytes"] = got
    result["from_guest_seconds"] = round(time.monotonic() - start, 1)


def boot(work):
    dhcpd = make_tap(work)
    in_server, in_port = listener()
    out_server, out_port = listener()
    result = {}
    threads = [threading.Thread(target=send_into_guest, args=(in_server, result), daemon=True),
               threading.Thread(target=receive_from_guest, args=(out_server, result),
                                daemon=True)]
    for t in threads:
        t.start()
    argv = [KILN, "run", "--kernel", KERNEL, "--initrd", INITRD, "--memory", "256",
            "--cmdline", "console=ttyS0 kiln.shell", "--net", f"tap={TAP}"]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, bufsize=1)
    timer = threading.Timer(BOOT_TIMEOUT, proc.kill)
    timer.start()
    output, start = [], time.monotonic()
    try:
        for line in proc.stdout:
            output.append(line)
            if line.startswith("kiln-net:"):
                print(f"tap e2e: {line.strip()}", flush=True)  # progress, in case the host stalls
            if "kiln.shell given" in line:
                proc.stdin.write(GUEST_SCRIPT.format(host=HOST_ADDR, in_port=in_port,
                                                     out_port=out_port, blocks=TOTAL >> 20))
                proc.stdin.flush()
        proc.wait()
    finally:
        timer.cancel()
        dhcpd.kill()
        dhcpd.wait()
    for t in threads:
        t.join(10)
    result.update(status=proc.returncode, output="".join(output), stderr=proc.stderr.read(),
                  seconds=round(time.monotonic() - start, 1), total=TOTAL)
    return result


def main():
    with tempfile.TemporaryDirectory() as work:
        result = boot(work)
    with open(sys.argv[1], "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
