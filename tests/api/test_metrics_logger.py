# SPDX-License-Identifier: MIT
"""PUT /metrics and PUT /logger: where kiln writes its counters and its log."""
import json
import os


def flush(api):
    assert api.request("PUT", "/actions", {"action_type": "FlushMetrics"}) == (204, None)


def metrics_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_metrics_are_deltas_in_firecrackers_layout(api, tmp_path):
    path = tmp_path / "metrics.json"
    assert api.request("PUT", "/metrics", {"metrics_path": str(path)}) == (204, None)
    for _ in range(3):
        assert api.request("GET", "/")[0] == 200
    assert api.request("PUT", "/machine-config", {"vcpu_count": 0, "mem_size_mib": 64})[0] == 400
    assert api.request("PUT", "/machine-config",
                       {"vcpu_count": 1, "mem_size_mib": 64}) == (204, None)
    flush(api)
    assert api.request("GET", "/version")[0] == 200
    flush(api)
    first, second = metrics_lines(path)
    assert first["get_api_requests"]["instance_info_count"] == 3
    assert first["put_api_requests"]["metrics_count"] == 1
    assert first["put_api_requests"]["machine_cfg_count"] == 2
    assert first["put_api_requests"]["machine_cfg_fails"] == 1
    # The flush that wrote the first line is counted in the second.
    assert first["put_api_requests"]["actions_count"] == 0
    assert second["get_api_requests"]["instance_info_count"] == 0
    assert second["get_api_requests"]["vmm_version_count"] == 1
    assert second["put_api_requests"]["actions_count"] == 1
    assert second["put_api_requests"]["machine_cfg_count"] == 0
    assert second["utc_timestamp_ms"] >= first["utc_timestamp_ms"]
    for group, fields in {
        "vcpu": ("exit_io_in", "exit_io_out", "exit_mmio_read", "exit_mmio_write", "failures"),
        "block": ("read_bytes", "write_bytes", "read_count", "write_count", "flush_count",
                  "execute_fails", "invalid_reqs_count"),
        "uart": ("read_count", "write_count", "missed_read_count", "missed_write_count"),
    }.items():
        assert set(fields) <= set(first[group]), (group, first[group])
        assert all(first[group][f] == 0 for f in fields)  # no machine yet


def test_metrics_only_once(api, tmp_path):
    assert api.request("PUT", "/metrics", {"metrics_path": str(tmp_path / "m")}) == (204, None)
    status, body = api.request("PUT", "/metrics", {"metrics_path": str(tmp_path / "n")})
    assert status == 400 and "metrics" in body["fault_message"]


def test_metrics_path_that_cannot_be_opened(api, tmp_path):
    status, body = api.request("PUT", "/metrics",
                               {"metrics_path": str(tmp_path / "no" / "dir" / "m")})
    assert status == 400 and str(tmp_path / "no") in body["fault_message"]
    # Nothing was configured: a later good path works.
    assert api.request("PUT", "/metrics", {"metrics_path": str(tmp_path / "m")}) == (204, None)


def test_logger_writes_kilns_log_to_the_file(api, tmp_path):
    path = tmp_path / "kiln.log"
    assert api.request("PUT", "/logger", {"log_path": str(path), "level": "Info",
                                          "show_level": True, "show_log_origin": True}) == \
        (204, None)
    assert api.request("GET", "/machine-config")[0] == 200
    lines = path.read_text().splitlines()
    assert any("GET" in line and "/machine-config" in line for line in lines), lines
    line = next(line for line in lines if "/machine-config" in line)
    assert " info " in line and ".c:" in line  # level and origin shown
    assert api.stderr() == ""  # the log went to the file, not stderr


def test_logger_level_filters(api, tmp_path):
    path = tmp_path / "kiln.log"
    assert api.request("PUT", "/logger", {"log_path": str(path), "level": "Error"}) == \
        (204, None)
    assert api.request("GET", "/")[0] == 200
    assert "/ " not in path.read_text() and "request on /" not in path.read_text()


def test_logger_and_metrics_to_fifos(api, tmp_path):
    """Firecracker's clients hand it named pipes; no reader is needed yet."""
    log_fifo, metrics_fifo = tmp_path / "log.fifo", tmp_path / "metrics.fifo"
    os.mkfifo(log_fifo)
    os.mkfifo(metrics_fifo)
    assert api.request("PUT", "/logger", {"log_path": str(log_fifo), "level": "Info"}) == \
        (204, None)
    assert api.request("PUT", "/metrics", {"metrics_path": str(metrics_fifo)}) == (204, None)
    reader = os.open(metrics_fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        flush(api)
        line = os.read(reader, 65536).decode()
    finally:
        os.close(reader)
    assert json.loads(line.splitlines()[0])["put_api_requests"]["metrics_count"] == 1
