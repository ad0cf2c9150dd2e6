# SPDX-License-Identifier: MIT
"""PUT /network-interfaces/{iface_id} in Firecracker's form: pre-boot only,
validated as it arrives, shown by GET /vm/config; PATCH answers 400 (kiln
has no rate limiters); and a test guest booted through the API pings the
namespace's kernel over the tap it named."""
import os
import subprocess
import sys
import pathlib

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "guest"))
import vmm  # noqa: E402

PRE_BOOT_ONLY = "not supported before starting the microVM"


def fault(reply):
    status, body = reply
    assert 400 <= status < 500, reply
    assert set(body) == {"fault_message"}, body
    return body["fault_message"]


def test_network_interfaces_round_trip(api):
    assert api.request("PUT", "/network-interfaces/eth0", {
        "iface_id": "eth0", "host_dev_name": "tap0", "guest_mac": "06:00:ac:10:00:02"}) == \
        (204, None)
    # Rate limiters that limit nothing are accepted.
    assert api.request("PUT", "/network-interfaces/eth1", {
        "iface_id": "eth1", "host_dev_name": "tap1",
        "rx_rate_limiter": {"bandwidth": None, "ops": None}, "tx_rate_limiter": {}}) == \
        (204, None)
    # The same id again replaces the interface.
    assert api.request("PUT", "/network-interfaces/eth0", {
        "iface_id": "eth0", "host_dev_name": "tap9"}) == (204, None)
    status, config = api.request("GET", "/vm/config")
    assert status == 200
    assert config["network-interfaces"] == [
        {"iface_id": "eth0", "host_dev_name": "tap9", "guest_mac": None,
         "rx_rate_limiter": None, "tx_rate_limiter": None},
        {"iface_id": "eth1", "host_dev_name": "tap1", "guest_mac": None,
         "rx_rate_limiter": None, "tx_rate_limiter": None},
    ]


@pytest.mark.parametrize("path,body,needle", [
    ("/network-interfaces/eth0", {"iface_id": "eth1", "host_dev_name": "tap0"}, "does not match"),
    ("/network-interfaces/eth0", {"iface_id": "eth0"}, "missing field `host_dev_name`"),
    ("/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "t" * 16}, "host_dev_name"),
    ("/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": ""}, "host_dev_name"),
    ("/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "tap0",
                                  "guest_mac": "01:00:00:00:00:01"}, "guest_mac"),
    ("/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "tap0",
                                  "guest_mac": "zz"}, "guest_mac"),
    ("/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "tap0",
                                  "rx_rate_limiter": {"bandwidth": {"size": 1,
                                                                    "refill_time": 100}}},
     "rx_rate_limiter"),
    ("/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "tap0",
                                  "allow_mmds_requests": True}, "allow_mmds_requests"),
    ("/network-interfaces/eth-0", {"iface_id": "eth-0", "host_dev_name": "tap0"}, "eth-0"),
])
def test_network_interface_errors(api, path, body, needle):
    assert needle in fault(api.request("PUT", path, body))
    assert api.request("GET", "/vm/config")[1]["network-interfaces"] == []


def test_at_most_four_interfaces(api):
    for i in range(4):
        assert api.request("PUT", f"/network-interfaces/n{i}", {
            "iface_id": f"n{i}", "host_dev_name": f"tap{i}"}) == (204, None)
    assert "at most 4" in fault(api.request("PUT", "/network-interfaces/n4", {
        "iface_id": "n4", "host_dev_name": "tap4"}))


def test_patch_has_nothing_to_change(api):
    assert PRE_BOOT_ONLY in fault(api.request("PATCH", "/network-interfaces/eth0", {
        "iface_id": "eth0", "rx_rate_limiter": {}}))


def test_guest_booted_through_the_api_pings_over_the_tap(start_kiln, kvm, tmp_path):
    assert os.geteuid() == 0, "this test makes a network namespace: run it as root"
    netns = f"kiln-apinet-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        for args in (["tuntap", "add", "dev", "kapi0", "mode", "tap"],
                     ["addr", "add", "10.78.0.1/24", "dev", "kapi0"],
                     ["link", "set", "kapi0", "up"]):
            subprocess.run(["ip", "netns", "exec", netns, "ip", *args], check=True)
        wrapper = tmp_path / "kiln-in-netns"
        wrapper.write_text(f"#!/bin/sh\nexec ip netns exec {netns} "
                           f"{vmm.KILN} \"$@\"\n")
        wrapper.chmod(0o755)
        api = start_kiln("--debug-exit", binary=str(wrapper))
        for path, body in [
            ("/boot-source", {"kernel_image_path": vmm.guest_path("virtio_net"),
                              "boot_args": ""}),
            ("/machine-config", {"vcpu_count": 1, "mem_size_mib": 64}),
            ("/network-interfaces/eth0", {"iface_id": "eth0", "host_dev_name": "kapi0",
                                          "guest_mac": "02:00:00:78:00:02"}),
            ("/actions", {"action_type": "InstanceStart"}),
        ]:
            assert api.request("PUT", path, body) == (204, None), (path, api.stderr())
        # The guest's debug-exit: 0 (every check passed) gives status 1.
        assert api.proc.wait(timeout=60) == 1, api.stderr()
    finally:
        subprocess.run(["ip", "netns", "delete", netns], check=True)
