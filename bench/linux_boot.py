#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Linux boot time: kiln's small kernel (make linux-small) and Debian's stock
cloud kernel (make linux-guest), both with the default guest's initramfs,
from exec to the initramfs's "kiln-guest: ready" line and to the VMM's exit
after power-off, under kiln and under QEMU on the same host, as bzImage and
as PVH vmlinux. Medians of BENCH_REPEATS runs. BENCH_LINUX_KERNELS picks the
kernels (default "small,stock").

Then one boot of the stock bzImage per VMM without "quiet", printing the
kernel's rtc_cmos lines with their timestamps: the probe that timed out for
3 s when kiln had no CMOS RTC.

Not a test. On a PVM host a Linux userspace is not reachable yet (README),
so bench/bench.py runs this inside scripts/nested-host.sh there."""
import os
import pathlib
import re
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
KERNEL_DIRS = {"small": BUILD / "linux-small", "stock": BUILD / "linux-guest"}
KERNELS = [k for k in os.environ.get("BENCH_LINUX_KERNELS", "small,stock").split(",") if k]


def argv_for(vmm, kernel, cmdline="console=ttyS0 quiet"):
    if vmm == "kiln":
        return [KILN, "run", "--kernel", kernel, "--initrd", INITRD, "--memory", "256",
                "--cmdline", cmdline]
    return [QEMU, "-accel", "kvm", "-M", "pc", "-m", "256", "-kernel", kernel, "-initrd", INITRD,
            "-append", cmdline, "-serial", "stdio", "-display", "none", "-nodefaults",
            "-no-reboot"]


def one_boot(argv, output=None):
    """Seconds from exec to the ready line and to exit (None if not reached);
    the console output goes into the list output when given."""
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
    if output is not None:
        output.append(seen.decode(errors="replace"))
    return ready, done


def median(values):
    values = [v for v in values if v is not None]
    return f"{statistics.median(values) * 1000:.0f}" if values else "-"


def boot_table():
    rows = []
    for name in KERNELS:
        for image in ("bzImage", "vmlinux"):
            kernel = str(KERNEL_DIRS[name] / image)
            for vmm in ("kiln", "qemu"):
                if vmm == "qemu" and not QEMU:
                    continue
                runs = [one_boot(argv_for(vmm, kernel)) for _ in range(REPEATS)]
                rows.append([name, image, vmm, median([r for r, _ in runs]),
                             median([d for _, d in runs]),
                             f"{sum(r is not None for r, _ in runs)}/{REPEATS}"])
    header = ["kernel", "image", "VMM", "exec to ready ms", "exec to exit ms", "reached ready"]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    print(f"Linux boot (small: make linux-small; stock: Debian's cloud kernel), 256 MiB, "
          f"1 vCPU, median of {REPEATS}")
    for row in [header] + rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths)))


def rtc_probe_lines():
    """The stock kernel's rtc_cmos lines under each VMM, from a boot without quiet."""
    kernel = str(KERNEL_DIRS["stock"] / "bzImage")
    for vmm in ("kiln", "qemu"):
        if vmm == "qemu" and not QEMU:
            continue
        output = []
        ready, _ = one_boot(argv_for(vmm, kernel, "console=ttyS0"), output)
        lines = [l.strip() for l in output[0].splitlines() if re.search(r"rtc_cmos|rtc0", l)]
        print(f"stock bzImage under {vmm} (no quiet), ready after "
              f"{'-' if ready is None else f'{ready:.1f} s'}; its RTC lines:")
        for line in lines or ["(none)"]:
            print(f"  {line}")


def main():
    boot_table()
    if "stock" in KERNELS:
        print()
        rtc_probe_lines()


if __name__ == "__main__":
    main()
