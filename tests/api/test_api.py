# SPDX-License-Identifier: MIT
"""Firecracker's API on kiln's socket, before any machine exists (no KVM
needed: kiln only opens KVM at InstanceStart)."""
import json
import os
import socket
import subprocess
import time

import pytest

POST_BOOT_ONLY = "not supported before starting the microVM"
PRE_BOOT_ONLY = "not supported after starting the microVM"


def curl(sock, method, path, body=None):
    """As a user types it: curl --unix-socket."""
    args = ["curl", "-sS", "--unix-socket", sock, "-X", method, f"http://localhost{path}",
            "-H", "Accept: application/json", "-w", "\n%{http_code}"]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=20, check=True).stdout
    text, _, code = out.rpartition("\n")
    return int(code), (json.loads(text) if text.strip() else None)


def fault(reply):
    status, body = reply
    assert 400 <= status < 500, reply
    assert set(body) == {"fault_message"}, body
    return body["fault_message"]


def test_getting_started_with_curl(api, tmp_path):
    kernel = tmp_path / "vmlinux"
    kernel.write_bytes(b"\0" * 4096)
    rootfs = tmp_path / "rootfs.ext4"
    rootfs.write_bytes(b"\0" * 65536)
    assert curl(api.sock, "PUT", "/boot-source", {
        "kernel_image_path": str(kernel),
        "boot_args": "console=ttyS0 reboot=k panic=1 pci=off"}) == (204, None)
    assert curl(api.sock, "PUT", "/drives/rootfs", {
        "drive_id": "rootfs", "path_on_host": str(rootfs),
        "is_root_device": True, "is_read_only": False}) == (204, None)
    assert curl(api.sock, "PUT", "/machine-config",
                {"vcpu_count": 2, "mem_size_mib": 1024}) == (204, None)
    status, config = curl(api.sock, "GET", "/vm/config")
    assert status == 200
    # pci=off is dropped: kiln's virtio devices are PCI devices.
    assert config["boot-source"] == {"kernel_image_path": str(kernel), "initrd_path": None,
                                     "boot_args": "console=ttyS0 reboot=k panic=1"}
    assert [d["drive_id"] for d in config["drives"]] == ["rootfs"]
    assert config["drives"][0]["path_on_host"] == str(rootfs)
    assert config["machine-config"]["vcpu_count"] == 2
    assert curl(api.sock, "GET", "/")[1]["state"] == "Not started"


def test_instance_info_and_version(start_kiln):
    instance = start_kiln("--id", "vm-42")
    status, info = instance.request("GET", "/")
    assert status == 200
    assert info["id"] == "vm-42" and info["app_name"] == "kiln"
    assert info["state"] == "Not started"
    status, version = instance.request("GET", "/version")
    assert status == 200
    assert version["firecracker_version"] == info["vmm_version"]
    assert version["firecracker_version"] in subprocess.run(
        [instance.proc.args[0], "--version"], capture_output=True, text=True).stdout


def test_default_instance_id(api):
    assert api.request("GET", "/")[1]["id"] == "anonymous-instance"


def test_preboot_configuration_round_trip(api, tmp_path):
    files = {name: tmp_path / name for name in ("kernel", "initrd", "a.img", "b.img", "c.img")}
    for path in files.values():
        path.write_bytes(b"\0" * 4096)
    puts = [
        ("/machine-config", {"vcpu_count": 4, "mem_size_mib": 300, "smt": False,
                             "track_dirty_pages": True, "huge_pages": "Transparent"}),
        ("/boot-source", {"kernel_image_path": str(files["kernel"]),
                          "initrd_path": str(files["initrd"])}),
        ("/drives/data", {"drive_id": "data", "path_on_host": str(files["a.img"]),
                          "is_root_device": False, "is_read_only": True,
                          "cache_type": "Writeback", "io_engine": "Async"}),
        ("/drives/root_1", {"drive_id": "root_1", "path_on_host": str(files["b.img"]),
                            "is_root_device": True, "partuuid": "0eaa91a0-01"}),
        # The same id again replaces the drive.
        ("/drives/data", {"drive_id": "data", "path_on_host": str(files["c.img"]),
                          "is_root_device": False}),
        ("/metrics", {"metrics_path": str(tmp_path / "metrics.fifo")}),
        ("/logger", {"log_path": str(tmp_path / "log"), "level": "warning",
                     "show_level": True}),
        ("/entropy", {}),
    ]
    for path, body in puts:
        assert api.request("PUT", path, body) == (204, None), path
    assert api.request("PATCH", "/machine-config", {"mem_size_mib": 512}) == (204, None)
    status, machine = api.request("GET", "/machine-config")
    assert status == 200
    assert machine == {"vcpu_count": 4, "mem_size_mib": 512, "smt": False,
                       "track_dirty_pages": True, "huge_pages": "Transparent"}
    status, config = api.request("GET", "/vm/config")
    assert status == 200
    assert config["machine-config"] == machine
    # No boot_args: kiln's default, with the serial console.
    assert config["boot-source"] == {"kernel_image_path": str(files["kernel"]),
                                     "initrd_path": str(files["initrd"]),
                                     "boot_args": "console=ttyS0 reboot=k panic=1"}
    drives = {d["drive_id"]: d for d in config["drives"]}
    assert list(drives) == ["data", "root_1"]
    assert drives["data"]["path_on_host"] == str(files["c.img"])
    assert drives["data"]["is_read_only"] is False and drives["data"]["cache_type"] == "Unsafe"
    assert drives["root_1"]["is_root_device"] is True
    assert drives["root_1"]["partuuid"] == "0eaa91a0-01"
    assert config["metrics"] == {"metrics_path": str(tmp_path / "metrics.fifo")}
    assert config["logger"]["level"] == "Warning" and config["logger"]["show_level"] is True
    assert config["entropy"] == {}
    assert config["network-interfaces"] == [] and config["vsock"] is None


