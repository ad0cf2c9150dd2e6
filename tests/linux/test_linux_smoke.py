# SPDX-License-Identifier: MIT
"""Linux early-boot smoke test.

On PVM hosts a stock kernel runs emulated and stops at an instruction the
emulator rejects (see README), so this checks what Debian's kernel itself
logs early on: the e820 map kiln gave it (equal to the documented layout),
KVM and kvm-clock detected, the command line, the initrd range, and the CPU
count from the ACPI MADT. The bzImage (64-bit boot protocol) and the vmlinux
(PVH entry) boot at the same time; kiln is stopped with SIGTERM as soon as
every line has been seen, and must then exit as a signalled run does."""
import os
import re
import select
import signal
import subprocess
import threading
import time
import uuid

import pytest

from paths import BUILD, KILN, ROOT

pytestmark = pytest.mark.linux

MEMORY_MIB = 512
CPUS = 2
# Seconds each boot may take to print every line. Both boots run at once, so
# the module stays under 3 minutes. Measured on a PVM host: vmlinux ~10 s,
# bzImage ~50 s (most of it the kernel decompressing itself, emulated).
BOOT_TIMEOUT = {"bzImage": 150, "vmlinux": 90}
STOP_TIMEOUT = 20
LOG_DIR = BUILD / "linux-guest"


def layout_constants():
    """The fixed addresses of src/x86/layout.h, the documented guest layout."""
    text = (ROOT / "src" / "x86" / "layout.h").read_text()
    return {name: int(value, 16) for name, value in
            re.findall(r"#define\s+(LAYOUT_\w+)\s+(0x[0-9a-fA-F]+)ULL", text)}


def expected_e820(memory_mib, layout):
    """The kernel's "BIOS-e820:" lines for RAM of memory_mib under the layout:
    low RAM, the reserved legacy area, RAM from 1 MiB to the 32-bit PCI hole,
    and what does not fit below the hole above 4 GiB."""
    ram = memory_mib << 20
    low_end = min(ram, layout["LAYOUT_PCI_HOLE_START"])
    ranges = [(0, layout["LAYOUT_LOW_RAM_END"], "usable"),
              (layout["LAYOUT_LOW_RAM_END"], layout["LAYOUT_HIGH_MEMORY"], "reserved"),
              (layout["LAYOUT_HIGH_MEMORY"], low_end, "usable")]
    if ram > low_end:
        high = layout["LAYOUT_PCI_HOLE_END"]
        ranges.append((high, high + ram - low_end, "usable"))
    return ["BIOS-e820: [mem 0x%016x-0x%016x] %s" % (start, end - 1, kind)
            for start, end, kind in ranges]


def pvm_fragment():
    """The command-line fragment kiln appends to Linux guests here, if any."""
    out = subprocess.run([str(KILN), "info"], capture_output=True, text=True).stdout
    m = re.search(r"^linux command line gets: (.*)$", out, re.M)
    return m.group(1) if m else ""


PVM_FRAGMENT = pvm_fragment() if KILN.exists() else ""


def expected_patterns(cmdline, e820):
    """Every line the early log must contain, by name."""
    patterns = {f"e820 #{i}": re.compile(re.escape(line) + "$") for i, line in enumerate(e820)}
    patterns.update({
        # On PVM hosts kiln appends its pvm-safe fragment (kiln info shows it).
        "command line": re.compile(r"Command line: " + re.escape(cmdline) +
                                   (re.escape(" " + PVM_FRAGMENT) if PVM_FRAGMENT else "") + "$"),
        "hypervisor": re.compile(r"Hypervisor detected: KVM$"),
        "kvm-clock msrs": re.compile(r"kvm-clock: Using msrs 4b564d01 and 4b564d00"),
        "kvm-clock clocksource": re.compile(r"clocksource: kvm-clock: mask:"),
        "ramdisk": re.compile(r"RAMDISK: \[mem (0x[0-9a-f]+)-(0x[0-9a-f]+)\]"),
        "rsdp": re.compile(r"ACPI: RSDP 0x([0-9A-F]{16}) "),
        "madt": re.compile(r"ACPI: Using ACPI \(MADT\) for SMP configuration information"),
        "ioapic": re.compile(r"IOAPIC\[0\]: apic_id \d+, version \d+, address (0x[0-9a-f]+)"),
        "cpus": re.compile(r"smpboot: Allowing (\d+) CPUs, (\d+) hotplug CPUs"),
    })
    return patterns


def kernel_message(line):
    """The text of a printk line, without the "[    0.000000] " time stamp."""
    return re.sub(r"^\[\s*\d+\.\d+\] ", "", line)


