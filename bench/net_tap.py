# SPDX-License-Identifier: MIT
"""virtio-net over a tap: kiln's `--net tap=NAME` beside QEMU's
`-netdev tap,ifname=NAME,script=no,downscript=no` with vhost=off (QEMU's own
userspace device, the goal's reference) and vhost=on (the kernel's vhost_net),
each a virtio-net device on the same small kernel and initramfs and the same
tap, in one run: TCP throughput from a host program into the guest, and from
the guest to a host sink. Needs root, for its own network namespace (no
interface outside it is touched) and the tap:

    make -s all linux-guest linux-small
    bash scripts/nested-host.sh 'unshare --net /usr/bin/python3 bench/net_tap.py'

(bench/bench.py runs it so with the Linux benches). BENCH_NET_MIB sets the
bytes each way (default 64 MiB); on the nested host only the ratios mean
anything."""
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KILN = os.path.join(ROOT, "build", "kiln")
KERNEL = os.path.join(ROOT, "build", "linux-small", "bzImage")
INITRD = os.path.join(ROOT, "build", "linux-guest", "initramfs.cpio.gz")
MIB = int(os.environ.get("BENCH_NET_MIB", "64"))
TAP = "kilnbench0"
HOST_ADDR = "10.2.0.1"
GUEST_ADDR = "10.2.0.2"
GUEST_PORT = 8080
TIMEOUT = 900
VMMS = ("kiln", "QEMU vhost=off", "QEMU vhost=on")

# Typed into the guest's shell (kiln.shell); markers come from $M so the
# console's echo of a command never looks like its result.
GUEST_SCRIPT = """M=kiln-net
ip link set eth0 up
ip addr add {guest}/24 dev eth0
nc -l -p {guest_port} < /dev/null > /dev/null &
while ! cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -q ':{guest_hex} 0*:0000 0A'; do sleep 0.1; done
echo "$M: listening"
wait
echo "$M: received"
dd if=/dev/zero bs=65536 count={blocks} 2>/dev/null | nc {host} {sink_port}
echo "$M: sent"
poweroff -f
"""


def make_tap():
    for argv in (["ip", "link", "set", "lo", "up"],
                 ["ip", "tuntap", "add", "dev", TAP, "mode", "tap"],
                 ["ip", "addr", "add", f"{HOST_ADDR}/24", "dev", TAP],
                 ["ip", "link", "set", TAP, "up"]):
        subprocess.run(argv, check=True)


class Sink:
    """Counts what the guest sends and times it, first byte to last; closes
    once it has all of it (busybox nc waits for that)."""

    def __init__(self, expected):
        self.expected, self.seconds = expected, None
        self.listener = socket.create_server((HOST_ADDR, 0))
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
        self.listener.close()


def send_into_guest(nbytes):
    block = b"\0" * (1 << 20)
    s = socket.create_connection((GUEST_ADDR, GUEST_PORT), timeout=TIMEOUT)
    start = time.monotonic()
    for _ in range(nbytes // len(block)):
        s.sendall(block)
    s.close()
    return start


def vmm_argv(vmm):
    cmdline = "console=ttyS0 kiln.shell"
    if vmm == "kiln":
        return [KILN, "run", "--kernel", KERNEL, "--initrd", INITRD, "--memory", "256",
                "--cmdline", cmdline, "--net", f"tap={TAP}"]
    vhost = vmm.split("=")[1]
    return ["qemu-system-x86_64", "-enable-kvm", "-cpu", "host", "-m", "256", "-display", "none",
            "-monitor", "none", "-serial", "stdio", "-no-reboot", "-kernel", KERNEL,
            "-initrd", INITRD, "-append", cmdline,
            "-netdev", f"tap,id=n0,ifname={TAP},script=no,downscript=no,vhost={vhost}",
            "-device", "virtio-net-pci,netdev=n0"]


def run(vmm):
    """MiB/s into the guest and out of it, for one boot."""
    nbytes = MIB << 20
    sink = Sink(nbytes)
    proc = subprocess.Popen(vmm_argv(vmm), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, bufsize=1)
    timer = threading.Timer(TIMEOUT, proc.kill)
    timer.start()
    into_guest, started = None, None
    try:
        for line in proc.stdout:
            if "kiln.shell given" in line:
                proc.stdin.write(GUEST_SCRIPT.format(
                    guest=GUEST_ADDR, host=HOST_ADDR, guest_port=GUEST_PORT,
                    guest_hex=f"{GUEST_PORT:04X}", blocks=nbytes // 65536, sink_port=sink.port))
                proc.stdin.flush()
            elif line.startswith("kiln-net: listening"):
                started = send_into_guest(nbytes)
            elif line.startswith("kiln-net: received") and started:
                into_guest = time.monotonic() - started
        proc.wait()
    finally:
        timer.cancel()
    if into_guest is None or sink.seconds is None:
        sys.exit(f"net_tap: {vmm} did not finish (status {proc.returncode}):\n"
                 f"{proc.stderr.read()[-2000:]}")
    return MIB / into_guest, MIB / sink.seconds


def main():
    make_tap()
    vmms = VMMS if shutil.which("qemu-system-x86_64") else VMMS[:1]
    rates = {vmm: run(vmm) for vmm in vmms}
    print(f"\nvirtio-net over a tap, TCP, {MIB} MiB each way (MiB/s; higher is better)")
    print("| VMM | host->guest MiB/s | guest->host MiB/s | kiln / it, h->g | kiln / it, g->h |")
    print("| --- | --- | --- | --- | --- |")
    kiln = rates["kiln"]
    for vmm, (h2g, g2h) in rates.items():
        print(f"| {vmm} | {h2g:.1f} | {g2h:.1f} | {kiln[0] / h2g:.2f}x | {kiln[1] / g2h:.2f}x |")
    if len(rates) == 1:
        print("QEMU: not measured (no qemu-system-x86_64)")


if __name__ == "__main__":
    main()
