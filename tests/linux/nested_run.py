# SPDX-License-Identifier: MIT
"""What one run of the drivers on the shared nested host left behind
(tests/linux/nested_drivers.py, started by conftest.py), as the test modules
read it: a driver's results, or a failure saying why there are none."""
import json

import pytest


class NestedRun:
    """One nested-host run of several drivers: what each left behind."""

    def __init__(self, out, names, host_output):
        self.out, self.names, self.host_output = out, names, host_output

    def results(self, name):
        """The driver's results, or a failure that shows why there are none."""
        assert name in self.names, f"driver {name} was not run: mark the module nested_driver"
        where = self.out / name
        status_file, results_file = where / "status.json", where / "results.json"
        log = where / "output.log"
        output = log.read_text(errors="replace")[-4000:] if log.exists() else "(none)"
        if not status_file.exists():
            pytest.fail(f"driver {name} did not finish: the nested host failed or ran out of "
                        f"time first.\nThe driver's output:\n{output}\n"
                        f"The nested host's output:\n{self.host_output[-4000:]}", pytrace=False)
        status = json.loads(status_file.read_text())
        if status["status"] == "stalled":
            pytest.fail(f"driver {name} stalled the nested host's own kernel {status['starts']} "
                        f"times (see README, 'The nested AMD-V host').\nIts output:\n{output}",
                        pytrace=False)
        if status["status"] == "timeout":
            pytest.fail(f"driver {name} hung: killed after its limit of {status['limit']} s."
                        f"\nIts output:\n{output}", pytrace=False)
        if status["status"] != 0 or not results_file.exists():
            pytest.fail(f"driver {name} exited with status {status['status']} "
                        f"{'and' if results_file.exists() else 'without'} results.\n"
                        f"Its output:\n{output}", pytrace=False)
        return json.loads(results_file.read_text())