def boot(image, cmdline, patterns, results):
    """Run kiln on image until every pattern has matched or time runs out,
    then stop it with SIGTERM. Stores what happened in results[image]."""
    proc = subprocess.Popen(
        [str(KILN), "run", "--kernel", str(LOG_DIR / image),
         "--initrd", str(LOG_DIR / "initramfs.cpio.gz"),
         "--memory", str(MEMORY_MIB), "--cpus", str(CPUS), "--cmdline", cmdline],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    found, log, pending = {}, [], b""
    start = time.monotonic()
    deadline = start + BOOT_TIMEOUT[image]
    while len(found) < len(patterns) and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if not ready:
            continue
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break   # kiln exited (on a PVM host: the emulator gave up)
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for raw in lines:
            line = raw.decode(errors="replace").rstrip("\r")
            log.append(line)
            message = kernel_message(line)
            for key, pattern in patterns.items():
                if key not in found:
                    match = pattern.search(message)
                    if match:
                        found[key] = match
    elapsed = time.monotonic() - start
    signalled = proc.poll() is None
    if signalled:
        proc.send_signal(signal.SIGTERM)
    try:
        rest, err = proc.communicate(timeout=STOP_TIMEOUT)
        stopped = True
    except subprocess.TimeoutExpired:
        proc.kill()
        rest, err = proc.communicate()
        stopped = False
    log += (pending + rest).decode(errors="replace").splitlines()
    (LOG_DIR / f"smoke-{image}.log").write_text("\n".join(log) + "\n")
    results[image] = dict(found=found, log=log, elapsed=elapsed, signalled=signalled,
                          stopped=stopped, status=proc.returncode,
                          stderr=err.decode(errors="replace"))


@pytest.fixture(scope="module")
def boots(kiln, kvm, linux_guest):
    """Both images booted at once, each with its own marked command line."""
    layout = layout_constants()
    e820 = expected_e820(MEMORY_MIB, layout)
    results, threads, cmdlines = {}, [], {}
    for image in BOOT_TIMEOUT:
        cmdlines[image] = ("console=ttyS0 earlyprintk=serial,ttyS0,115200 loglevel=8 "
                           f"ignore_loglevel kiln.smoke={image}-{uuid.uuid4().hex[:12]}")
        patterns = expected_patterns(cmdlines[image], e820)
        threads.append(threading.Thread(target=boot,
                                        args=(image, cmdlines[image], patterns, results)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for image, r in results.items():
        print(f"{image}: {len(r['found'])} expected lines in {r['elapsed']:.1f} s, "
              f"status {r['status']}; log in {LOG_DIR / f'smoke-{image}.log'}")
    return dict(results=results, layout=layout, e820=e820, cmdlines=cmdlines)


def context(r):
    """The end of a boot's log and kiln's stderr, for failure messages."""
    return "\n".join(r["log"][-20:]) + "\n--- kiln stderr ---\n" + r["stderr"][-2000:]


@pytest.mark.parametrize("image", list(BOOT_TIMEOUT))
def test_early_log_has_every_line(boots, image):
    r = boots["results"][image]
    patterns = expected_patterns(boots["cmdlines"][image], boots["e820"])
    missing = sorted(set(patterns) - set(r["found"]))
    assert not missing, (f"{image}: the kernel never printed {missing} "
                         f"in {r['elapsed']:.0f} s:\n{context(r)}")


@pytest.mark.parametrize("image", list(BOOT_TIMEOUT))
def test_e820_map_is_the_layout(boots, image):
    """The whole firmware map the kernel saw, no more and no fewer ranges."""
    r = boots["results"][image]
    seen = [kernel_message(l) for l in r["log"] if kernel_message(l).startswith("BIOS-e820:")]
    assert seen == boots["e820"], f"{image}: e820 map differs from the layout:\n{context(r)}"


@pytest.mark.parametrize("image", list(BOOT_TIMEOUT))
def test_ramdisk_is_the_initrd(boots, image):
    """The RAMDISK range holds the initramfs file (rounded up to pages) in RAM."""
    r = boots["results"][image]
    assert "ramdisk" in r["found"], f"{image}: no RAMDISK line:\n{context(r)}"
    start, end = (int(x, 16) for x in r["found"]["ramdisk"].groups())
    size = (LOG_DIR / "initramfs.cpio.gz").stat().st_size
    assert start % 4096 == 0
    assert end + 1 - start == (size + 4095) // 4096 * 4096, \
        f"{image}: RAMDISK [{start:#x}-{end:#x}] does not hold the {size}-byte initramfs"
    assert boots["layout"]["LAYOUT_HIGH_MEMORY"] <= start and end < MEMORY_MIB << 20


@pytest.mark.parametrize("image", list(BOOT_TIMEOUT))
def test_acpi_describes_the_machine(boots, image):
    """RSDP where the E0000-FFFFF scan finds it, the IOAPIC at its address,
    and as many CPUs as --cpus (all present: none hot-pluggable)."""
    r, layout = boots["results"][image], boots["layout"]
    for key in ("rsdp", "madt", "ioapic", "cpus"):
        assert key in r["found"], f"{image}: no {key} line:\n{context(r)}"
    rsdp = int(r["found"]["rsdp"].group(1), 16)
    assert layout["LAYOUT_ACPI_BASE"] <= rsdp < layout["LAYOUT_ACPI_END"]
    assert int(r["found"]["ioapic"].group(1), 16) == layout["LAYOUT_IOAPIC"]
    assert tuple(int(x) for x in r["found"]["cpus"].groups()) == (CPUS, 0)


@pytest.mark.parametrize("image", list(BOOT_TIMEOUT))
def test_kiln_stops_cleanly(boots, image):
    """Stopped by SIGTERM, kiln exits with 128 + SIGTERM. If the guest ended
    first, that was either the /init powering off (a real KVM host: status 0)
    or, on a PVM host, the emulator giving up (status 1, kiln's register dump)."""
    r = boots["results"][image]
    assert r["stopped"], f"{image}: kiln still ran {STOP_TIMEOUT} s after SIGTERM"
    if r["signalled"]:
        assert r["status"] == 128 + signal.SIGTERM, f"{image}: status {r['status']}\n{context(r)}"
    elif r["status"] == 0:
        assert any("kiln-guest: ready" in l for l in r["log"]), context(r)
    else:
        assert r["status"] == 1, f"{image}: status {r['status']}\n{context(r)}"
        assert "kiln: error: vCPU" in r["stderr"], context(r)
