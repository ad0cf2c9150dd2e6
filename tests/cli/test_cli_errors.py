# SPDX-License-Identifier: MIT
"""Bad input gets one clear line and the documented exit status."""
import os
import pathlib
import shutil
import stat
import subprocess
import tempfile

import pytest

import tinyguest

USAGE = 2
ERROR = 1


def run(kiln, *args, env=None, timeout=30):
    full_env = dict(os.environ)
    full_env.pop("KILN_KVM_DEVICE", None)
    full_env.update(env or {})
    return subprocess.run([kiln, *args], capture_output=True, text=True, timeout=timeout,
                          env=full_env, stdin=subprocess.DEVNULL)


def one_error_line(proc, *needles):
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, f"expected one line, got: {proc.stderr!r}"
    assert lines[0].startswith("kiln: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


@pytest.mark.parametrize("args,needle", [
    (["run", "--kernel", "x", "--bogus"], "--bogus"),
    (["run"], "--kernel"),
    (["run", "--kernel", "x", "--cpus", "0"], "--cpus"),
    (["run", "--kernel", "x", "--memory", "lots"], "--memory"),
    (["run", "--kernel", "x", "--console", "vga"], "--console"),
    (["run", "--kernel", "x", "--disk", "d.img,queues=9"], "queues=9"),
    (["run", "--kernel", "x", "--disk", "d.img,poll=1001"], "poll=1001"),
    (["run", "--kernel", "x", "--disk", "d.img,poll=fast"], "poll=fast"),
    (["frobnicate"], "frobnicate"),
    ([], "no command"),
])
def test_usage_errors(kiln, args, needle):
    proc = run(kiln, *args)
    assert proc.returncode == USAGE
    one_error_line(proc, needle)
    assert proc.stdout == ""


def test_help_and_version(kiln):
    proc = run(kiln, "--help")
    assert proc.returncode == 0
    assert "usage: kiln run --kernel IMAGE" in proc.stdout
    assert "exit status" in proc.stdout
    proc = run(kiln, "--version")
    assert proc.returncode == 0
    assert proc.stdout.startswith("kiln ")


def test_missing_kernel(kiln, kvm, tmp_path):
    missing = tmp_path / "no-such-kernel"
    proc = run(kiln, "run", "--kernel", str(missing))
    assert proc.returncode == ERROR
    one_error_line(proc, str(missing))


@pytest.mark.parametrize("content", [b"", b"\x7fELF" + b"\0" * 60, os.urandom(64 * 1024)],
                         ids=["empty", "truncated-elf", "random"])
def test_corrupt_kernel(kiln, kvm, tmp_path, content):
    image = tmp_path / "kernel.img"
    image.write_bytes(content)
    proc = run(kiln, "run", "--kernel", str(image))
    assert proc.returncode == ERROR
    one_error_line(proc, str(image))


def test_missing_initrd(kiln, kvm, tmp_path):
    kernel = tinyguest.write(tmp_path / "g.elf", "", "poweroff")
    proc = run(kiln, "run", "--kernel", kernel, "--initrd", str(tmp_path / "nope"))
    assert proc.returncode == ERROR
    one_error_line(proc, "nope")


@pytest.mark.parametrize("how", ["option", "env"])
@pytest.mark.parametrize("device,needle", [
    ("/nonexistent/kvm", "no such file"),
    ("/dev/null", "not a KVM device"),
])
def test_bogus_kvm_device(kiln, tmp_path, how, device, needle):
    image = tinyguest.write(tmp_path / "g.elf", "", "poweroff")
    if how == "option":
        proc = run(kiln, "run", "--kernel", str(image), "--kvm-device", device)
    else:
        proc = run(kiln, "run", "--kernel", str(image), env={"KILN_KVM_DEVICE": device})
    assert proc.returncode == ERROR
    one_error_line(proc, device, needle)


def test_kvm_permission_denied(kiln, kvm):
    """As a user without access to the KVM device: one line naming the problem.
    A private copy of the device node (mode 0600) makes this independent of
    how the host sets up /dev/kvm; kiln and the image are copied where the
    unprivileged user can reach them."""
    assert os.geteuid() == 0, "this test creates a device node: run the tests as root"
    work = pathlib.Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        os.chmod(work, 0o755)
        device = work / "kvm"
        os.mknod(device, 0o600 | stat.S_IFCHR, os.stat(kvm).st_rdev)
        binary = work / "kiln"
        shutil.copy(kiln, binary)
        image = tinyguest.write(work / "g.elf", "", "poweroff")
        os.chmod(image, 0o644)
        proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                               str(binary), "run", "--kernel", image, "--kvm-device",
                               str(device)], capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
    finally:
        shutil.rmtree(work)
    assert proc.returncode == ERROR, proc.stderr
    one_error_line(proc, str(device), "permission denied")


def test_info_reports_host(kiln, kvm):
    proc = run(kiln, "info")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "KVM API version: 12" in out
    assert "backend: " in out
    assert "KVM_CAP_IRQCHIP" in out and "yes" in out
    assert "max vCPUs: " in out
    assert "transparent huge pages: " in out
    backend = next(l for l in out.splitlines() if l.startswith("backend: ")).split(": ")[1]
    if os.path.exists("/sys/module/kvm_pvm"):
        assert backend == "PVM"
        assert "run emulated" in out


def test_info_with_bogus_device(kiln):
    proc = run(kiln, "info", "--kvm-device", "/nonexistent/kvm")
    assert proc.returncode == ERROR
    one_error_line(proc, "/nonexistent/kvm")
    # A newcomer without KVM learns what that means and how to run guests anyway.
    assert "cannot run guests here" in proc.stdout
    assert "scripts/nested-host.sh" in proc.stdout


@pytest.mark.parametrize("kernel, needle", [
    ("/nonexistent/bzImage", "no such file"),
    (__file__, "not a bzImage, PVH ELF or multiboot image"),
])
def test_kernel_checked_before_kvm(kiln, kernel, needle):
    """The first error names the first problem: a bad kernel, not the missing KVM."""
    proc = run(kiln, "run", "--kernel", kernel, "--kvm-device", "/nonexistent/kvm")
    assert proc.returncode == ERROR
    one_error_line(proc, kernel, needle)


def test_initrd_checked_before_kvm(kiln, tmp_path):
    kernel = tmp_path / "k"
    kernel.write_bytes(b"\0" * 0x202 + b"HdrS" + b"\0" * 64)
    proc = run(kiln, "run", "--kernel", str(kernel), "--initrd", "/nonexistent/initrd",
               "--kvm-device", "/nonexistent/kvm")
    assert proc.returncode == ERROR
    one_error_line(proc, "initrd '/nonexistent/initrd': no such file")
