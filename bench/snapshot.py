#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Snapshots' costs (not a test), with the snapshot_count test guest
(guest/tests/snapshot_count.c), which writes one word into each page of
half its RAM at boot (fill=) and then prints a tick line a few times a
second:

1. Restore beside a cold boot of the same machine, 256 MiB and 2 GiB: exec
   to the first tick line (the guest running its loop), median of
   BENCH_REPEATS. A restored guest first finishes the tick it was in
   (hashing 256 KiB: about 200 ms at CPL0 on a PVM host), which the restore
   column includes.
2. Snapshot creation (request sent to answer) and the files' sizes (bytes
   on disk: the memory file is sparse), Full, and Diff after a second of
   running on a copy of the Full one.
3. Memory of 1, 4 and 8 clones of one snapshot: summed RSS and summed
   private dirty memory (/proc/PID/smaps_rollup).

The issue also asks for the time to an answer over vsock: that needs the
devices' save/load hooks (vsock's above all) and a guest with a vsock
driver that runs here, so it is left to the Linux benchmark on the nested
host. Needs /dev/kvm (PVM is fine: no Linux userspace)."""
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "api")]

from kiln_api import Kiln, request  # noqa: E402

GUEST = str(ROOT / "build" / "guest" / "snapshot_count.elf")
KILN = str(ROOT / "build" / "kiln")
REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))


def fill_mib(memory):
    return memory // 2


def to_first_tick(argv):
    """Seconds from exec to the first tick line."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    try:
        for line in proc.stdout:
            if line.startswith(b"tick="):
                return time.perf_counter() - start
        raise RuntimeError(f"no tick line from {argv}")
    finally:
        proc.kill()
        proc.wait()


def cold_argv(memory):
    return [KILN, "run", "--kernel", GUEST, "--memory", str(memory), "--cmdline",
            f"fill={fill_mib(memory)}"]


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def make_snapshots(work, memory):
    """Full and Diff snapshots of a running guest: (state, mem, rows)."""
    sock = str(work / f"api-{memory}.sock")
    vm = Kiln(cold_argv(memory)[1:] + ["--api-sock", sock])
    full_state, full_mem = work / f"full-{memory}", work / f"full-{memory}.mem"
    try:
        vm.wait_line(r"^tick=2 ", 300)
        assert request(sock, "PATCH", "/vm", {"state": "Paused"})[0] == 204
        full_s, reply = timed(lambda: request(sock, "PUT", "/snapshot/create", {
            "snapshot_path": str(full_state), "mem_file_path": str(full_mem)}))
        assert reply[0] == 204, reply
        rows = [[f"{memory} MiB", "Full", f"{full_s * 1000:.1f}", on_disk(full_state),
                 on_disk(full_mem)]]
    finally:
        vm.kill()
    rows += diff_rows(work, memory)
    return full_state, full_mem, rows


