# SPDX-License-Identifier: MIT
"""Run a test guest under kiln or, as a reference, under QEMU with KVM."""
import shutil
import subprocess

from paths import BUILD, KILN

TIMEOUT = 90
QEMU = shutil.which("qemu-system-x86_64")


def guest_path(name):
    path = BUILD / "guest" / f"{name}.elf"
    assert path.is_file(), f"{path} is missing: run `make`"
    return str(path)


def command(vmm, guest, cpus=1, memory=256, cmdline="", debug_exit=True, extra=()):
    if vmm == "kiln":
        argv = [str(KILN), "run", "--kernel", guest_path(guest), "--cpus", str(cpus),
                "--memory", str(memory), "--cmdline", cmdline]
        if debug_exit:
            argv.append("--debug-exit")
    else:
        argv = [QEMU, "-accel", "kvm", "-M", "pc", "-m", str(memory), "-smp", str(cpus),
                "-kernel", guest_path(guest), "-append", cmdline, "-serial", "stdio",
                "-display", "none", "-nodefaults", "-no-reboot"]
        if debug_exit:
            argv += ["-device", "isa-debug-exit,iobase=0xf4,iosize=4"]
    return argv + list(extra)


def run(vmm, guest, **kwargs):
    """Returns (exit status, stdout text, stderr text)."""
    proc = subprocess.run(command(vmm, guest, **kwargs), capture_output=True, timeout=TIMEOUT,
                          stdin=subprocess.DEVNULL)
    return proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(
        errors="replace")


def assert_passed(status, out, err):
    """kvm-unit-tests conventions: no FAIL line, a SUMMARY line, exit 0 -> 1."""
    lines = out.splitlines()
    fails = [l for l in lines if l.startswith("FAIL")]
    assert not fails, "\n".join(fails) + "\n" + out + err
    summary = [l for l in lines if l.startswith("SUMMARY: ")]
    assert summary, f"no SUMMARY line:\n{out}{err}"
    assert "unexpected failures" not in summary[-1]
    assert any(l.startswith("PASS: ") for l in lines), out
    assert status == 1, f"exit status {status} (debug-exit code 0 gives 1)\n{out}{err}"
