#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Linux boot time: kiln's small kernel (make linux-small) with the default
guest's initramfs, from exec to the initramfs's "kiln-guest: ready" line and
to the VMM's exit after power-off, under kiln and under QEMU on the same
host, as bzImage and as PVH vmlinux. Medians of BENCH_REPEATS runs.

Not a test. On a PVM host a Linux userspace is not reachable yet (README),
so bench/bench.py runs this inside scripts/nested-host.sh there."""
import os
import pathlib
import select
import shutil
import statistics
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
KILN = str(BUILD / "kiln")
QEMU = shutil.which("qemu-system-x86_64")
INITRD = str(BUILD / "linux-guest" / "initramfs.cpio.gz")
REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
TIMEOUT = 300


def argv_for(vmm, kernel):
    cmdline = "console=ttyS0 quiet"
    if vmm == "kiln":
        return [KILN, "run", "--kernel", kernel, "--initrd", INITRD, "--memory", "256",
                "--cmdline", cmdline]
    return [QEMU, "-accel", "kvm", "-M", "pc", "-m", "256", "-kernel", kernel, "-initrd", INITRD,
            "-append", cmdline, "-serial", "stdio", "-display", "none", "-nodefaults",
            "-no-reboot"]


def one_boot(argv):
    """Seconds from exec to the ready line and to exit (None if not reached)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    ready, seen = None, b""
    while time.perf_counter() - start < TIMEOUT:
        r, _, _ = select.select([proc.stdout], [], [], 1)
        if not r:
            continue
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        seen += chunk
        if ready is None and b"kiln-guest: ready" in seen:
            ready = time.perf_counter() - start
    try:
        proc.wait(timeout=max(1, TIMEOUT - (time.perf_counter() - start)))
        done = time.perf_counter() - start
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        done = None
    return ready, done


def median(values):
    values = [v for v in values if v is not None]
    return f"{statistics.median(values) * 1000:.0f}" if values else "-"


def main():
    rows = []
    for image in ("bzImage", "vmlinux"):
        kernel = str(BUILD / "linux-small" / image)
        for vmm in ("kiln", "qemu"):
            if vmm == "qemu" and not QEMU:
                continue
            runs = [one_boot(argv_for(vmm, kernel)) for _ in range(REPEATS)]
            rows.append([image, vmm, median([r for r, _ in runs]), median([d for _, d in runs]),
                         f"{sum(r is not None for r, _ in runs)}/{REPEATS}"])
    header = ["kernel", "VMM", "exec to ready ms", "exec to exit ms", "reached ready"]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    print(f"Linux small kernel boot, 256 MiB, 1 vCPU, median of {REPEATS}")
    for row in [header] + rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths)))


if __name__ == "__main__":
    main()
