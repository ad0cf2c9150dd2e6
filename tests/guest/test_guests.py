# SPDX-License-Identifier: MIT
"""Every test guest under kiln, and the same binaries under QEMU (with KVM)
as a reference when QEMU is installed."""
import os
import re
import subprocess
import time

import pytest

import vmm
from holding import holding_kiln, threads

# (guest, cpus, memory MiB, extra command line)
CASES = [
    ("bootinfo", 1, 256, "mem=256"),
    ("bootinfo", 1, 4096, "mem=4096"),
    ("cpuid", 2, 256, ""),
    ("kvmclock", 2, 256, ""),
    ("smp", 1, 256, ""),
    ("smp", 2, 256, ""),
    ("smp", 4, 256, ""),
    ("exceptions", 1, 256, ""),
    ("debugregs", 1, 256, ""),
    ("regs", 1, 256, ""),
    ("mmio", 1, 256, ""),
    ("pio", 1, 256, "iterations=2000"),
]

VMMS = ["kiln"] + (["qemu"] if vmm.QEMU else [])


def case_id(case):
    guest, cpus, memory, _ = case
    return f"{guest}-{cpus}cpu-{memory}M"


@pytest.mark.parametrize("case", CASES, ids=case_id)
@pytest.mark.parametrize("which", VMMS)
def test_guest(which, case, kvm):
    guest, cpus, memory, cmdline = case
    if guest == "kvmclock":
        cmdline = f"hosttime={int(time.time())}"
    if guest == "mmio" and which == "kiln":
        cmdline = "mmio_ones=1"   # kiln's documented value for unclaimed reads
    status, out, err = vmm.run(which, guest, cpus=cpus, memory=memory, cmdline=cmdline)
    vmm.assert_passed(status, out, err)


def test_smp_reports_every_cpu(kvm):
    status, out, err = vmm.run("kiln", "smp", cpus=16)
    vmm.assert_passed(status, out, err)
    assert "PASS: 16 of 16 CPUs checked in" in out


def test_mmio_one_exit_per_access(kvm):
    """kiln sees exactly one MMIO exit per guest access, with the direction,
    size, address and data the guest used."""
    status, out, err = vmm.run("kiln", "mmio", cmdline="mmio_ones=1", extra=["--trace-mmio"])
    vmm.assert_passed(status, out, err)
    trace = [l for l in err.splitlines() if l.startswith("mmio: ")]
    assert trace == [
        "mmio: write addr=0xe0000000 size=1 data=0x11",
        "mmio: write addr=0xe0000010 size=2 data=0x2233",
        "mmio: write addr=0xe0000020 size=4 data=0x44556677",
        "mmio: write addr=0xe0000030 size=8 data=0x8899aabbccddeeff",
        "mmio: read addr=0xe0000000 size=1 data=0xff",
        "mmio: read addr=0xe0000010 size=2 data=0xffff",
        "mmio: read addr=0xe0000020 size=4 data=0xffffffff",
        "mmio: read addr=0xe0000030 size=8 data=0xffffffffffffffff",
    ], err


@pytest.mark.parametrize("which", VMMS)
def test_kvmclock_wall_clock_matches_host_as_read(which, kvm):
    """The guest's wall clock, checked against the host's clock at the moment
    the line arrives, to 2 s (the guest itself can only bound it by the launch
    time, which does not count how long the VMM takes to start)."""
    argv = vmm.command(which, "kvmclock", cpus=1, cmdline=f"hosttime={int(time.time())}")
    with subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as proc:
        lines, arrived = [], None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("INFO: wallclock "):
                arrived = time.time()
        err = proc.stderr.read()
        status = proc.wait(timeout=vmm.TIMEOUT)
    out = "".join(lines)
    vmm.assert_passed(status, out, err)
    wall = int(re.search(r"INFO: wallclock (\d+)", out).group(1))
    assert abs(wall - arrived) <= 2, (wall, arrived)


# pc-testdev's IRQ-line ports (0x2000 + line): kiln adds pc-testdev only on request.
KILN_TEST_DEVICES = ["--test-devices"]
# QEMU 7.2 with its in-kernel irqchip on a PVM host dropped the pulses; its
# own 8259 model is the reference.
QEMU_TEST_DEVICES = ["-device", "pc-testdev", "-machine", "kernel-irqchip=off"]