def test_vsock_in_firecrackers_form(api, tmp_path):
    body = {"vsock_id": "vsock0", "guest_cid": 3, "uds_path": str(tmp_path / "v.sock")}
    assert api.request("PUT", "/vsock", body) == (204, None)
    status, config = api.request("GET", "/vm/config")
    assert status == 200
    # vsock_id is deprecated in Firecracker: accepted, not reported.
    assert config["vsock"] == {"guest_cid": 3, "uds_path": str(tmp_path / "v.sock")}


@pytest.mark.parametrize("body,needle", [
    ({"guest_cid": 2, "uds_path": "/v.sock"}, "at least 3"),
    ({"guest_cid": 4294967295, "uds_path": "/v.sock"}, "below 4294967295"),
    ({"guest_cid": 3}, "missing field `uds_path`"),
    ({"guest_cid": "3", "uds_path": "/v.sock"}, "guest_cid"),
    ({"guest_cid": 3, "uds_path": "/v.sock", "colour": 1}, "unknown field `colour`"),
])
def test_vsock_errors(api, body, needle):
    message = fault(api.request("PUT", "/vsock", body))
    assert needle in message, message
    assert api.request("GET", "/vm/config")[1]["vsock"] is None


def test_failed_request_changes_nothing(api):
    assert api.request("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 128}) == \
        (204, None)
    fault(api.request("PUT", "/machine-config", {"vcpu_count": 3, "mem_size_mib": 2}))
    assert api.request("GET", "/machine-config")[1]["vcpu_count"] == 2


@pytest.mark.parametrize("method,path,body,needle", [
    ("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 128, "colour": "red"},
     "unknown field `colour`"),
    ("PUT", "/machine-config", {"vcpu_count": "two", "mem_size_mib": 128}, "vcpu_count"),
    ("PUT", "/machine-config", {"vcpu_count": 1}, "missing field `mem_size_mib`"),
    ("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 128, "smt": True}, "smt"),
    ("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 128, "cpu_template": "C3"},
     "C3"),
    ("PUT", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 128, "huge_pages": "2M"},
     "2M"),
    ("PUT", "/machine-config", {"vcpu_count": 0, "mem_size_mib": 128}, "vcpu_count"),
    ("PUT", "/boot-source", {"boot_args": "quiet"}, "missing field `kernel_image_path`"),
    ("PUT", "/boot-source", {"kernel_image_path": 7}, "kernel_image_path"),
    ("PUT", "/boot-source", [1, 2], "JSON object"),
    ("PUT", "/drives/bad-id", {"drive_id": "bad-id", "path_on_host": "/x",
                               "is_root_device": False}, "bad-id"),
    ("PUT", "/drives/a", {"drive_id": "b", "path_on_host": "/x", "is_root_device": False},
     "does not match"),
    ("PUT", "/drives/a", {"drive_id": "a", "path_on_host": "/x"},
     "missing field `is_root_device`"),
    ("PUT", "/drives/a", {"drive_id": "a", "path_on_host": "/x", "is_root_device": False,
                          "rate_limiter": {"bandwidth": {"size": 1, "refill_time": 1}}},
     "rate_limiter"),
    ("PUT", "/drives/a", {"drive_id": "a", "socket": "/x.sock", "is_root_device": False},
     "socket"),
    ("PUT", "/drives/a", {"drive_id": "a", "path_on_host": "/x", "is_root_device": False,
                          "cache_type": "Fast"}, "cache_type"),
    ("PUT", "/entropy", {"rate_limiter": {"ops": {"size": 1, "refill_time": 1}}},
     "rate_limiter"),
    ("PUT", "/logger", {"level": "Loud"}, "Loud"),
    ("PUT", "/metrics", {}, "missing field `metrics_path`"),
    ("PUT", "/actions", {"action_type": "Explode"}, "Explode"),
    ("PUT", "/actions", {}, "missing field `action_type`"),
    ("PATCH", "/vm", {"state": "Paused"}, POST_BOOT_ONLY),
    ("PATCH", "/vm", {"state": "Sleeping"}, "Sleeping"),
    ("PATCH", "/drives/a", {"drive_id": "a", "path_on_host": "/x"}, POST_BOOT_ONLY),
    ("PUT", "/actions", {"action_type": "SendCtrlAltDel"}, POST_BOOT_ONLY),
    ("PUT", "/actions", {"action_type": "FlushMetrics"}, "metrics"),
    ("GET", "/no-such-path", None, "/no-such-path"),
    ("DELETE", "/machine-config", None, "DELETE"),
    ("PUT", "/boot-source", None, "Empty PUT request"),
    ("PUT", "/boot-source", "{\"kernel_image_path\": ", "deserializing"),
    ("PUT", "/boot-source", "{\"kernel_image_path\": \"a\", \"kernel_image_path\": \"b\"}",
     "duplicate"),
])
def test_errors_name_what_is_wrong(api, method, path, body, needle):
    message = fault(api.request(method, path, body))
    assert needle in message, message
    # kiln keeps answering.
    assert api.request("GET", "/")[0] == 200


def test_unknown_path_is_400_and_wrong_method_405(api):
    assert api.request("GET", "/nowhere")[0] == 400
    assert api.request("POST", "/actions", {"action_type": "InstanceStart"})[0] == 405


def test_two_root_drives_refused(api, tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).write_bytes(b"\0" * 512)
    assert api.request("PUT", "/drives/a", {"drive_id": "a", "path_on_host": str(tmp_path / "a"),
                                            "is_root_device": True}) == (204, None)
    message = fault(api.request("PUT", "/drives/b", {
        "drive_id": "b", "path_on_host": str(tmp_path / "b"), "is_root_device": True}))
    assert "root" in message and "`a`" in message
    # Replacing the root drive itself is fine.
    assert api.request("PUT", "/drives/a", {"drive_id": "a", "path_on_host": str(tmp_path / "b"),
                                            "is_root_device": True}) == (204, None)


def test_instance_start_needs_a_kernel(api, tmp_path):
    assert "kernel" in fault(api.request("PUT", "/actions", {"action_type": "InstanceStart"}))
    missing = tmp_path / "no-such-kernel"
    assert api.request("PUT", "/boot-source", {"kernel_image_path": str(missing)}) == (204, None)
    message = fault(api.request("PUT", "/actions", {"action_type": "InstanceStart"}))
    assert str(missing) in message
    assert api.request("GET", "/")[1]["state"] == "Not started"


def test_instance_start_without_kvm(start_kiln, tmp_path):
    instance = start_kiln("--kvm-device", "/nonexistent/kvm")
    # Recognised as a bzImage (its header magic), so the check that fails is KVM's.
    kernel = tmp_path / "kernel"
    kernel.write_bytes(b"\0" * 0x202 + b"HdrS" + b"\0" * 4096)
    assert instance.request("PUT", "/boot-source",
                            {"kernel_image_path": str(kernel)}) == (204, None)
    message = fault(instance.request("PUT", "/actions", {"action_type": "InstanceStart"}))
    assert "KVM" in message and "/nonexistent/kvm" in message
    # Still configurable and answering, still not started.
    assert instance.request("GET", "/")[1]["state"] == "Not started"
    assert instance.request("PUT", "/machine-config",
                            {"vcpu_count": 1, "mem_size_mib": 64}) == (204, None)


def test_a_stalled_client_blocks_no_one(api):
    stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stalled.connect(api.sock)
    stalled.sendall(b"PUT /boot-source HTTP/1.1\r\nHost: localhost\r\n"
                    b"Content-Length: 100\r\n\r\n{\"kernel_")
    start = time.monotonic()
    for _ in range(20):
        assert api.request("GET", "/", timeout=2)[0] == 200
    assert time.monotonic() - start < 2
    # The server drops the stalled connection after its timeout (10 s).
    stalled.settimeout(20)
    try:
        assert stalled.recv(4096) == b""
    except ConnectionResetError:
        pass
    assert time.monotonic() - start < 15
    stalled.close()


def test_body_over_the_limit(api):
    body = json.dumps({"kernel_image_path": "x" * 60000})
    message = fault(api.request("PUT", "/boot-source", body))
    assert "51200" in message
    assert api.request("GET", "/vm/config")[1]["boot-source"] is None
    # Just under the limit is a normal request.
    fine = json.dumps({"kernel_image_path": "k" * 50000})
    assert api.request("PUT", "/boot-source", fine) == (204, None)


def test_existing_socket_path_is_refused(kiln, tmp_path):
    taken = tmp_path / "api.sock"
    taken.write_text("")
    proc = subprocess.run([kiln, "run", "--api-sock", str(taken)], capture_output=True,
                          text=True, timeout=20, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kiln: error: "), proc.stderr
    assert str(taken) in lines[0] and "exists" in lines[0]
    assert taken.read_text() == ""  # left alone


def test_sigterm_ends_kiln_and_removes_the_socket(api):
    assert api.stop() == 128 + 15
    assert not os.path.exists(api.sock)
    assert api.stderr() == ""


# A custom CPU template in Firecracker's form: x2APIC off, MISC_ENABLE bit 0 off.
CPU_CONFIG = {
    "cpuid_modifiers": [{"leaf": "0x1", "subleaf": "0x0", "flags": 0, "modifiers": [
        {"register": "ecx", "bitmap": "0b" + "x" * 10 + "0" + "x" * 21}]}],
    "msr_modifiers": [{"addr": "0x1a0", "bitmap": "0b" + "x" * 63 + "0"}],
}


def test_cpu_config_before_start(api):
    assert curl(api.sock, "PUT", "/cpu-config", CPU_CONFIG) == (204, None)
    assert curl(api.sock, "PUT", "/cpu-config", {}) == (204, None), "a new one replaces it"
    assert curl(api.sock, "PUT", "/cpu-config", {"cpuid_modifiers": [],
                                                 "kvm_capabilities": []}) == (204, None)


@pytest.mark.parametrize("body,needle", [
    ([], "cpu-config: must be a JSON object"),
    ({"cpuid_modifiers": {}}, "cpu-config: cpuid_modifiers must be an array"),
    ({"cpuid_modifiers": [{"leaf": 1, "subleaf": "0", "modifiers": []}]},
     "cpuid_modifiers[0].leaf must be a string holding a number"),
    ({"cpuid_modifiers": [{"leaf": "0x1", "subleaf": "0x0", "modifiers": [
        {"register": "eax", "bitmap": "0b101"}]}]},
     "cpuid_modifiers[0].modifiers[0].bitmap must have 32 bits after 0b (it has 3)"),
    ({"cpuid_modifiers": [{"leaf": "0x1", "subleaf": "0x0", "modifiers": [
        {"register": "r8", "bitmap": "0b" + "x" * 32}]}]}, "register must be one of"),
    ({"msr_modifiers": [{"addr": "0x10a", "bitmap": "0b" + "y" * 64}]},
     "msr_modifiers[0].bitmap has 'y'"),
    ({"msr_modifiers": [{"addr": "ten", "bitmap": "0b" + "x" * 64}]},
     "msr_modifiers[0].addr is not a number"),
    ({"reg_modifiers": [{"addr": "0x1", "bitmap": "0b1"}]}, "aarch64 only"),
    ({"cpu_flags": []}, "unknown field `cpu_flags`"),
])
def test_cpu_config_errors(api, body, needle):
    message = fault(api.request("PUT", "/cpu-config", body))
    assert needle in message, message
    assert curl(api.sock, "PUT", "/cpu-config", CPU_CONFIG) == (204, None), "still accepted"


def test_cpu_config_refused_after_start(start_kiln, kvm):
    from paths import BUILD
    guest = BUILD / "guest" / "serial_sum.elf"   # waits for input that never comes
    assert guest.is_file(), f"{guest} is missing: run `make`"
    instance = start_kiln("--kernel", str(guest), "--cmdline", "bytes=1")
    deadline = time.monotonic() + 30
    while instance.request("GET", "/")[1]["state"] != "Running":
        assert time.monotonic() < deadline, "the machine never started"
        time.sleep(0.05)
    assert PRE_BOOT_ONLY in fault(instance.request("PUT", "/cpu-config", CPU_CONFIG))
    assert PRE_BOOT_ONLY in fault(instance.request(
        "PUT", "/vsock", {"guest_cid": 3, "uds_path": "/tmp/kiln-never.sock"}))
