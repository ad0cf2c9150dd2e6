#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kiln's benchmarks, printed as tables next to their references:

1. PIO exit round trip from a CPL3 guest loop: kiln, a bare KVM_RUN loop on
   the same machine (bench/raw_kvm_run.c), and QEMU running the same guest.
   Per-exit cost = (time for N2 exits - time for N1 exits) / (N2 - N1), so
   start-up cancels out.
2. Start-up: exec to the guest's first output byte, and to exit.
3. kiln's resident memory beyond guest RAM.
4. virtio-blk throughput (host fio, the harness, the CPL3 guest driver), on
   a file on the disk and on one in RAM (where the CPU is the limit).
5. Linux boot time of the small kernel and Debian's stock cloud kernel, kiln
   and QEMU (bench/linux_boot.py).
6. The management API: boot through InstanceStart beside the command line,
   pause/resume latency under load, GET / round trip (bench/api_bench.py).
7. Snapshots: restore beside a cold boot, creation time and file sizes,
   memory of clones (bench/snapshot.py, with a test guest).

On a machine without /dev/kvm, 4's host columns are measured here and 1-4
again on the nested AMD-V host (`bench.py --vm` in scripts/nested-host.sh),
whose fio and harness columns are its own.

Not a test: nothing here passes or fails. Targets (issue 2): exit round trip
<= 1.05x the raw loop; start-up well under QEMU's; under 2 MiB RSS overhead.
"""
import os
import pathlib
import shlex
import shutil
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
KILN = str(BUILD / "kiln")
RAW = str(BUILD / "bench" / "raw-kvm-run")
QEMU = shutil.which("qemu-system-x86_64")
PIO = str(BUILD / "guest" / "pio.elf")
REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
N1, N2 = 1000, int(os.environ.get("BENCH_EXITS", "20000"))


def argv_for(vmm, guest, cmdline, memory=256):
    if vmm == "kiln":
        return [KILN, "run", "--kernel", guest, "--memory", str(memory), "--debug-exit",
                "--console", "none", "--cmdline", cmdline]
    if vmm == "raw":
        return [RAW, guest, cmdline]
    return [QEMU, "-accel", "kvm", "-M", "pc", "-m", str(memory), "-kernel", guest,
            "-append", cmdline, "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
            "-display", "none", "-nodefaults", "-no-reboot"]


def wall(argv):
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def exit_cost_us(vmm):
    small = [wall(argv_for(vmm, PIO, f"iterations={N1}")) for _ in range(REPEATS)]
    large = [wall(argv_for(vmm, PIO, f"iterations={N2}")) for _ in range(REPEATS)]
    return (statistics.median(large) - statistics.median(small)) / (N2 - N1) * 1e6


def startup_ms(vmm):
    """Median time from exec to the first byte on the guest's serial
    console, and to the process's exit."""
    first, done = [], []
    for _ in range(REPEATS):
        argv = argv_for(vmm, PIO, "iterations=1")
        if vmm == "kiln":
            argv[argv.index("none")] = "serial"
        else:
            argv += ["-serial", "stdio"]
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                stdin=subprocess.DEVNULL)
        proc.stdout.read(1)
        first.append(time.perf_counter() - start)
        proc.stdout.read()
        proc.wait()
        done.append(time.perf_counter() - start)
    return statistics.median(first) * 1e3, statistics.median(done) * 1e3