@pytest.mark.parametrize("which", VMMS)
def test_real_mode_guest_gets_the_bios_timer_state(which, kvm):
    """A guest in real mode that turns interrupts on and halts, as after a PC
    BIOS: PIT ticks reach it on IRQ 0 at vector 0x08, and pulses on ISA lines
    3 and 12 at vectors 0x0b and 0x74 (both 8259s at the BIOS's bases)."""
    extra = KILN_TEST_DEVICES if which == "kiln" else QEMU_TEST_DEVICES
    status, out, err = vmm.run(which, "pic_pit", memory=64, extra=extra)
    vmm.assert_passed(status, out, err)
    assert "PASS: timer ticks arrive on IRQ 0 at vector 0x08" in out
    assert "PASS: ISA line 12 pulse arrives once at vector 0x74" in out
    if which == "kiln":
        # Timer, keyboard, cascade and RTC open; every ISA line edge-triggered.
        assert "INFO: PIC masks f8 fe, ELCR 00 00" in out


@pytest.mark.parametrize("which", VMMS)
def test_rtc_time_and_interrupts(which, kvm):
    """The CMOS RTC shows the host's time (to a minute of the launch) and
    interrupts on IRQ 8 through the IOAPIC: update, alarm and periodic."""
    status, out, err = vmm.run(which, "rtc", cmdline=f"hosttime={int(time.time())}")
    vmm.assert_passed(status, out, err)
    for check in ("RTC time within a minute of the host's", "update-ended interrupts on IRQ 8",
                  "alarm interrupt two seconds ahead", "periodic interrupts at 2 Hz"):
        assert f"PASS: {check}" in out, out


@pytest.mark.parametrize("which", VMMS)
def test_s3_suspend_woken_by_the_rtc_alarm(which, kvm):
    """ACPI S3 as an OS does it: a real-mode waking vector in the FACS, an RTC
    alarm two seconds ahead with RTC_EN, SLP_TYP(\\_S3)|SLP_EN. The machine
    sleeps and the alarm wakes it: the boot CPU comes back in real mode at
    the vector with RAM kept and WAK_STS|RTC_STS in PM1 status. Two vCPUs,
    so the other one is reset to wait for INIT/SIPI too. QEMU needs S3
    turned on in its PIIX4 PM."""
    extra = [] if which == "kiln" else ["-global", "PIIX4_PM.disable_s3=0"]
    status, out, err = vmm.run(which, "s3", cpus=2, memory=64, extra=extra)
    vmm.assert_passed(status, out, err)
    assert "INFO: entering S3, woken by the RTC alarm" in out
    for check in ("woke in real mode at the FACS waking vector (CS 0x300, IP 0)",
                  "RAM kept across S3 (marker intact)",
                  "PM1 status shows WAK_STS and the wake source"):
        assert f"PASS: {check}" in out, out
    # The stub's lines come after the sleep, and only once.
    assert out.index("entering S3") < out.index("PASS: woke in real mode")
    assert out.count("SUMMARY") == 1


def test_s3_without_a_waking_vector_is_an_error(kvm):
    """A guest that sleeps without writing a waking vector cannot be
    resumed: kiln says so when the alarm wakes it and exits 1."""
    status, out, err = vmm.run("kiln", "s3", memory=64, cmdline="vector=0")
    assert status == 1, f"status {status}\n{out}{err}"
    assert "PASS: woke" not in out
    assert "kiln: error: the guest slept in S3 without a usable waking vector in its FACS" \
        in err, err


@pytest.mark.parametrize("which", VMMS)
def test_demo_guest_powers_off(which, kvm):
    status, out, err = vmm.run(which, "demo", cpus=2, memory=256, debug_exit=False)
    assert status == 0, out + err
    assert "CPUs:        2 of 2 started" in out
    assert "clocksource: kvm-clock" in out
    assert "fw_cfg:      signature 'QEMU'" in out
    assert "RSDP at 0xe0000" in out or which == "qemu"
    assert "powering off through ACPI" in out
    assert "FAIL" not in out


@pytest.mark.parametrize("which", VMMS)
def test_virtio_rng_over_pci(which, kvm):
    """The CPL3 virtio-pci driver finds virtio-rng, negotiates, sets up a
    queue with an MSI-X vector and gets random bytes and an interrupt."""
    extra = ["--rng"] if which == "kiln" else ["-device", "virtio-rng-pci,disable-legacy=on"]
    status, out, err = vmm.run(which, "virtio_rng", extra=extra)
    vmm.assert_passed(status, out, err)
    assert "PASS: MSI-X interrupt delivered" in out


