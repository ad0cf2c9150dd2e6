# SPDX-License-Identifier: MIT
"""virtio-blk with its real workers and io_uring through a driver reset, a
pause/resume and the machine's teardown, each with sixteen 1 MiB reads in
flight (tests/harness/blk_reset.c): every read completes or is dropped by
the reset, never both, and ThreadSanitizer reports nothing."""
import re
import subprocess

import pytest

from paths import BUILD

ROUNDS = 40


@pytest.mark.parametrize("binary", ["blk-reset", "blk-reset-tsan"])
def test_reset_pause_and_teardown_with_reads_in_flight(binary):
    path = BUILD / "harness" / binary
    assert path.is_file(), f"{path} is missing: run `make`"
    proc = subprocess.run([str(path), str(ROUNDS)], capture_output=True, text=True,
                          timeout=600)
    assert "ThreadSanitizer" not in proc.stderr, proc.stderr[:4000]
    assert proc.returncode == 0, proc.stderr
    counts = re.search(r"rounds: (\d+), reads completed: (\d+), dropped at reset: (\d+)",
                       proc.stdout)
    assert counts, proc.stdout
    rounds, completed, dropped = map(int, counts.groups())
    assert rounds == ROUNDS
    # Each round: 16 reads across a reset (completed before it or dropped by
    # it) and 16 across a pause, which all complete.
    assert completed + dropped == 32 * ROUNDS
    assert completed >= 16 * ROUNDS
