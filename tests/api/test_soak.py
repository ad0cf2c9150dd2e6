# SPDX-License-Identifier: MIT
"""10^4 mixed valid and invalid requests from several threads at once against
kiln built with ASan and UBSan: every one answered, kiln still answers after,
and no sanitizer report."""
import json
import random
import socket
import threading
import time

from apiclient import request

THREADS = 4
REQUESTS_PER_THREAD = 2500
TIME_LIMIT_S = 240

CASES = [
    ("GET", "/", None, 200),
    ("GET", "/version", None, 200),
    ("GET", "/machine-config", None, 200),
    ("GET", "/vm/config", None, 200),
    ("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 256}, 204),
    ("PATCH", "/machine-config", {"mem_size_mib": 128}, 204),
    ("PUT", "/boot-source", {"kernel_image_path": "/k", "boot_args": "a pci=off b"}, 204),
    ("PUT", "/drives/d1", {"drive_id": "d1", "path_on_host": "/d1", "is_root_device": False}, 204),
    ("PUT", "/drives/d2", {"drive_id": "d2", "path_on_host": "/d2", "is_root_device": False,
                           "partuuid": "p", "cache_type": "Writeback"}, 204),
    ("PUT", "/entropy", {}, 204),
    ("PUT", "/machine-config", {"vcpu_count": -1, "mem_size_mib": 1 << 62}, 400),
    ("PUT", "/machine-config", {"vcpu_count": 1.5, "mem_size_mib": 64}, 400),
    ("PUT", "/drives/x", {"drive_id": "y", "is_root_device": True}, 400),
    ("PUT", "/drives/%00", {"drive_id": "\u0000", "is_root_device": True}, 400),
    ("PUT", "/drives/" + "a" * 80, {"drive_id": "a" * 80, "is_root_device": True}, 400),
    ("PUT", "/boot-source", "{{{{", 400),
    ("PUT", "/boot-source", "\"just a string\"", 400),
    ("PUT", "/boot-source", "null", 400),
    ("PUT", "/boot-source", json.dumps({"kernel_image_path": "\u00e9" * 100}), 204),
    ("PUT", "/boot-source", "x" * 52000, 400),
    ("PUT", "/actions", {"action_type": None}, 400),
    ("PATCH", "/vm", {"state": "Paused"}, 400),
    ("PUT", "/logger", {"level": 3}, 400),
    ("GET", "/" + "z" * 500, None, 400),
    ("POST", "/", None, 405),
]


def worker(sock, seed, failures):
    rng = random.Random(seed)
    for _ in range(REQUESTS_PER_THREAD):
        method, path, body, expected = rng.choice(CASES)
        try:
            status, _ = request(sock, method, path, body, timeout=30)
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(f"{method} {path}: {exc!r}")
            continue
        if status != expected:
            failures.append(f"{method} {path}: {status}, expected {expected}")


def raw_garbage(sock):
    """Bytes that are not HTTP, and a connection closed half-way."""
    for payload in (b"\x00\xff" * 300, b"GET / HTTP/9.9\r\n\r\n", b"PUT /actions HTTP/1.1\r\n"):
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(sock)
        conn.sendall(payload)
        conn.close()


def test_soak_under_asan(start_kiln, kiln_asan):
    instance = start_kiln(binary=kiln_asan,
                          env={"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0",
                               "UBSAN_OPTIONS": "print_stacktrace=1"})
    failures = []
    threads = [threading.Thread(target=worker, args=(instance.sock, seed, failures))
               for seed in range(THREADS)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    raw_garbage(instance.sock)
    for thread in threads:
        thread.join(TIME_LIMIT_S)
        assert not thread.is_alive(), "the soak did not finish in time"
    assert not failures, f"{len(failures)} bad answers, first: {failures[:5]}"
    assert time.monotonic() - start < TIME_LIMIT_S
    assert instance.request("GET", "/")[0] == 200
    assert instance.stop() == 128 + 15
    stderr = instance.stderr()
    assert "AddressSanitizer" not in stderr and "LeakSanitizer" not in stderr, stderr[-4000:]
    assert "runtime error" not in stderr, stderr[-4000:]
