# SPDX-License-Identifier: MIT
"""seccomp filters per thread kind. build/kiln-seccomp-test (kiln built with
its test hooks) makes the thread kind named in $KILN_SECCOMP_TEST_VIOLATE
open a netlink socket once its filter is on; no list allows that, so kiln
must die of SIGSYS, and with --seccomp log the same run must go on."""
import atexit
import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from holding import holding_kiln, threads
from paths import BUILD

HOOKED = BUILD / "kiln-seccomp-test"
TIMEOUT = 90
SECTORS = (16 << 20) // 512


@pytest.fixture(scope="session")
def hooked():
    assert HOOKED.is_file(), f"{HOOKED} is missing: run `make {HOOKED.relative_to(BUILD.parent)}`"
    return str(HOOKED)


_NET_NS = []


def net_namespace():
    """A network namespace with a tap for worker-net's runs, made once and
    removed at exit, so no host interface is touched."""
    if not _NET_NS:
        name = f"kiln-seccomp-{os.getpid()}"
        subprocess.run(["ip", "netns", "add", name], check=True)
        atexit.register(subprocess.run, ["ip", "netns", "delete", name])
        for args in (["tuntap", "add", "dev", "kseccomp0", "mode", "tap"],
                     ["addr", "add", "10.78.0.1/24", "dev", "kseccomp0"],
                     ["link", "set", "kseccomp0", "up"]):
            subprocess.run(["ip", "netns", "exec", name, "ip", *args], check=True)
        _NET_NS.append(name)
    return _NET_NS[0]


def guest_argv(binary, kind, tmp_path):
    """A test guest that makes kiln run the thread kind, serving its queue."""
    argv = [binary, "run", "--debug-exit", "--memory", "64"]
    if kind == "worker-net":
        return ["ip", "netns", "exec", net_namespace()] + argv + [
            "--kernel", str(BUILD / "guest" / "virtio_net.elf"),
            "--net", "tap=kseccomp0,mac=02:00:00:78:00:02"]
    if kind == "worker-blk":
        image = tmp_path / "disk.img"
        image.write_bytes(b"\0" * (SECTORS * 512))
        return argv + ["--kernel", str(BUILD / "guest" / "virtio_blk.elf"),
                       "--cmdline", f"sectors={SECTORS}", "--disk", f"{image},serial=kilnguest"]
    if kind == "worker-console":
        return argv + ["--kernel", str(BUILD / "guest" / "virtio_console.elf"),
                       f"--virtio-console={tmp_path / 'hvc0.txt'}"]
    if kind == "worker-vsock":
        return argv + vsock_guest(tmp_path)
    rng = argv + ["--kernel", str(BUILD / "guest" / "virtio_rng.elf"), "--rng"]
    if kind == "net-user":
        # libslirp's thread runs from the start, whatever the guest does.
        return rng + ["--net", "user"]
    return rng


def vsock_guest(tmp_path):
    """The vsock guest, with a host program on PATH_5000 echoing its line."""
    path = tmp_path / "v.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(f"{path}_5000")
    listener.listen(1)

    def echo():
        with listener:
            conn, _ = listener.accept()
            with conn:
                conn.sendall(conn.recv(64))
                conn.recv(64)

    threading.Thread(target=echo, daemon=True).start()
    return ["--kernel", str(BUILD / "guest" / "virtio_vsock.elf"), "--cmdline",
            "cid=3 port=5000", "--vsock", f"cid=3,socket={path}"]


def run(argv, violate):
    env = dict(os.environ, KILN_SECCOMP_TEST_VIOLATE=violate)
    return subprocess.run(argv, capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
                          env=env, text=True)


def assert_guest_passed(proc):
    assert "FAIL" not in proc.stdout, proc.stdout + proc.stderr
    assert "SUMMARY: " in proc.stdout, proc.stdout + proc.stderr
    assert proc.returncode == 1, f"status {proc.returncode}\n{proc.stdout}{proc.stderr}"


GUEST_KINDS = ["vcpu", "main", "worker-blk", "worker-console", "worker-rng", "worker-vsock",
               "rtc", "worker-net", "net-user"]