def rss_overhead_kib(argv, guest_ram_bytes):
    """Resident KiB outside the guest-RAM mapping, read from smaps while the
    guest sits halted."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    time.sleep(1.0)
    total = guest = 0
    current_size = 0
    with open(f"/proc/{proc.pid}/smaps") as f:
        for line in f:
            if "-" in line.split()[0] and not line.startswith(("Rss", "Size")):
                lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                current_size = hi - lo
            elif line.startswith("Rss:"):
                kib = int(line.split()[1])
                total += kib
                if current_size >= guest_ram_bytes:
                    guest += kib
    proc.terminate()
    proc.wait()
    return total, total - guest


def hang_guest():
    sys.path.insert(0, str(ROOT / "tests" / "cli"))
    import tinyguest
    path = BUILD / "bench" / "hang.elf"
    path.parent.mkdir(parents=True, exist_ok=True)
    return tinyguest.write(path, "", "hang")


def table(title, header, rows):
    print(f"\n{title}")
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    for r in [header, ["-" * w for w in widths]] + rows:
        print("  " + "  ".join(str(c).rjust(w) if i else str(c).ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths))))


def main():
    if "--vm" in sys.argv[1:]:
        vm_sections()
        return
    if os.path.exists("/dev/kvm"):
        vm_sections()
    else:
        # Nothing here passes or fails, but the tables must say where they ran.
        print("This machine has no /dev/kvm: the host-side block figures are measured here; "
              "every figure that runs a VM comes from the nested AMD-V host "
              "(scripts/nested-host.sh, QEMU TCG), where both VMMs run on an emulated CPU "
              "and only ratios within its tables mean anything (its fio and harness "
              "columns are the nested host's own, on its emulated CPU and virtual disk).")
        blk_table(guest_columns=False)
        on_nested_host("/usr/bin/python3 bench/bench.py --vm")
    linux_boot()


def on_nested_host(command):
    """Runs command on the nested AMD-V host with this run's BENCH_* settings."""
    settings = " ".join(f"{k}={shlex.quote(v)}" for k, v in os.environ.items()
                        if k.startswith("BENCH_"))
    subprocess.run(["bash", "scripts/nested-host.sh", f"{settings} {command}".strip()],
                   cwd=ROOT, check=False)


def vm_sections():
    """Everything that runs a VM: exit cost, start-up, memory, and the block
    table with the guest driver beside this machine's fio and harness."""
    vmms = ["kiln", "raw"] + (["qemu"] if QEMU else [])
    print(f"kiln benchmarks on {os.uname().nodename}: {os.cpu_count()} CPUs; "
          f"backend {subprocess.run([KILN, 'info'], capture_output=True, text=True).stdout.split('backend: ')[1].split()[0]}; "
          f"{REPEATS} runs each, medians")

    costs = {v: exit_cost_us(v) for v in vmms}
    table(f"PIO exit round trip from CPL3 ({N2 - N1} exits, pio.elf)",
          ["VMM", "us/exit", "vs raw KVM_RUN"],
          [[{"kiln": "kiln", "raw": "raw KVM_RUN loop", "qemu": "QEMU (KVM)"}[v],
            f"{costs[v]:.2f}", f"{costs[v] / costs['raw']:.3f}x"] for v in vmms])

    starts = {v: startup_ms(v) for v in vmms if v != "raw"}
    table("Start-up (pio.elf, iterations=1)", ["VMM", "exec->first output ms", "exec->exit ms"],
          [[v, f"{starts[v][0]:.1f}", f"{starts[v][1]:.1f}"] for v in starts])

    hang = hang_guest()
    rows = []
    total, extra = rss_overhead_kib([KILN, "run", "--kernel", hang, "--memory", "256",
                                     "--console", "none"], 256 << 20)
    rows.append(["kiln", total, extra])
    if QEMU:
        total, extra = rss_overhead_kib(argv_for("qemu", hang, "") + ["-serial", "none"],
                                        256 << 20)
        rows.append(["QEMU (KVM)", total, extra])
    table("Resident memory, 256 MiB guest halted after boot",
          ["VMM", "RSS KiB", "beyond guest RAM KiB"], rows)
    blk_table(guest_columns=True)
    subprocess.run([sys.executable, str(ROOT / "bench" / "snapshot.py")], check=False)


def linux_boot():
    """bench/linux_boot.py and bench/api_bench.py here, or on the nested
    AMD-V host where this host cannot run a Linux userspace (PVM, or no KVM)."""
    subprocess.run(["make", "-s", "linux-guest", "linux-small"], cwd=ROOT, check=True)
    subprocess.run(["make", "-s", "linux-vsock"], cwd=ROOT, check=True)
    # bench/net_tap.py makes its tap in a network namespace of its own.
    script = ("/usr/bin/python3 bench/linux_boot.py; /usr/bin/python3 bench/api_bench.py; "
              "/usr/bin/python3 bench/vsock_bench.py; /usr/bin/python3 bench/net_user.py; "
              "unshare --net /usr/bin/python3 bench/net_tap.py")
    print()
    if os.path.exists("/sys/module/kvm_pvm") or not os.path.exists("/dev/kvm"):
        print("This host cannot run a Linux userspace (PVM or no KVM: see README); "
              "on the nested AMD-V host (scripts/nested-host.sh, QEMU TCG), so both VMMs "
              "run on an emulated CPU:")
        on_nested_host(script)
    else:
        subprocess.run(["bash", "-c", script], cwd=ROOT, check=False)


