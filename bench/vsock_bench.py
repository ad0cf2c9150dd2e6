#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""vsock throughput, both directions, 64 KiB writes: kiln's virtio-vsock
(host side on Unix sockets) and QEMU's vhost-vsock-pci (host side AF_VSOCK
through the kernel's vhost_vsock), the same small kernel and vsock
initramfs (make linux-small linux-vsock: tests/linux/vsock_check.c in the
guest, in its fast mode: no per-byte pattern or checksum, as the host side
here makes none), beside a host AF_UNIX socket pair with the same host-side code (the
limit). BENCH_VSOCK_MIB per transfer (default 64), medians of BENCH_REPEATS
(default 3). Not a test; needs a KVM that runs a Linux userspace (on a PVM
host bench/bench.py runs it in scripts/nested-host.sh, where only the ratios
mean anything)."""
import os
import pathlib
import random
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import zlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
KERNEL = str(BUILD / "linux-small" / "bzImage")
INITRD = str(BUILD / "linux-vsock" / "initramfs.cpio.gz")
QEMU = shutil.which("qemu-system-x86_64")
MIB = int(os.environ.get("BENCH_VSOCK_MIB", "64"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
TOTAL = MIB << 20
CHUNK = 64 << 10
BLOCK = random.Random(1).randbytes(1 << 20)
TIMEOUT = 900


def send_all(sock):
    start = time.monotonic()
    for _ in range(TOTAL // len(BLOCK)):
        for off in range(0, len(BLOCK), CHUNK):
            sock.sendall(BLOCK[off:off + CHUNK])
    sock.close()
    return time.monotonic() - start


def receive_all(sock):
    got, start = 0, time.monotonic()
    while True:
        data = sock.recv(CHUNK)
        if not data:
            break
        got += len(data)
    sock.close()
    assert got == TOTAL, f"received {got} of {TOTAL} bytes"
    return time.monotonic() - start


def unix_pair():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("rx", receive_all(b)))
    t.start()
    send_all(a)
    t.join()
    return out["rx"], out["rx"]


def kiln_connect(path):
    """CONNECT 5000 on kiln's PATH until the guest listens."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(b"CONNECT 5000\n")
    line = b""
    while not line.endswith(b"\n"):
        c = s.recv(1)
        if not c:
            s.close()
            raise ConnectionRefusedError
        line += c
    return s


def vhost_connect(_):
    s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
    try:
        s.connect((3, 5000))
    except OSError:
        s.close()
        raise
    return s


def one_run(vmm, tmp):
    """host -> guest seconds, guest -> host seconds for one boot."""
    path = os.path.join(tmp, "v.sock")
    cmdline = f"console=ttyS0 quiet kiln.vsock_bytes={TOTAL} kiln.vsock_fast"
    if vmm == "kiln":
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(f"{path}_6000")
        argv = [str(BUILD / "kiln"), "run", "--kernel", KERNEL, "--initrd", INITRD,
                "--memory", "256", "--cpus", "2", "--cmdline", cmdline,
                "--vsock", f"cid=3,socket={path}"]
        connect = kiln_connect
    else:
        listener = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
        listener.bind((socket.VMADDR_CID_ANY, 6000))
        argv = [QEMU, "-accel", "kvm", "-M", "pc", "-m", "256", "-smp", "2", "-kernel", KERNEL,
                "-initrd", INITRD, "-append", cmdline, "-display", "none", "-nodefaults",
                "-serial", "stdio", "-no-reboot", "-device", "vhost-vsock-pci,guest-cid=3"]
        connect = vhost_connect
    listener.listen(1)
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                s = connect(path)
                break
            except (ConnectionRefusedError, ConnectionResetError, FileNotFoundError, OSError):
                assert time.monotonic() < deadline and proc.poll() is None, f"{vmm}: no guest"
                time.sleep(0.2)
        to_guest = send_all(s)
        conn, _ = listener.accept()
        from_guest = receive_all(conn)
        proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
        listener.close()
        for p in (path, f"{path}_6000"):
            if os.path.exists(p):
                os.unlink(p)
    return to_guest, from_guest


def median_rates(run):
    samples = [run() for _ in range(REPEATS)]
    return [MIB / statistics.median(s[i] for s in samples) for i in range(2)]


def main():
    with tempfile.TemporaryDirectory(dir=os.environ.get("NESTED_SCRATCH")) as tmp:
        rates = {"AF_UNIX pair": median_rates(unix_pair),
                 "kiln virtio-vsock": median_rates(lambda: one_run("kiln", tmp))}
        if QEMU and os.path.exists("/dev/vhost-vsock"):
            rates["QEMU vhost-vsock-pci"] = median_rates(lambda: one_run("qemu", tmp))
    unix = rates["AF_UNIX pair"]
    print(f"\nvsock throughput, {MIB} MiB each way with 64 KiB writes, median of {REPEATS} "
          "(MB/s here are on this host's CPU; the ratios are what carries over)")
    print(f"| path | host->guest MiB/s | guest->host MiB/s | vs AF_UNIX h->g | vs AF_UNIX g->h |")
    print("| --- | --- | --- | --- | --- |")
    for name, (h2g, g2h) in rates.items():
        print(f"| {name} | {h2g:.1f} | {g2h:.1f} | {h2g / unix[0]:.2f}x | {g2h / unix[1]:.2f}x |")
    if "QEMU vhost-vsock-pci" in rates:
        q, k = rates["QEMU vhost-vsock-pci"], rates["kiln virtio-vsock"]
        print(f"kiln / QEMU vhost-vsock: host->guest {k[0] / q[0]:.2f}x, "
              f"guest->host {k[1] / q[1]:.2f}x")
    else:
        print("QEMU vhost-vsock-pci: not measured (no qemu-system-x86_64 or /dev/vhost-vsock)")


if __name__ == "__main__":
    main()
