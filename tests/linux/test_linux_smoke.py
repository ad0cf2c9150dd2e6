# SPDX-License-Identifier: MIT
"""Linux early-boot smoke test. On PVM hosts a stock kernel runs emulated and
stops at an instruction the emulator rejects (see README), so this checks the
kernel's own early log: the e820 map kiln gave it, KVM and kvm-clock detected,
the command line, the initrd range, and the MADT's CPU count. The bzImage
(64-bit boot protocol) and the vmlinux (PVH entry) boot at the same time;
kiln is stopped with SIGTERM as soon as every line has been seen."""
import os
import re
import select
import signal
import subprocess
import threading
import time

import pytest

from paths import BUILD, KILN, ROOT

GUEST = BUILD / "linux-guest"
MEMORY_MIB = 512
CPUS = 2
BOOT_TIMEOUT = {"bzImage": 170, "vmlinux": 120}


def expected_lines(cmdline):
    end = MEMORY_MIB * 1024 * 1024 - 1
    return {
        "e820 low": re.compile(r"BIOS-e820: \[mem 0x0000000000000000-0x000000000009fbff\] usable"),
        "e820 legacy": re.compile(
            r"BIOS-e820: \[mem 0x000000000009fc00-0x00000000000fffff\] reserved"),
        "e820 high": re.compile(
            r"BIOS-e820: \[mem 0x0000000000100000-0x%016x\] usable" % end),
        "hypervisor": re.compile(r"Hypervisor detected: KVM"),
        "kvm-clock": re.compile(r"kvm-clock: Using msrs 4b564d01 and 4b564d00"),
        "command line": re.compile(r"Command line: " + re.escape(cmdline) + r"\r?$"),
        "ramdisk": re.compile(r"RAMDISK: \[mem (0x[0-9a-f]+)-(0x[0-9a-f]+)\]"),
        "madt": re.compile(r"ACPI: Using ACPI \(MADT\) for SMP configuration information"),
        "cpus": re.compile(r"smpboot: Allowing %d CPUs" % CPUS),
    }


@pytest.fixture(scope="module")
def linux_guest():
    subprocess.run(["make", "-s", "linux-guest"], cwd=ROOT, check=True, timeout=600)
    for name in ("bzImage", "vmlinux", "initramfs.cpio.gz"):
        assert (GUEST / name).is_file(), f"make linux-guest did not produce {name}"
    return GUEST


def boot(image, cmdline, results):
    """Run kiln on image until every expected line appears or time runs out."""
    patterns = expected_lines(cmdline)
    found, log = {}, []
    proc = subprocess.Popen(
        [str(KILN), "run", "--kernel", str(GUEST / image), "--initrd",
         str(GUEST / "initramfs.cpio.gz"), "--memory", str(MEMORY_MIB), "--cpus", str(CPUS),
         "--cmdline", cmdline], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL)
    start, pending = time.monotonic(), b""
    deadline = start + BOOT_TIMEOUT[image]
    while len(found) < len(patterns) and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for raw in lines:
            line = raw.decode(errors="replace").rstrip("\r")
            log.append(line)
            for key, pattern in patterns.items():
                match = pattern.search(line)
                if match and key not in found:
                    found[key] = match
    elapsed = time.monotonic() - start
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    results[image] = dict(found=found, log=log, status=proc.returncode, elapsed=elapsed,
                          stderr=err.decode(errors="replace"), missing=set(patterns) - set(found))


def test_linux_early_boot(kiln, kvm, linux_guest):
    cmdline = "console=ttyS0 earlyprintk=serial,ttyS0,115200 loglevel=8 kiln.smoke=%d" % os.getpid()
    results = {}
    threads = [threading.Thread(target=boot, args=(image, cmdline, results))
               for image in BOOT_TIMEOUT]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    initrd_size = (GUEST / "initramfs.cpio.gz").stat().st_size
    page_aligned = (initrd_size + 4095) // 4096 * 4096
    for image, r in results.items():
        tail = "\n".join(r["log"][-15:]) + "\n" + r["stderr"][:2000]
        assert not r["missing"], f"{image}: never printed {sorted(r['missing'])} " \
                                 f"in {r['elapsed']:.0f} s:\n{tail}"
        start, end = (int(x, 16) for x in r["found"]["ramdisk"].groups())
        assert end + 1 - start == page_aligned, f"{image}: RAMDISK range vs {initrd_size} bytes"
        # Stopped by the test (SIGTERM), or already stopped by the emulator's
        # limit with kiln's one-line error: either way never a hang or crash.
        assert r["status"] in (128 + signal.SIGTERM, 1), f"{image}: status {r['status']}\n{tail}"
        if r["status"] == 1:
            assert "kiln: error: vCPU" in r["stderr"], tail
        print(f"{image}: all early-boot lines in {r['elapsed']:.1f} s")