BLK_HARNESS = str(BUILD / "bench" / "blk-harness")
# The same 1 GiB raw file twice: on the disk (the machine's real limit), and
# in RAM (tmpfs, O_DIRECT since Linux 6.6), where the limit is the CPU, so
# that going from 1 to 2 queues shows what the device can do when the disk
# does not hold it back.
BLK_FILES = [
    ("disk", pathlib.Path(os.environ.get("BENCH_DISK", "/var/tmp/kiln-bench.img"))),
    ("RAM", pathlib.Path(os.environ.get("BENCH_RAM_DISK", "/dev/shm/kiln-bench.img"))),
]
BLK_SECONDS = os.environ.get("BENCH_BLK_SECONDS", "5")
# kiln's workers busy-poll up to this many microseconds (--disk ...,poll=US).
BLK_POLL_US = os.environ.get("BENCH_POLL_US", "0")
BLK_CASES = [  # (label, harness mode, fio rw, block, depth, queues)
    ("4k randread QD1", "randread", "randread", "4096", "1", "1"),
    ("4k randread QD32", "randread", "randread", "4096", "32", "1"),
    ("4k randread QD32 x2q", "randread", "randread", "4096", "32", "2"),
    ("128k seq read QD8", "seqread", "read", "131072", "8", "1"),
    ("128k seq write QD8", "seqwrite", "write", "131072", "8", "1"),
]


def supports_direct_io(directory):
    import tempfile
    try:
        fd, name = tempfile.mkstemp(dir=directory)
    except OSError:
        return False
    os.close(fd)
    try:
        os.close(os.open(name, os.O_RDONLY | os.O_DIRECT))
        return True
    except OSError:
        return False
    finally:
        os.unlink(name)


def blk_image(path):
    """A 1 GiB raw image of random data."""
    if not path.exists() or path.stat().st_size != 1 << 30:
        with open(path, "wb") as f:
            for _ in range(1024):
                f.write(os.urandom(1 << 20))
    return str(path)


def run_counting_cpu(argv):
    """stdout, and the CPU seconds (user + system, every thread) it took."""
    import resource
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return out, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def fio(image, rw, bs, depth, jobs):
    """IOPS, MB/s, CPU microseconds per I/O."""
    import json
    out, cpu = run_counting_cpu(["fio", "--name=b", f"--filename={image}", "--direct=1",
                          "--ioengine=io_uring", f"--rw={rw}", f"--bs={bs}",
                          f"--iodepth={depth}", f"--numjobs={jobs}", "--group_reporting",
                          f"--runtime={BLK_SECONDS}", "--time_based", "--output-format=json"])
    job = json.loads(out)["jobs"][0]
    side = job["read"] if job["read"]["io_bytes"] else job["write"]
    return side["iops"], side["bw_bytes"] / 1e6, cpu_us_per_io(cpu, side["iops"])


def cpu_us_per_io(cpu_seconds, iops):
    return cpu_seconds / (iops * float(BLK_SECONDS)) * 1e6 if iops else 0.0


def harness(image, mode, bs, depth, queues):
    """IOPS, MB/s, CPU microseconds per I/O (its driver threads included)."""
    out, cpu = run_counting_cpu([BLK_HARNESS, image, mode, bs, depth, queues, BLK_SECONDS,
                                 BLK_POLL_US])
    fields = dict(kv.split("=") for kv in out.split())
    iops = float(fields["iops"])
    return iops, float(fields["mbps"]), cpu_us_per_io(cpu, iops)


