# SPDX-License-Identifier: MIT
"""kiln with its API socket, stopped after each test."""
import pytest

from apiclient import Kiln
from paths import BUILD


@pytest.fixture
def start_kiln(kiln):
    started = []

    def start(*args, binary=kiln, env=None):
        instance = Kiln(binary, *args, env=env)
        started.append(instance)
        return instance

    yield start
    for instance in started:
        instance.kill()
        instance.remove_dir()


@pytest.fixture
def api(start_kiln):
    """A fresh kiln waiting for InstanceStart."""
    return start_kiln()


@pytest.fixture(scope="session")
def kiln_asan():
    path = BUILD / "kiln-asan"
    assert path.is_file(), f"{path} is missing: run `make build/kiln-asan` first"
    return str(path)
