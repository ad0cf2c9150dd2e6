# SPDX-License-Identifier: MIT
"""What this machine's KVM offers, as `kiln info` reports it (for fixtures and
for tests that check kiln's answer where a capability is missing)."""
import re
import subprocess

# What --hyperv stands on (x86/hyperv.c), as `kiln info` lists it.
HYPERV_CAPS = ("KVM_CAP_HYPERV_CPUID", "KVM_CAP_HYPERV_VP_INDEX", "KVM_CAP_HYPERV_TIME",
               "KVM_CAP_HYPERV_SYNIC2", "KVM_CAP_HYPERV_TLBFLUSH",
               "KVM_CAP_HYPERV_ENFORCE_CPUID")


def kvm_info(kiln_path):
    """`kiln info`'s text."""
    return subprocess.run([kiln_path, "info"], capture_output=True, text=True,
                          timeout=30).stdout


def kvm_lacks_hyperv(kiln_path):
    """The Hyper-V capabilities `kiln info` does not report as present."""
    info = kvm_info(kiln_path)
    return [cap for cap in HYPERV_CAPS if not re.search(rf"{cap}\s+yes", info)]
