# SPDX-License-Identifier: MIT
"""--hyperv: the Hyper-V enlightenments a guest reads and uses (guest/tests/
hyperv.c), under kiln and, as a reference, under QEMU with its hv- flags;
without --hyperv, the hypervisor leaves as before; and one clear error on a
KVM without Hyper-V emulation (PVM)."""
import os
import subprocess

import pytest

import vmm
from kvm_caps import kvm_lacks_hyperv
from paths import BUILD

VMMS = ["kiln"] + (["qemu"] if vmm.QEMU else [])

# QEMU's names for what `--hyperv` turns on.
QEMU_HV_CPU = ("host,hv-relaxed,hv-vpindex,hv-time,hv-synic,hv-stimer,hv-stimer-direct,"
               "hv-tlbflush")


def hyperv_args(which, features=None):
    if which == "kiln":
        return ["--hyperv" + (f"={features}" if features else "")]
    return ["-cpu", QEMU_HV_CPU]


@pytest.mark.parametrize("which", VMMS)
def test_hyperv_enlightenments(which, hyperv_kvm):
    """CPUID leaves, the hypercall page and the flush hypercall, the
    reference counter and TSC page against kvm-clock, a synthetic timer's
    message through SynIC and one in direct mode, VP index on 2 vCPUs."""
    status, out, err = vmm.run(which, "hyperv", cpus=2, extra=hyperv_args(which))
    vmm.assert_passed(status, out, err)
    for check in ("0x40000000 is Hyper-V's ('Microsoft Hv'",
                  "0x40000100 is KVM's ('KVMKVMKVM'",
                  "HvFlushVirtualAddressSpace succeeds (status 0)",
                  "reference counter advances with kvm-clock",
                  "SINT2's slot holds HVMSG_TIMER_EXPIRED",
                  "the message names timer 0",
                  "timer 1 in direct mode interrupted once on vector 0x51",
                  "vCPU 0's VP index is 0", "vCPU 1's VP index is 1"):
        assert f"PASS: {check}" in out, out


def test_hyperv_in_a_jail(hyperv_kvm, tmp_path):
    """All of --hyperv is set up before the jail: jailed as nobody in an
    empty DIR, the guest still gets every enlightenment."""
    assert os.geteuid() == 0, "the jail needs kiln started as root"
    jail = tmp_path / "jail"
    jail.mkdir()
    jail.chmod(0o755)
    status, out, err = vmm.run("kiln", "hyperv", cpus=2, extra=[
        "--hyperv", "--jail", str(jail), "--uid", "65534", "--gid", "65534"])
    vmm.assert_passed(status, out, err)
    assert "PASS: SINT2's slot holds HVMSG_TIMER_EXPIRED" in out, out


def test_hyperv_only_what_was_asked(hyperv_kvm):
    """--hyperv=relaxed offers the relaxed-timing hint alone, and KVM
    (told to enforce the leaves) refuses the MSRs of what was not asked."""
    status, out, err = vmm.run("kiln", "hyperv", cmdline="expect=relaxed",
                               extra=hyperv_args("kiln", "relaxed"))
    vmm.assert_passed(status, out, err)
    assert "PASS: the reference counter MSR is refused" in out, out


@pytest.mark.parametrize("which", VMMS)
def test_leaves_as_before_without_hyperv(which, kvm):
    status, out, err = vmm.run(which, "hyperv", cmdline="expect=none")
    vmm.assert_passed(status, out, err)
    assert "PASS: without --hyperv, 0x40000000 is KVM's ('KVMKVMKVM')" in out, out


def test_hyperv_on_a_kvm_without_it(kiln, kvm):
    """Where KVM has no Hyper-V emulation (PVM), --hyperv is one clear error
    line and status 1; where it has, the same command boots the guest."""
    status, out, err = vmm.run("kiln", "hyperv", cmdline="expect=relaxed",
                               extra=hyperv_args("kiln", "relaxed"))
    if kvm_lacks_hyperv(kiln):
        assert status == 1, out + err
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("kiln: error: --hyperv: "), err
        assert "Hyper-V" in lines[0] or "KVM_CAP_HYPERV" in lines[0], err
        assert out == "", out
    else:
        vmm.assert_passed(status, out, err)


def test_linux_boots_with_hyperv(linux_kvm, hyperv_kvm, kiln):
    """kiln's small kernel and the default initramfs with --hyperv on 2 vCPUs:
    Linux finds KVM at 0x40000100 (it prefers KVM's interface when both are
    there), keeps kvm-clock and reaches userspace; power-off exits 0."""
    kernel = BUILD / "linux-small" / "bzImage"
    initrd = BUILD / "linux-guest" / "initramfs.cpio.gz"
    assert kernel.is_file() and initrd.is_file(), "run `make linux-small linux-guest` first"
    try:
        proc = subprocess.run([kiln, "run", "--kernel", str(kernel), "--initrd", str(initrd),
                               "--cpus", "2", "--memory", "256", "--cmdline", "console=ttyS0",
                               "--hyperv"], capture_output=True, timeout=300,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("no power-off within 300 s:\n" +
                             (e.stdout or b"").decode(errors="replace")[-4000:]) from None
    out = (proc.stdout + proc.stderr).decode(errors="replace")
    assert proc.returncode == 0, out[-4000:]
    for line in ("Hypervisor detected: KVM", "kiln-guest: ready", "kiln-guest: nproc 2",
                 "kiln-guest: clocksource kvm-clock"):
        assert line in out, out[-4000:]