def guest_blk(vmm, image, mode, bs, depth, queues):
    """The CPL3 guest driver (guest/tests/blk_bench.c), one vCPU per queue."""
    import re
    cmdline = (f"mode={mode} bs={bs} qd={depth} seconds={BLK_SECONDS} queues={queues} "
               f"sectors={os.path.getsize(image) // 512}")
    guest = str(BUILD / "guest" / "blk_bench.elf")
    if vmm == "kiln":
        argv = [KILN, "run", "--kernel", guest, "--debug-exit", "--memory", "256",
                "--cpus", queues, "--disk", f"{image},queues={queues},poll={BLK_POLL_US}",
                "--cmdline", cmdline]
    else:
        argv = argv_for("qemu", guest, cmdline) + [
            "-smp", queues, "-serial", "stdio", "-drive",
            f"file={image},if=none,id=d0,format=raw,cache=none,aio=io_uring",
            "-device", f"virtio-blk-pci,drive=d0,disable-legacy=on,num-queues={queues}"]
    out = subprocess.run(argv, capture_output=True, text=True).stdout
    m = re.search(r"blk-bench iops=(\d+) mbps=(\d+) errors=0", out)
    return (float(m.group(1)), float(m.group(2))) if m else (0.0, 0.0)


def blk_table(guest_columns):
    if not shutil.which("fio"):
        print("\nvirtio-blk: fio is not installed (apt-get install fio); skipped")
        return
    for where, path in BLK_FILES:
        if not supports_direct_io(path.parent):
            print(f"\nvirtio-blk, file in {where}: {path.parent} has no O_DIRECT here "
                  "(tmpfs has it from Linux 6.6); skipped")
            continue
        try:
            blk_file_table(where, blk_image(path), guest_columns)
        finally:
            if where == "RAM":
                path.unlink(missing_ok=True)  # a GiB of memory back


def blk_file_table(where, image, guest_columns):
    """fio and the harness on image, and the guest driver under kiln and QEMU
    when guest_columns."""
    rows, iops = [], {}  # iops[(source, queues)] at 4k QD32, for the scaling line
    for label, mode, rw, bs, depth, queues in BLK_CASES:
        host_iops, host_mbps, host_cpu = fio(image, rw, bs, depth, queues)
        kiln_iops, kiln_mbps, kiln_cpu = harness(image, mode, bs, depth, queues)
        row = [label, f"{host_iops:.0f}", f"{host_mbps:.0f}", f"{host_cpu:.1f}",
               f"{kiln_iops:.0f}", f"{kiln_mbps:.0f}", f"{kiln_cpu:.1f}",
               f"{kiln_iops / host_iops:.2f}x"]
        found = {"fio": host_iops, "harness": kiln_iops}
        if guest_columns:
            g_iops, _ = guest_blk("kiln", image, mode, bs, depth, queues)
            q_iops, _ = guest_blk("qemu", image, mode, bs, depth, queues) if QEMU else (0, 0)
            found.update({"guest kiln": g_iops, "guest QEMU": q_iops})
            row += [f"{g_iops:.0f}", f"{g_iops / host_iops:.2f}x",
                    f"{q_iops:.0f}" if QEMU else "-", f"{g_iops / q_iops:.2f}x" if q_iops else "-"]
        if bs == "4096" and depth == "32":
            iops.update({(src, queues): v for src, v in found.items()})
        rows.append(row)
    header = ["workload", "fio IOPS", "fio MB/s", "fio CPU us/IO", "harness IOPS",
              "harness MB/s", "harness CPU us/IO", "harness/host"]
    sources = ["host fio (the limit)", "kiln's device driven by the host harness "
               "(CPU: all threads, the harness's driver threads included)"]
    if guest_columns:
        header += ["guest kiln IOPS", "guest/host", "guest QEMU IOPS", "kiln/QEMU"]
        sources += ["the CPL3 guest driver under kiln and QEMU"]
    table(f"virtio-blk, O_DIRECT, 1 GiB raw file in {where} ({image}, {BLK_SECONDS} s each, "
          f"kiln's busy-poll {BLK_POLL_US} us): "
          + "; ".join(sources), header, rows)
    scaling = [f"{src} {iops[(src, '2')] / iops[(src, '1')]:.2f}x"
               for src in ("fio", "harness", "guest kiln", "guest QEMU")
               if iops.get((src, "1")) and (src, "2") in iops]
    print("  1 -> 2 queues at 4k QD32 (fio: 1 -> 2 jobs; target 1.8x where the file allows): "
          + ", ".join(scaling)
          + ("  [one CPU here: two queues share it, so nothing can scale]"
             if os.cpu_count() == 1 else ""))


if __name__ == "__main__":
    main()
