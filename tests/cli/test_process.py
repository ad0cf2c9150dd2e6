# SPDX-License-Identifier: MIT
"""kiln as a process: exit statuses for each way a guest ends, signals, the
quit key, and the terminal left as it was found."""
import os
import pty
import signal
import subprocess
import termios
import time

import pytest

import tinyguest

TIMEOUT = 60


def run_guest(kiln, image, *args):
    return subprocess.run([kiln, "run", "--kernel", image, *args], capture_output=True,
                          timeout=TIMEOUT, stdin=subprocess.DEVNULL)


def test_poweroff_exits_zero(kiln, kvm, tmp_path):
    image = tinyguest.write(tmp_path / "g.elf", "powering off\n", "poweroff")
    proc = run_guest(kiln, image)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"powering off\n"
    assert proc.stderr == b""


def test_reset_exits_zero(kiln, kvm, tmp_path):
    image = tinyguest.write(tmp_path / "g.elf", "reset\n", "reset")
    proc = run_guest(kiln, image)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"reset\n"


@pytest.mark.parametrize("code,status", [(0, 1), (1, 3), (38, 77), (0x7F, 0xFF)])
def test_debug_exit_status(kiln, kvm, tmp_path, code, status):
    image = tinyguest.write(tmp_path / "g.elf", "x", tinyguest.debug_exit(code))
    proc = run_guest(kiln, image, "--debug-exit")
    assert proc.returncode == status
    assert proc.stdout == b"x"


def test_read_past_end_of_ram_is_an_mmio_exit(kiln, kvm, tmp_path):
    """The byte after the last byte of RAM is not host memory: the guest's
    read reaches kiln as an MMIO exit and reads all-ones."""
    ram = 64 << 20
    image = tinyguest.write(tmp_path / "g.elf", "", tinyguest.read_then_poweroff(ram))
    proc = run_guest(kiln, image, "--memory", "64", "--trace-mmio")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.decode().splitlines() == [
        f"mmio: read addr=0x{ram:x} size=4 data=0xffffffff"]


@pytest.mark.parametrize("flags,seen", [([], b"\xff\xff"), (["--test-devices"], b"ZD")])
def test_pc_testdev_only_with_test_devices(kiln, kvm, tmp_path, flags, seen):
    """QEMU's pc-testdev is on the machine only when asked for: without
    --test-devices its scratch port and MMIO buffer are unassigned (reads see
    all-ones, writes vanish)."""
    image = tinyguest.write(tmp_path / "g.elf", "", tinyguest.probe_pc_testdev())
    proc = run_guest(kiln, image, *flags)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == seen


