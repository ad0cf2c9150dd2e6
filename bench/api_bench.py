#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The management API's costs, beside the command line's (not a test):

1. Boot through the API: from sending InstanceStart to the guest's first
   serial byte and to its ready line, beside the same machine started from
   the command line (exec to first byte and to ready). The small kernel and
   the default guest's initramfs, 256 MiB, 1 vCPU.
2. Pause and resume latency (request sent to answer received) with both
   vCPUs of a 2-vCPU guest spinning.
3. API round trip of GET / (a running machine), median of many.

Needs KVM: bench/bench.py runs it on the nested AMD-V host where this host
has none. Medians of BENCH_REPEATS runs."""
import os
import pathlib
import select
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "api")]

from guest_rootfs import KERNEL, make_rootfs  # noqa: E402
from kiln_api import Kiln, request, wait_for_socket  # noqa: E402

BUILD = ROOT / "build"
KILN = str(BUILD / "kiln")
INITRD = str(BUILD / "linux-guest" / "initramfs.cpio.gz")
REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
CMDLINE = "console=ttyS0 quiet"
TIMEOUT = 300


def watch(proc, start):
    """Seconds from start to the first byte and to the ready line."""
    first = ready = None
    seen = b""
    while time.perf_counter() - start < TIMEOUT and ready is None:
        r, _, _ = select.select([proc.stdout], [], [], 1)
        if not r:
            continue
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        if first is None:
            first = time.perf_counter() - start
        seen += chunk
        if b"kiln-guest: ready" in seen:
            ready = time.perf_counter() - start
    proc.kill()
    proc.wait()
    return first, ready


def cli_boot():
    start = time.perf_counter()
    proc = subprocess.Popen([KILN, "run", "--kernel", str(KERNEL), "--initrd", INITRD,
                             "--memory", "256", "--cmdline", CMDLINE],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    return watch(proc, start)


def api_boot(tmp):
    sock = tmp / f"boot-{time.monotonic_ns()}.sock"
    proc = subprocess.Popen([KILN, "run", "--api-sock", str(sock)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    wait_for_socket(sock, proc)
    request(sock, "PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 256})
    request(sock, "PUT", "/boot-source", {"kernel_image_path": str(KERNEL),
                                          "initrd_path": INITRD, "boot_args": CMDLINE})
    start = time.perf_counter()
    status, body = request(sock, "PUT", "/actions", {"action_type": "InstanceStart"})
    if status != 204:
        proc.kill()
        proc.wait()
        raise SystemExit(f"api_bench: InstanceStart answered {status}: {body}")
    return watch(proc, start)


def ms(values):
    values = [v for v in values if v is not None]
    return f"{statistics.median(values) * 1000:.1f}" if values else "-"


def table(title, header, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    print(f"\n{title}")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("| " + " | ".join("-" * w for w in widths) + " |")
    for row in rows:
        print("| " + " | ".join(str(x).ljust(w) for x, w in zip(row, widths)) + " |")


def timed(sock, method, path, body=None):
    start = time.perf_counter()
    status, _ = request(sock, method, path, body)
    assert status in (200, 204), (method, path, status)
    return time.perf_counter() - start


def lifecycle(tmp):
    rootfs = make_rootfs(tmp)
    sock = tmp / "spin.sock"
    kiln = Kiln(["run", "--api-sock", str(sock)])
    try:
        wait_for_socket(sock, kiln.proc)
        request(sock, "PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 256})
        request(sock, "PUT", "/boot-source", {"kernel_image_path": str(KERNEL),
                                              "boot_args": "console=ttyS0 quiet kiln.spin"})
        request(sock, "PUT", "/drives/rootfs", {"drive_id": "rootfs",
                                                "path_on_host": str(rootfs),
                                                "is_root_device": True})
        request(sock, "PUT", "/actions", {"action_type": "InstanceStart"})
        kiln.wait_line("kiln-guest: spinning", TIMEOUT)
        pauses, resumes = [], []
        for _ in range(20 * REPEATS):
            pauses.append(timed(sock, "PATCH", "/vm", {"state": "Paused"}))
            resumes.append(timed(sock, "PATCH", "/vm", {"state": "Resumed"}))
            time.sleep(0.01)
        gets = [timed(sock, "GET", "/") for _ in range(200 * REPEATS)]
    finally:
        kiln.kill()
    return pauses, resumes, gets


def main():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="kiln-api-bench-"))
    cli = [cli_boot() for _ in range(REPEATS)]
    api = [api_boot(tmp) for _ in range(REPEATS)]
    table(f"Boot through the API vs the command line (small kernel + initramfs, 256 MiB, "
          f"1 vCPU; median of {REPEATS})",
          ["started by", "to first serial byte ms", "to ready line ms"],
          [["command line (from exec)", ms([f for f, _ in cli]), ms([r for _, r in cli])],
           ["API (from InstanceStart sent)", ms([f for f, _ in api]), ms([r for _, r in api])]])
    pauses, resumes, gets = lifecycle(tmp)
    table(f"Lifecycle and API latency (2 vCPUs spinning; {len(pauses)} pause/resume pairs, "
          f"{len(gets)} GET /)",
          ["request", "median ms", "max ms"],
          [["PATCH /vm Paused", ms(pauses), f"{max(pauses) * 1000:.1f}"],
           ["PATCH /vm Resumed", ms(resumes), f"{max(resumes) * 1000:.1f}"],
           ["GET / (round trip)", ms(gets), f"{max(gets) * 1000:.1f}"]])


if __name__ == "__main__":
    main()