def test_no_rng_without_the_option(kvm):
    status, out, err = vmm.run("kiln", "virtio_rng")
    assert "FAIL: virtio-rng found on PCI bus 0" in out
    assert status == 3


@pytest.mark.parametrize("which", VMMS)
def test_virtio_blk_over_pci(which, kvm, tmp_path):
    """The CPL3 driver writes a pattern, flushes, reads it back and reads the
    serial; then the image file itself must hold the pattern."""
    image = tmp_path / "disk.img"
    image.write_bytes(b"\0" * (16 << 20))
    if which == "kiln":
        extra = ["--disk", f"{image},serial=kilnguest"]
    else:
        extra = ["-drive", f"file={image},if=none,id=d0,format=raw",
                 "-device", "virtio-blk-pci,drive=d0,disable-legacy=on,serial=kilnguest"]
    status, out, err = vmm.run(which, "virtio_blk", cmdline=f"sectors={(16 << 20) // 512}",
                               extra=extra)
    vmm.assert_passed(status, out, err)
    data = image.read_bytes()[:64 * 512]
    assert data == bytes((i * 7 + 3) & 0xFF for i in range(64 * 512))


@pytest.mark.parametrize("which,poll", [(v, 0) for v in VMMS] + [("kiln", 50)])
def test_virtio_blk_two_queues_from_two_cpus(which, poll, kvm, tmp_path):
    """bench's load guest: two vCPUs at CPL3, each keeping 16 writes in flight
    on its own queue for a second; every request completes without error,
    and the image holds what the guest wrote where it wrote. kiln also with
    its workers busy-polling (poll=50)."""
    image = tmp_path / "disk.img"
    image.write_bytes(b"\xff" * (16 << 20))
    cmdline = f"mode=seqwrite bs=4096 qd=16 seconds=1 queues=2 sectors={(16 << 20) // 512}"
    if which == "kiln":
        extra = ["--disk", f"{image},queues=2,poll={poll}"]
    else:
        extra = ["-drive", f"file={image},if=none,id=d0,format=raw",
                 "-device", "virtio-blk-pci,drive=d0,disable-legacy=on,num-queues=2"]
    status, out, err = vmm.run(which, "blk_bench", cpus=2, cmdline=cmdline, extra=extra)
    vmm.assert_passed(status, out, err)
    assert re.search(r"PASS: [1-9]\d* requests on 2 queues, no errors", out), out
    # The guest's write buffers start zeroed: both lanes' first blocks were written.
    data = image.read_bytes()
    assert data[:4096] == b"\0" * 4096
    assert data[8 << 20:(8 << 20) + 4096] == b"\0" * 4096


def test_virtio_blk_readonly_disk_refuses_the_write(kvm, tmp_path):
    image = tmp_path / "disk.img"
    image.write_bytes(b"\x5a" * (16 << 20))
    status, out, err = vmm.run("kiln", "virtio_blk", cmdline=f"sectors={(16 << 20) // 512}",
                               extra=["--disk", f"{image},readonly,serial=kilnguest"])
    assert "FAIL: write of 64 sectors (status 1)" in out, out
    assert "PASS: GET_ID returns the serial" in out
    assert image.read_bytes()[:4096] == b"\x5a" * 4096