@pytest.mark.parametrize("limit,kept", [("64K", 65536), (None, 81920)])
def test_serial_output_to_a_file_is_bounded(kiln, kvm, tmp_path, limit, kept):
    """kiln's standard output redirected to a file: COM1's output stops at
    --console-limit with one line on stderr, and the guest powers off as
    usual; under the limit (the default is 64 MiB) every byte arrives."""
    image = tinyguest.write(tmp_path / "g.elf", "", tinyguest.flood_com1(81920))
    out_path = tmp_path / "com1.txt"
    args = ["--console-limit", limit] if limit else []
    with open(out_path, "wb") as out:
        proc = subprocess.run([kiln, "run", "--kernel", image, *args], stdout=out,
                              stderr=subprocess.PIPE, timeout=TIMEOUT,
                              stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert out_path.read_bytes() == b"x" * kept
    lines = proc.stderr.decode().splitlines()
    if limit:
        assert lines == ["kiln: warning: COM1 output file reached its limit of 65536 bytes "
                         "(--console-limit); further output dropped"]
    else:
        assert lines == []


def test_console_none_discards_output(kiln, kvm, tmp_path):
    image = tinyguest.write(tmp_path / "g.elf", "hidden", "poweroff")
    proc = run_guest(kiln, image, "--console", "none")
    assert proc.returncode == 0
    assert proc.stdout == b""


def test_triple_fault_ends_with_register_dump(kiln, kvm, tmp_path):
    image = tinyguest.write(tmp_path / "g.elf", "", "triple-fault")
    proc = run_guest(kiln, image)
    assert proc.returncode == 1
    lines = proc.stderr.decode().splitlines()
    assert lines[0] == "kiln: error: vCPU 0: triple fault (the guest's CPU reset itself)"
    dump = "\n".join(lines[1:])
    for reg in ("rip=", "rsp=", "cr0=", "efer=", "cs ", "idt base="):
        assert reg in dump


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_vm(kiln, kvm, tmp_path, sig):
    image = tinyguest.write(tmp_path / "g.elf", "up\n", "hang")
    proc = subprocess.Popen([kiln, "run", "--kernel", image, "--cpus", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    assert proc.stdout.read(3) == b"up\n"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 128 + sig, err
    assert err == b""


class Pty:
    """kiln on a pseudo-terminal, as a user at a shell would run it."""

    def __init__(self, argv):
        self.master, self.slave = os.openpty()
        self.before = termios.tcgetattr(self.slave)
        self.proc = subprocess.Popen(argv, stdin=self.slave, stdout=self.slave,
                                     stderr=self.slave, start_new_session=True)
        self.output = b""

    def read_until(self, needle, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while needle not in self.output:
            assert time.monotonic() < deadline, f"no {needle!r} in {self.output!r}"
            self.output += os.read(self.master, 4096)

    def attrs(self):
        return termios.tcgetattr(self.slave)

    def finish_reading(self):
        """Wait for the exit, keeping everything kiln wrote to the terminal."""
        status = self.proc.wait(timeout=TIMEOUT)
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                break
            if not chunk:
                break
            self.output += chunk
            if len(chunk) < 4096:
                break
        after = self.attrs()
        os.close(self.master)
        os.close(self.slave)
        return status, after

    def finish(self):
        status = self.proc.wait(timeout=TIMEOUT)
        after = self.attrs()
        os.close(self.master)
        os.close(self.slave)
        return status, after


def test_terminal_raw_while_running_and_restored_after_signal(kiln, kvm, tmp_path):
    image = tinyguest.write(tmp_path / "g.elf", "up\n", "hang")
    term = Pty([kiln, "run", "--kernel", image])
    term.read_until(b"up")
    lflag = term.attrs()[3]
    assert not lflag & termios.ICANON, "guest console must be in raw mode"
    assert not lflag & termios.ISIG, "Ctrl-C must reach the guest"
    term.proc.send_signal(signal.SIGTERM)
    status, after = term.finish()
    assert status == 128 + signal.SIGTERM
    assert after == term.before


@pytest.mark.parametrize("ending,status", [("poweroff", 0), ("triple-fault", 1)])
def test_terminal_restored_after_guest_ends(kiln, kvm, tmp_path, ending, status):
    image = tinyguest.write(tmp_path / "g.elf", "bye\n", ending)
    term = Pty([kiln, "run", "--kernel", image])
    got, after = term.finish()
    assert got == status
    assert after == term.before


def test_quit_key(kiln, kvm, tmp_path):
    image = tinyguest.write(tmp_path / "g.elf", "up\n", "hang")
    term = Pty([kiln, "run", "--kernel", image])
    term.read_until(b"up")
    os.write(term.master, b"\x01x")
    status, after = term.finish()
    assert status == 0
    assert after == term.before


def test_pvm_profile_notice_on_a_terminal(kiln, kvm, tmp_path):
    """On a PVM host a person at a terminal is told about the pvm-safe
    profile, in one line; captured stderr stays quiet (other tests)."""
    image = tinyguest.write(tmp_path / "g.elf", "bye\n", "poweroff")
    term = Pty([kiln, "run", "--kernel", image])
    status, after = term.finish_reading()
    assert status == 0
    notice = [l for l in term.output.decode().splitlines() if "notice" in l]
    if os.path.exists("/sys/module/kvm_pvm"):
        assert notice == ["kiln: notice: PVM host: using the pvm-safe CPU profile "
                          "(--no-pvm-profile to turn it off)\r"] or notice == [
            "kiln: notice: PVM host: using the pvm-safe CPU profile "
            "(--no-pvm-profile to turn it off)"], notice
    else:
        assert notice == []