@pytest.mark.parametrize("kind", GUEST_KINDS)
def test_a_forbidden_call_kills_kiln_with_sigsys(hooked, kvm, tmp_path, kind):
    proc = run(guest_argv(hooked, kind, tmp_path), kind)
    assert proc.returncode == -signal.SIGSYS, (
        f"status {proc.returncode}\n{proc.stdout}{proc.stderr}")


@pytest.mark.parametrize("kind", GUEST_KINDS)
def test_log_mode_lets_the_guest_run_on(hooked, kvm, tmp_path, kind):
    proc = run(guest_argv(hooked, kind, tmp_path) + ["--seccomp", "log"], kind)
    assert_guest_passed(proc)


def test_the_shipped_build_has_no_hook(kiln, kvm, tmp_path):
    proc = run(guest_argv(kiln, "worker-blk", tmp_path), "worker-blk")
    assert_guest_passed(proc)


def test_no_seccomp_says_so_once(hooked, kvm, tmp_path):
    proc = run(guest_argv(hooked, "vcpu", tmp_path) + ["--no-seccomp"], "vcpu")
    assert_guest_passed(proc)
    lines = [l for l in proc.stderr.splitlines() if "seccomp" in l]
    assert len(lines) == 1 and "filters are off" in lines[0], proc.stderr


def test_filters_are_on_by_default(kiln, kvm, tmp_path):
    """/proc shows the filters of a running kiln's threads (mode 2)."""
    argv = guest_argv(kiln, "worker-blk", tmp_path)
    argv[argv.index("--cmdline") + 1] += " hold=1"
    with holding_kiln(argv) as (proc, _):
        modes = {name: [l.split()[1] for l in status.splitlines() if l.startswith("Seccomp:")][0]
                 for name, status in threads(proc.pid, "status").items()}
        assert modes, "no threads"
        assert all(mode == "2" for mode in modes.values()), modes
        assert "vcpu0" in modes and "vq-blk0-0" in modes, modes


def http(sock_path, method, path, body=None):
    """One request on a new connection: the status code, or None when kiln
    closed the connection without answering."""
    data = json.dumps(body).encode() if body is not None else b""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(TIMEOUT)
        s.connect(sock_path)
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n"
                  f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                  "Connection: close\r\n\r\n".encode() + data)
        reply = b""
        try:
            while chunk := s.recv(4096):
                reply += chunk
        except ConnectionResetError:
            pass
    return int(reply.split()[1]) if reply.startswith(b"HTTP/1.1 ") else None


def start_api(binary, tmp_path, violate, *args):
    sock = str(tmp_path / "api.sock")
    env = dict(os.environ, KILN_SECCOMP_TEST_VIOLATE=violate)
    proc = subprocess.Popen([binary, "run", "--api-sock", sock, *args], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    for _ in range(1000):
        if os.path.exists(sock) or proc.poll() is not None:
            break
        time.sleep(0.01)
    assert os.path.exists(sock), proc.communicate()[1]
    return proc, sock


# What the API thread and the metrics flusher run for: a request, and PUT
# /metrics (which starts the flusher from the API thread).
API_KINDS = {
    "api": ("GET", "/", None),
    "metrics": ("PUT", "/metrics", "METRICS"),
}


def api_request(sock, tmp_path, kind):
    method, path, body = API_KINDS[kind]
    if body == "METRICS":
        body = {"metrics_path": str(tmp_path / "metrics.json")}
    return http(sock, method, path, body)


@pytest.mark.parametrize("kind", API_KINDS)
def test_api_threads_die_of_a_forbidden_call(hooked, tmp_path, kind):
    proc, sock = start_api(hooked, tmp_path, kind)
    try:
        api_request(sock, tmp_path, kind)
        proc.wait(timeout=TIMEOUT)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGSYS, proc.stderr.read()


@pytest.mark.parametrize("kind", API_KINDS)
def test_api_threads_run_on_in_log_mode(hooked, tmp_path, kind):
    proc, sock = start_api(hooked, tmp_path, kind, "--seccomp", "log")
    try:
        assert api_request(sock, tmp_path, kind) in (200, 204)
        assert http(sock, "GET", "/") == 200, "the server still answers"
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=TIMEOUT)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr.read()