def test_one_worker_per_queue_serving_only_enabled_queues(kvm, tmp_path):
    """Each of a disk's 8 queues has its worker thread, named after it, made
    with the disk (before any seccomp filter); a guest that enables 2 of
    them gets exactly those 2 serving (asleep in poll on their kick eventfd)
    while the other 6 stay parked (on a futex)."""
    image = tmp_path / "disk.img"
    image.write_bytes(b"\0" * (16 << 20))
    argv = vmm.command("kiln", "virtio_blk", cmdline=f"sectors={(16 << 20) // 512} queues=2 hold=1",
                       extra=["--disk", f"{image},queues=8,serial=kilnguest"])
    with holding_kiln(argv) as (proc, out):
        # The system call each thread sleeps in, by number. A worker the
        # guest's enable just woke may still be on its way from its futex to
        # poll (on a busy machine): look until the threads settle, up to 10 s.
        for _ in range(200):
            sleeping = {name: text.split()[0]
                        for name, text in threads(proc.pid, "syscall").items()}
            names = sorted(sleeping)
            serving = sorted(n for n in names if n.startswith("vq-") and sleeping[n] == "7")
            parked = sorted(n for n in names if n.startswith("vq-") and sleeping[n] == "202")
            if serving == ["vq-blk0-0", "vq-blk0-1"] and len(parked) == 6:
                break
            time.sleep(0.05)
        assert "PASS: 2 queues enabled" in out
        assert [n for n in names if n.startswith("vq-")] == [f"vq-blk0-{q}" for q in range(8)]
        assert serving == ["vq-blk0-0", "vq-blk0-1"], sleeping  # poll
        assert parked == [f"vq-blk0-{q}" for q in range(2, 8)], sleeping
        assert [n for n in names if n.startswith("vcpu")] == ["vcpu0"]


@pytest.mark.parametrize("which", VMMS)
def test_virtio_console_output(which, kvm, tmp_path):
    out_file = tmp_path / "hvc0.txt"
    if which == "kiln":
        extra = [f"--virtio-console={out_file}"]
    else:
        extra = ["-chardev", f"file,id=c0,path={out_file}",
                 "-device", "virtio-serial-pci,disable-legacy=on,max_ports=1",
                 "-device", "virtconsole,chardev=c0"]
    status, out, err = vmm.run(which, "virtio_console", extra=extra)
    vmm.assert_passed(status, out, err)
    assert out_file.read_text() == "hello from hvc0\n"


LIMIT_LINE = "output file reached its limit of 65536 bytes"


def test_virtio_console_output_file_is_bounded(kvm, tmp_path):
    """A guest cannot fill the host's disk through --virtio-console=FILE: the
    file stops at --console-limit, kiln says so once, the guest runs on."""
    out_file = tmp_path / "hvc0.txt"
    status, out, err = vmm.run("kiln", "virtio_console", cmdline="flood=81920",
                               extra=[f"--virtio-console={out_file}", "--console-limit", "64K"])
    vmm.assert_passed(status, out, err)
    data = out_file.read_bytes()
    assert len(data) == 65536
    assert data.startswith(b"hello from hvc0\nabcdefghijklmnopqrstuvwxyzabc")
    lines = [l for l in err.splitlines() if LIMIT_LINE in l]
    assert lines == ["kiln: warning: virtio console " + LIMIT_LINE +
                     " (--console-limit); further output dropped"], err


def test_virtio_console_output_under_the_limit_is_whole(kvm, tmp_path):
    out_file = tmp_path / "hvc0.txt"
    status, out, err = vmm.run("kiln", "virtio_console", cmdline="flood=81920",
                               extra=[f"--virtio-console={out_file}"])
    vmm.assert_passed(status, out, err)
    assert len(out_file.read_bytes()) == len("hello from hvc0\n") + 81920
    assert "limit" not in err


def test_virtio_console_echo_on_the_terminal(kvm):
    """--console virtio: the terminal is hvc0, in both directions."""
    import subprocess
    argv = vmm.command("kiln", "virtio_console", cmdline="echo=1", extra=["--console", "virtio"])
    proc = subprocess.run(argv, input=b"ping\n", capture_output=True, timeout=vmm.TIMEOUT)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout == b"hello from hvc0\necho: ping\n"


def test_pci_enumeration_finds_every_device(kvm, tmp_path):
    """Host bridge, two disks, the console and rng: right IDs, BARs in the
    window, none overlapping."""
    disks = []
    for name in ("a.img", "b.img"):
        (tmp_path / name).write_bytes(b"\0" * (1 << 20))
        disks += ["--disk", str(tmp_path / name)]
    status, out, err = vmm.run("kiln", "pci_enum", cmdline="virtio=4",
                               extra=["--rng", *disks, "--virtio-console=/dev/null"])
    vmm.assert_passed(status, out, err)
    lines = [l for l in out.splitlines() if l.startswith("INFO: pci ")]
    assert [l.split()[3] for l in lines] == [
        "1b36:0008", "1af4:1042", "1af4:1042", "1af4:1043", "1af4:1044"], out
    bars = [int(l.split("bar4 ")[1].split()[0], 16) for l in lines if "1af4:" in l]
    msix_bars = [int(l.split("bar1 ")[1].split()[0], 16) for l in lines if "1af4:" in l]
    # 256 MiB of RAM: the 64-bit window starts at 4 GiB (src/x86/layout.h)
    # and holds the virtio structures; the MSI-X BARs stay below 4 GiB.
    assert all(1 << 32 <= b < (1 << 32) + (32 << 30) for b in bars), [hex(b) for b in bars]
    assert all(0xC1000000 <= b < 0xE0000000 for b in msix_bars), [hex(b) for b in msix_bars]
    assert len(set(bars)) == len(bars), "BARs do not overlap"
    assert len(set(msix_bars)) == len(msix_bars), "BARs do not overlap"


