# SPDX-License-Identifier: MIT
"""virtio-vsock under KVM with a freestanding driver (guest/tests/
virtio_vsock.c): the guest connects to a host program listening on
PATH_<port>, which echoes a line back; a connect to a port nobody listens
on is reset. Then the CLI's checks: the CID's range and a second kiln on
the same socket path."""
import socket
import subprocess
import threading

import pytest

import vmm
from paths import KILN

PORT = 5000


def echo_once(listener, got):
    conn, _ = listener.accept()
    with conn:
        data = b""
        while not data.endswith(b"\n"):
            chunk = conn.recv(64)
            if not chunk:
                break
            data += chunk
        got.append(data)
        conn.sendall(data)
        conn.recv(64)  # until the guest's SHUTDOWN closes the stream


def test_guest_connects_to_a_host_listener_and_gets_its_echo(kvm, tmp_path):
    path = tmp_path / "v.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(f"{path}_{PORT}")
    listener.listen(1)
    got = []
    thread = threading.Thread(target=echo_once, args=(listener, got), daemon=True)
    thread.start()
    status, out, err = vmm.run("kiln", "virtio_vsock", cmdline=f"cid=7 port={PORT}",
                               extra=["--vsock", f"cid=7,socket={path}"])
    thread.join(10)
    listener.close()
    vmm.assert_passed(status, out, err)
    assert "PASS: the host echoed 17 bytes" in out
    assert got == [b"hello over vsock\n"]
    assert not path.exists(), "kiln left its socket file behind"


@pytest.mark.parametrize("cid, message", [
    ("2", "it must be at least 3"), ("0", "it must be at least 3"),
    ("4294967295", "below 4294967295"), ("x", "bad setting 'cid=x'"),
])
def test_a_cid_out_of_range_is_refused_clearly(kiln, tmp_path, cid, message):
    proc = subprocess.run([kiln, "run", "--kernel", "/nonexistent", "--vsock",
                           f"cid={cid},socket={tmp_path / 'v.sock'}"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_vsock_needs_both_settings(kiln):
    proc = subprocess.run([kiln, "run", "--kernel", "/nonexistent", "--vsock", "cid=3"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "--vsock needs cid=N and socket=PATH" in proc.stderr


def test_a_second_kiln_on_the_same_path_is_refused(kvm, tmp_path):
    path = tmp_path / "v.sock"
    live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    live.bind(str(path))
    live.listen(1)  # what a first kiln's listener looks like
    try:
        status, out, err = vmm.run("kiln", "virtio_vsock", cmdline="cid=3 port=1",
                                   extra=["--vsock", f"cid=3,socket={path}"])
    finally:
        live.close()
    assert status == 1, err
    assert "another process (a second kiln?) already listens there" in err
    assert path.exists(), "the live listener's socket file was removed"


def test_a_file_that_is_not_a_socket_is_kept(kvm, tmp_path):
    """A path naming a regular file (a typo, an API client's mistake) is refused,
    and the file is left alone."""
    path = tmp_path / "notes.txt"
    path.write_text("precious\n")
    status, out, err = vmm.run("kiln", "virtio_vsock", cmdline="cid=3 port=1",
                               extra=["--vsock", f"cid=3,socket={path}"])
    assert status == 1, err
    assert "a file that is not a socket is there" in err
    assert path.read_text() == "precious\n"


def test_a_stale_socket_file_is_replaced(kvm, tmp_path):
    path = tmp_path / "v.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(f"{path}_{PORT}")
    listener.listen(1)
    got = []
    thread = threading.Thread(target=echo_once, args=(listener, got), daemon=True)
    thread.start()
    status, out, err = vmm.run("kiln", "virtio_vsock", cmdline=f"cid=3 port={PORT}",
                               extra=["--vsock", f"cid=3,socket={path}"])
    thread.join(10)
    listener.close()
    vmm.assert_passed(status, out, err)
    assert got == [b"hello over vsock\n"]
