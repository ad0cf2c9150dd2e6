# SPDX-License-Identifier: MIT
"""Where the build puts what the tests run."""
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
KILN = BUILD / "kiln"