def test_emulation_gaps_completed(kvm):
    """INT3, INT n, POPCNT, FWAIT, LDMXCSR/STMXCSR, LOCK CMPXCHG16B at CPL0:
    architecturally right whether KVM ran them or kiln completed them."""
    status, out, err = vmm.run("kiln", "emulation", extra=["--stats"])
    vmm.assert_passed(status, out, err)
    if os.path.exists("/sys/module/kvm_pvm"):
        for name in ("int3", "int", "popcnt", "fwait", "ldmxcsr", "stmxcsr", "cmpxchg16b"):
            assert f"kiln: stats: completed {name} " in err, err


def max_basic_leaf(extra):
    status, out, err = vmm.run("kiln", "cpuid", extra=extra)
    vmm.assert_passed(status, out, err)
    return int(re.search(r"INFO: max basic leaf (\d+)", out).group(1))


def test_cpu_profiles_as_the_guest_sees_them(kvm):
    """pvm-safe lowers the maximum basic leaf to 6 (hiding leaves 7 and 0xD);
    host passes KVM's through. pvm-safe is the default only on PVM hosts."""
    pvm = os.path.exists("/sys/module/kvm_pvm")
    assert max_basic_leaf(["--cpu-template", "pvm-safe"]) == 6
    host = max_basic_leaf(["--cpu-template", "host"])
    assert host > 6
    assert max_basic_leaf(["--no-pvm-profile"]) == host
    assert max_basic_leaf([]) == (6 if pvm else host)


def fnv1a(data):
    value = 0xcbf29ce484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return value


def hash_seen_by_guest(tmp_path, piped, guest, cmdline, marker, extra=()):
    """Runs guest with piped as kiln's standard input; the FNV-1a hash the
    guest printed after marker, as an int. The guest must pass (status 1)."""
    import re
    import subprocess
    path = tmp_path / "input"
    path.write_bytes(piped)
    argv = vmm.command("kiln", guest, cmdline=cmdline, extra=extra)
    with open(path, "rb") as stdin:
        proc = subprocess.run(argv, stdin=stdin, capture_output=True, timeout=600)
    out = proc.stdout.decode(errors="replace")
    assert proc.returncode == 1, f"status {proc.returncode}:\n{out[-2000:]}{proc.stderr[-2000:]}"
    got = re.search(marker + r" fnv1a ([0-9a-f]{16})", out)
    assert got, out[-2000:]
    return int(got.group(1), 16)


def test_serial_input_faster_than_the_guest_reads_is_not_lost(kvm, tmp_path):
    """1 MiB piped into kiln's standard input reaches the guest through COM1's
    16-byte FIFO whole and in order: kiln reads it only as the UART takes it."""
    import random
    data = random.Random(7).randbytes(1 << 20)
    # Ctrl-A is kiln's escape key: Ctrl-A Ctrl-A sends one.
    got = hash_seen_by_guest(tmp_path, data.replace(b"\x01", b"\x01\x01"), "serial_sum",
                             f"bytes={len(data)}", "serial-sum:")
    assert got == fnv1a(data), "the guest received other bytes"


def test_virtio_console_input_faster_than_the_guest_reads_is_not_lost(kvm, tmp_path):
    """1 MiB piped into hvc0 (--console virtio) reaches the guest whole and in
    order: kiln reads its input only while it has room for it."""
    import random
    data = random.Random(11).randbytes(1 << 20)
    got = hash_seen_by_guest(tmp_path, data, "virtio_console", f"sum={len(data)}",
                             "console-sum:", extra=["--console", "virtio"])
    assert got == fnv1a(data), "the guest received other bytes"
