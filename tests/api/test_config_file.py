# SPDX-License-Identifier: MIT
"""--config-file: Firecracker's JSON configuration; bad files are one line and
exit status 2."""
import json
import subprocess

import pytest

USAGE = 2


def run(kiln, *args):
    return subprocess.run([kiln, "run", *args], capture_output=True, text=True, timeout=30,
                          stdin=subprocess.DEVNULL)


def one_error_line(proc, *needles):
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got: {proc.stderr!r}"
    assert lines[0].startswith("kiln: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"


@pytest.mark.parametrize("content,needle", [
    ("{\"boot-source\": ", "line 1"),
    ("[]", "JSON object"),
    (json.dumps({"boot-source": {"kernel_image_path": "k"}, "gpu": {}}), "`gpu`"),
    (json.dumps({"boot-source": {"kernel_image_path": "k"},
                 "machine-config": {"vcpu_count": 1, "mem_size_mib": 64, "turbo": True}}),
     "unknown field `turbo` in machine-config"),
    (json.dumps({"boot-source": {"boot_args": "quiet"}}), "missing field `kernel_image_path`"),
    (json.dumps({"boot-source": {"kernel_image_path": "k"},
                 "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "tap0",
                                         "tx_rate_limiter": {"ops": {"size": 1,
                                                                     "refill_time": 1}}}]}),
     "`tx_rate_limiter`"),
    (json.dumps({"boot-source": {"kernel_image_path": "k"},
                 "vsock": {"guest_cid": 2, "uds_path": "/v.sock"}}), "at least 3"),
    (json.dumps({"boot-source": {"kernel_image_path": "k"},
                 "balloon": {"amount_mib": 1, "deflate_on_oom": False}}), "`balloon`"),
    (json.dumps({"boot-source": {"kernel_image_path": "k"}, "drives": {"drive_id": "a"}}),
     "array"),
    (json.dumps({"machine-config": {"vcpu_count": 1, "mem_size_mib": 64}}), "boot-source"),
])
def test_bad_config_file(kiln, tmp_path, content, needle):
    path = tmp_path / "vm.json"
    path.write_text(content)
    proc = run(kiln, "--config-file", str(path))
    assert proc.returncode == USAGE
    one_error_line(proc, str(path), needle)
    assert proc.stdout == ""


def test_missing_config_file(kiln, tmp_path):
    missing = tmp_path / "none.json"
    proc = run(kiln, "--config-file", str(missing))
    assert proc.returncode == USAGE
    one_error_line(proc, str(missing))


def test_config_file_then_api(start_kiln, tmp_path):
    """Without a boot-source the API waits, configured from the file; the
    keys kiln has no device for are accepted empty or null."""
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"\0" * 4096)
    path = tmp_path / "vm.json"
    path.write_text(json.dumps({
        "drives": [{"drive_id": "rootfs", "path_on_host": str(disk), "is_root_device": True,
                    "is_read_only": True}],
        "machine-config": {"vcpu_count": 2, "mem_size_mib": 256, "smt": False},
        "entropy": {},
        "network-interfaces": [], "vsock": None, "balloon": None, "mmds-config": None,
    }))
    instance = start_kiln("--config-file", str(path))
    status, config = instance.request("GET", "/vm/config")
    assert status == 200
    assert config["machine-config"]["vcpu_count"] == 2
    assert config["drives"][0]["drive_id"] == "rootfs"
    assert config["drives"][0]["is_read_only"] is True
    assert config["entropy"] == {}
    assert config["boot-source"] is None


def test_config_file_boots_without_api(kiln, tmp_path):
    """With a boot-source the file boots at once: here it reaches KVM, which
    the test points at a missing device, so the failure names it."""
    kernel = tmp_path / "kernel"
    kernel.write_bytes(b"\0" * 0x202 + b"HdrS" + b"\0" * 4096)  # a bzImage by its magic
    path = tmp_path / "vm.json"
    path.write_text(json.dumps({"boot-source": {"kernel_image_path": str(kernel)}}))
    proc = run(kiln, "--config-file", str(path), "--kvm-device", "/nonexistent/kvm")
    assert proc.returncode == 1
    one_error_line(proc, "/nonexistent/kvm")
