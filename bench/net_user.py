# SPDX-License-Identifier: MIT
"""User-mode networking, kiln's `--net user` beside QEMU's `-netdev user`
(both libslirp, both a virtio-net device), on the same guest kernel and
initramfs in one run: TCP throughput from the guest to a sink on the host's
127.0.0.1 (through 10.0.2.2), and from the host into the guest through a
forwarded port. A Linux userspace needs a KVM that is not PVM, so run it on
the nested AMD-V host:

    make -s all linux-guest linux-small
    bash scripts/nested-host.sh '/usr/bin/python3 bench/net_user.py'

BENCH_NET_MIB sets the bytes sent each way (default 32 MiB). Needs the
virtio-net device and `--net` (issue 11) in kiln."""
import os
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KILN = os.path.join(ROOT, "build", "kiln")
KERNEL = os.path.join(ROOT, "build", "linux-small", "bzImage")
INITRD = os.path.join(ROOT, "build", "linux-guest", "initramfs.cpio.gz")
MIB = int(os.environ.get("BENCH_NET_MIB", "32"))
GUEST_PORT = 8080
TIMEOUT = 900

# Typed into the guest's shell (kiln.shell; the initramfs has no /tmp: made
# first); markers come from $M so the
# console's echo of a command never looks like its result.
GUEST_SCRIPT = """M=kiln-net
mkdir -p /tmp
printf '#!/bin/sh\\n[ "$1" = bound ] || exit 0\\nip addr add $ip/$mask dev $interface\\nip route add default via $router\\n' > /tmp/dhcp.sh
chmod +x /tmp/dhcp.sh
ip link set eth0 up
udhcpc -i eth0 -f -q -n -t 10 -s /tmp/dhcp.sh >/dev/null 2>&1
nc -l -p {guest_port} < /dev/null > /dev/null &
while ! cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -q ':{guest_hex} 0*:0000 0A'; do sleep 0.1; done
echo "$M: listening"
wait
echo "$M: received"
dd if=/dev/zero bs=65536 count={blocks} 2>/dev/null | nc 10.0.2.2 {sink_port}
echo "$M: sent"
poweroff -f
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    """Counts what the guest sends to 127.0.0.1 and times it, first byte
    to last; closes once it has all of it (busybox nc waits for that)."""

    def __init__(self, expected):
        self.expected, self.seconds = expected, None
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        conn, _ = self.listener.accept()
        with conn:
            got, start = 0, None
            while got < self.expected:
                chunk = conn.recv(1 << 20)
                if not chunk:
                    break
                start = start or time.monotonic()
                got += len(chunk)
            if got >= self.expected:
                self.seconds = time.monotonic() - start


def send_into_guest(port, nbytes):
    block = b"\0" * (1 << 20)
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    start = time.monotonic()
    for _ in range(nbytes // len(block)):
        s.sendall(block)
    s.close()
    return start


def vmm_argv(vmm, host_port):
    cmdline = "console=ttyS0 kiln.shell"
    if vmm == "kiln":
        return [KILN, "run", "--kernel", KERNEL, "--initrd", INITRD, "--memory", "256",
                "--cmdline", cmdline, "--net", f"user,hostfwd=tcp::{host_port}-:{GUEST_PORT}"]
    return ["qemu-system-x86_64", "-enable-kvm", "-cpu", "host", "-m", "256", "-display", "none",
            "-monitor", "none", "-serial", "stdio", "-no-reboot", "-kernel", KERNEL,
            "-initrd", INITRD, "-append", cmdline,
            "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{host_port}-:{GUEST_PORT}",
            "-device", "virtio-net-pci,netdev=n0"]


def run(vmm):
    nbytes = MIB << 20
    sink, host_port = Sink(nbytes), free_port()
    proc = subprocess.Popen(vmm_argv(vmm, host_port), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    timer = threading.Timer(TIMEOUT, proc.kill)
    timer.start()
    into_guest, started = None, None
    try:
        for line in proc.stdout:
            if "kiln.shell given" in line:
                proc.stdin.write(GUEST_SCRIPT.format(guest_port=GUEST_PORT,
                                                     guest_hex=f"{GUEST_PORT:04X}",
                                                     blocks=nbytes // 65536,
                                                     sink_port=sink.port))
                proc.stdin.flush()
            elif line.startswith("kiln-net: listening"):
                started = send_into_guest(host_port, nbytes)
            elif line.startswith("kiln-net: received") and started:
                into_guest = time.monotonic() - started
        proc.wait()
    finally:
        timer.cancel()
    if into_guest is None or sink.seconds is None:
        sys.exit(f"net_user: {vmm} did not finish (status {proc.returncode}):\n"
                 f"{proc.stderr.read()[-2000:]}")
    return {"host -> guest (forward)": MIB / into_guest, "guest -> host (10.0.2.2)":
            MIB / sink.seconds}


def main():
    subprocess.run(["ip", "link", "set", "lo", "up"], check=False)
    results = {vmm: run(vmm) for vmm in ("kiln", "qemu")}
    print(f"user-mode networking, TCP, {MIB} MiB each way (MiB/s; higher is better)")
    print(f"{'direction':28} {'kiln':>10} {'qemu':>10}")
    for direction in results["kiln"]:
        print(f"{direction:28} {results['kiln'][direction]:10.1f} "
              f"{results['qemu'][direction]:10.1f}")


if __name__ == "__main__":
    main()
