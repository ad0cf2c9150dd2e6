# SPDX-License-Identifier: MIT
"""Linux end to end, with kiln's small kernel (make linux-small) and the
default guest's initramfs (make linux-guest).

A PVM host cannot run a Linux userspace yet (SYSCALL from a guest that is
not PVM-aware does not reach its kernel at CPL0; see README), so these boots
run on a nested AMD-V host (scripts/nested-host.sh: QEMU's TCG with SVM and
nested paging, kvm_amd inside), which is what kiln meets on hardware-assisted
hosts. tests/linux/nested_boots.py does the boots in there (conftest.py
starts the host once for every module here); the tests here
judge what it recorded: the ready line, nproc, MemTotal, the clocksource,
poweroff and reboot, each virtio driver bound and working, and an ACPI S3
sleep and resume."""
import re

import pytest

pytestmark = [pytest.mark.linux, pytest.mark.nested_driver("boots")]


@pytest.fixture(scope="module")
def boots(nested_run):
    """Four boots, one after another, on the shared nested host (conftest.py)."""
    return nested_run.results("boots")


def guest_lines(result):
    """The initramfs's report lines, "kiln-guest: what value"."""
    return [l.split("kiln-guest: ", 1)[1].strip() for l in result["output"].splitlines()
            if "kiln-guest: " in l]


def value(result, key):
    for line in guest_lines(result):
        if line.startswith(key + " "):
            return line[len(key) + 1:]
    raise AssertionError(f"no '{key}' line in the guest's output:\n{result['output'][-3000:]}")


# "jailed" is "devices" with kiln in --jail as nobody (README "The jail").
DEVICE_BOOTS = ["devices", "jailed"]


@pytest.mark.parametrize("name", ["devices", "pvh", "reboot", "jailed"])
def test_userspace_sees_the_machine(boots, name):
    r = boots[name]
    assert "ready" in guest_lines(r), f"no ready line:\n{r['output'][-3000:]}"
    assert int(value(r, "nproc")) == r["cpus"]
    mem_kib = int(re.match(r"(\d+) kB", value(r, "MemTotal:").strip()).group(1))
    # MemTotal is RAM less what the kernel keeps for itself: within 25%.
    assert 0.75 * r["memory"] * 1024 < mem_kib <= r["memory"] * 1024, (mem_kib, r["memory"])
    assert value(r, "clocksource") == "kvm-clock"


@pytest.mark.parametrize("name", ["devices", "pvh", "jailed"])
def test_poweroff_exits_0(boots, name):
    r = boots[name]
    assert r["status"] == 0, f"status {r['status']}:\n{r['output'][-3000:]}"
    assert "reboot: Power down" in r["output"]


def test_reboot_exits_0(boots):
    r = boots["reboot"]
    assert r["status"] == 0, f"status {r['status']}:\n{r['output'][-3000:]}"
    assert "rebooting" in guest_lines(r)
    assert "reboot: Restarting system" in r["output"]


@pytest.mark.parametrize("name", DEVICE_BOOTS)
def test_virtio_drivers_bind(boots, name):
    r = boots[name]
    bound = [(l.split()[2], l.split()[4]) for l in guest_lines(r)
             if re.match(r"virtio\d+ device", l)]
    assert len(bound) == 4, bound  # two disks, the console, the rng
    assert sorted(set(bound)) == [("0x0002", "virtio_blk"), ("0x0003", "virtio_console"),
                                  ("0x0004", "virtio_rng")], bound


@pytest.mark.parametrize("name", DEVICE_BOOTS)
def test_virtio_blk_queues_readonly_and_serial(boots, name):
    """--disk ...,queues=2,serial=kiln-e2e gives Linux two blk-mq queues and
    the serial; the second disk, readonly, is read-only to Linux."""
    r = boots[name]
    assert value(r, "vda queues") == "2 ro 0 serial kiln-e2e"
    assert value(r, "vdb queues") == "1 ro 1 serial"


@pytest.mark.parametrize("name", DEVICE_BOOTS)
def test_virtio_blk_file_system_reaches_the_image(boots, name):
    """mke2fs, a 1 MiB file, sync, umount in the guest; the host then reads
    the same bytes out of the image."""
    r = boots[name]
    assert value(r, "vda size") == f"{64 << 20 >> 9} sectors"
    assert "vda umounted" in guest_lines(r)
    assert re.fullmatch(r"[0-9a-f]{32}", value(r, "vda data"))
    assert value(r, "vda data") == r["disk_data_md5"], "the image holds what the guest wrote"


@pytest.mark.parametrize("name", DEVICE_BOOTS)
def test_virtio_console_hvc0(boots, name):
    r = boots[name]
    assert "hvc0 written" in guest_lines(r)
    assert r["hvc"] == "kiln-guest: hello hvc0\n"


@pytest.mark.parametrize("name", DEVICE_BOOTS)
def test_virtio_rng_hwrng(boots, name):
    r = boots[name]
    assert value(r, "rng_current") == "virtio_rng.0"
    random = value(r, "hwrng")
    assert re.fullmatch(r"[0-9a-f]{32}", random) and random != "0" * 32, random


def test_s3_suspend_to_ram_and_rtc_wake(boots):
    """Linux offers "mem" (deep: ACPI S3), sleeps on `echo mem >
    /sys/power/state` with an RTC wake alarm three seconds ahead, and comes
    back at its waking vector: userspace goes on, both CPUs are online
    again (the second restarted by INIT/SIPI), the disk still holds the
    data written before and the hwrng still answers."""
    r = boots["devices"]
    lines = guest_lines(r)
    assert "mem" in value(r, "power states").split(), value(r, "power states")
    assert "[deep]" in value(r, "mem_sleep"), value(r, "mem_sleep")
    assert "suspending" in lines, r["output"][-3000:]
    assert "PM: suspend entry (deep)" in r["output"]
    assert "resumed from S3" in lines, r["output"][-3000:]
    assert lines.index("suspending") < lines.index("resumed from S3")
    assert "PM: suspend exit" in r["output"]
    assert value(r, "cpus online after resume") == "0-1"
    assert value(r, "vda data after resume") == value(r, "vda data")
    random = value(r, "hwrng after resume")
    assert re.fullmatch(r"[0-9a-f]{32}", random) and random != "0" * 32, random
    assert r["status"] == 0, "and it powers off as before"


def test_syscall_sysret_round_trip(boots):
    """guest/tests/syscall.c under kiln on the nested host: SYSCALL lands at
    LSTAR at CPL0 with RCX, R11 and FMASK as the SDM says; SYSRETQ returns."""
    r = boots["guest-syscall"]
    lines = r["output"].splitlines()
    assert not [l for l in lines if l.startswith("FAIL")], r["output"]
    assert sum(l.startswith("PASS: ") for l in lines) == 7, r["output"]
    assert r["status"] == 1, f"debug-exit code 0 gives 1, got {r['status']}\n{r['output']}"