def diff_rows(work, memory):
    """A machine started with track_dirty_pages: Full, a second's run, Diff."""
    sock = str(work / f"dirty-{memory}.sock")
    vm = Kiln(["run", "--api-sock", sock])
    base_state, base_mem = work / f"base-{memory}", work / f"base-{memory}.mem"
    diff_state, diff_mem = work / f"d-{memory}", work / f"d-{memory}.mem"
    try:
        for _ in range(400):
            if os.path.exists(sock):
                break
            time.sleep(0.025)
        assert request(sock, "PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": memory,
                                                         "track_dirty_pages": True})[0] == 204
        assert request(sock, "PUT", "/boot-source", {"kernel_image_path": GUEST, "boot_args":
                                                     f"fill={fill_mib(memory)}"})[0] == 204
        assert request(sock, "PUT", "/actions", {"action_type": "InstanceStart"})[0] == 204
        vm.wait_line(r"^tick=2 ", 300)
        assert request(sock, "PATCH", "/vm", {"state": "Paused"})[0] == 204
        full_s, reply = timed(lambda: request(sock, "PUT", "/snapshot/create", {
            "snapshot_path": str(base_state), "mem_file_path": str(base_mem)}))
        assert reply[0] == 204, reply
        # A sparse copy, as a user would make it (cp --sparse=always).
        subprocess.run(["cp", "--sparse=always", str(base_mem), str(diff_mem)], check=True)
        assert request(sock, "PATCH", "/vm", {"state": "Resumed"})[0] == 204
        time.sleep(1)
        assert request(sock, "PATCH", "/vm", {"state": "Paused"})[0] == 204
        diff_s, reply = timed(lambda: request(sock, "PUT", "/snapshot/create", {
            "snapshot_type": "Diff", "snapshot_path": str(diff_state),
            "mem_file_path": str(diff_mem)}))
        assert reply[0] == 204, reply
        fresh = work / f"fresh-{memory}.mem"
        fresh_s, reply = timed(lambda: request(sock, "PUT", "/snapshot/create", {
            "snapshot_type": "Diff", "snapshot_path": str(work / "x"),
            "mem_file_path": str(fresh)}))
    finally:
        vm.kill()
    return [[f"{memory} MiB", "Full (dirty tracking on)", f"{full_s * 1000:.1f}",
             on_disk(base_state), on_disk(base_mem)],
            [f"{memory} MiB", "Diff after 1 s, onto the Full copy", f"{diff_s * 1000:.1f}",
             on_disk(diff_state), on_disk(diff_mem)],
            [f"{memory} MiB", "Diff right after it, into a new file", f"{fresh_s * 1000:.1f}",
             on_disk(work / "x"), on_disk(fresh)]]


def on_disk(path):
    st = os.stat(path)
    return f"{st.st_blocks * 512 // 1024} KiB"


def rollup(pid):
    values = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                values[parts[0].rstrip(":")] = int(parts[1])
    return values


def clones(state, mem, count):
    procs = [Kiln(["run", "--restore", f"{state},mem={mem}"]) for _ in range(count)]
    try:
        for p in procs:
            p.wait_line(r"^tick=", 300)
        stats = [rollup(p.proc.pid) for p in procs]
    finally:
        for p in procs:
            p.kill()
    return sum(s["Rss"] for s in stats), sum(s["Private_Dirty"] for s in stats)


def table(title, header, rows):
    print(f"\n{title}")
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    for r in [header] + rows:
        print("  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths)))


def main():
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP", "/var/tmp")) as tmp:
        work = pathlib.Path(tmp)
        restore_rows, create_rows, snaps = [], [], {}
        for memory in (256, 2048):
            state, mem, rows = make_snapshots(work, memory)
            snaps[memory] = (state, mem)
            create_rows += rows
            cold = statistics.median(to_first_tick(cold_argv(memory)) for _ in range(REPEATS))
            warm = statistics.median(to_first_tick([KILN, "run", "--restore", f"{state},mem={mem}"])
                                     for _ in range(REPEATS))
            restore_rows.append([f"{memory} MiB (fill {fill_mib(memory)} MiB)",
                                 f"{cold * 1000:.1f}", f"{warm * 1000:.1f}",
                                 f"{cold / warm:.1f}x"])
        table("Restore beside a cold boot (snapshot_count.elf; exec to the first tick line, "
              f"median of {REPEATS})", ["guest", "cold boot ms", "restore ms", "speed-up"],
              restore_rows)
        table("Snapshot creation (request to answer) and file sizes on disk",
              ["guest", "snapshot", "ms", "state file", "memory file"], create_rows)
        state, mem = snaps[256]
        rows = []
        for count in (1, 4, 8):
            rss, dirty = clones(state, mem, count)
            rows.append([count, rss, dirty, dirty // count])
        table("Clones of one 256 MiB snapshot (fill 128 MiB), running",
              ["clones", "summed RSS KiB", "summed private dirty KiB", "private dirty each KiB"],
              rows)


if __name__ == "__main__":
    main()
