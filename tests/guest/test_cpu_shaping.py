# SPDX-License-Identifier: MIT
"""The CPU the guest reads back under --cpu host[,+f|-f]... and custom CPU
templates: the cpu_features guest prints CPUID leaves and MSRs, and checks
the TSC-deadline timer fires when it is advertised."""
import json
import re
import subprocess

import vmm
from paths import KILN

X2APIC = 1 << 21          # CPUID.1:ECX
TSC_DEADLINE = 1 << 24    # CPUID.1:ECX
RDTSCP = 1 << 27          # CPUID.0x80000001:EDX
MISC_ENABLE = 0x1a0
MISC_FAST_STRINGS = 1 << 0
MISC_BTS_UNAVAILABLE = 1 << 11
MISC_PEBS_UNAVAILABLE = 1 << 12


def seen_by_guest(extra):
    """The leaves {(leaf, subleaf): [eax, ebx, ecx, edx]} and MSRs {addr: value
    or None for #GP} the guest printed; the guest must pass."""
    status, out, err = vmm.run("kiln", "cpu_features", extra=extra)
    vmm.assert_passed(status, out, err)
    leaves = {(int(l, 16), int(s)): [int(r, 16) for r in regs.split()]
              for l, s, regs in re.findall(r"INFO: cpuid (0x[0-9a-f]+)\.(\d+): (.*)", out)}
    msrs = {int(a, 16): (None if v == "#GP" else int(v, 16))
            for a, v in re.findall(r"INFO: msr (0x[0-9a-f]+): (\S+)", out)}
    assert (1, 0) in leaves and MISC_ENABLE in msrs, out
    return leaves, msrs, out


def kvm_has_tsc_deadline():
    info = subprocess.run([str(KILN), "info"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"KVM_CAP_TSC_DEADLINE_TIMER\s+(yes|no)", info)
    assert found, info
    return found.group(1) == "yes"


def refused(extra):
    status, out, err = vmm.run("kiln", "cpu_features", extra=extra)
    return status, err.strip()


def test_host_model_advertises_tsc_deadline_where_kvm_has_it(kvm):
    leaves, _, out = seen_by_guest(["--cpu", "host"])
    if kvm_has_tsc_deadline():
        assert leaves[(1, 0)][2] & TSC_DEADLINE
        assert "PASS: TSC-deadline timer fired once" in out
        leaves, _, out = seen_by_guest(["--cpu", "host,+tsc_deadline_timer"])
        assert leaves[(1, 0)][2] & TSC_DEADLINE
    else:
        assert refused(["--cpu", "host,+tsc_deadline_timer"]) == (
            1, "kiln: error: --cpu: KVM cannot provide 'tsc_deadline_timer' on this host")


def test_minus_hides_exactly_those_features(kvm):
    host, _, _ = seen_by_guest(["--cpu", "host"])
    shaped, _, _ = seen_by_guest(["--cpu", "host,-x2apic,-rdtscp"])
    assert shaped[(1, 0)][2] & X2APIC == 0
    assert shaped[(0x80000001, 0)][3] & RDTSCP == 0
    assert shaped[(1, 0)][2] == host[(1, 0)][2] & ~X2APIC, "the other leaf 1 bits unchanged"
    assert shaped[(0x80000001, 0)][3] == host[(0x80000001, 0)][3] & ~RDTSCP
    assert shaped[(7, 0)] == host[(7, 0)]


def test_features_kvm_cannot_provide_or_nobody_knows(kvm):
    # KVM never offers the thermal monitor (CPUID.1:EDX[29]) to a guest.
    assert refused(["--cpu", "host,+tm"]) == (
        1, "kiln: error: --cpu: KVM cannot provide 'tm' on this host")
    assert refused(["--cpu", "host,+foo"]) == (
        2, "kiln: error: --cpu: unknown CPU feature 'foo'")


def template(tmp_path, cpuid=(), msrs=()):
    path = tmp_path / "template.json"
    path.write_text(json.dumps({"cpuid_modifiers": list(cpuid), "msr_modifiers": list(msrs)}))
    return str(path)


def bitmap(bits, clear=(), set_=()):
    chars = ["x"] * bits
    for bit in clear:
        chars[bits - 1 - bit] = "0"
    for bit in set_:
        chars[bits - 1 - bit] = "1"
    return "0b" + "".join(chars)


def test_custom_template_cpuid_and_msr(kvm, tmp_path):
    _, host_msrs, _ = seen_by_guest(["--cpu", "host"])
    path = template(tmp_path, cpuid=[{
        "leaf": "0x1", "subleaf": "0x0", "flags": 0,
        "modifiers": [{"register": "ecx", "bitmap": bitmap(32, clear=[21])}]}],
        msrs=[{"addr": "0x1a0", "bitmap": bitmap(64, clear=[0], set_=[11, 12])}])
    leaves, msrs, _ = seen_by_guest(["--cpu-template", path])
    assert leaves[(1, 0)][2] & X2APIC == 0
    assert msrs[MISC_ENABLE] == (host_msrs[MISC_ENABLE] & ~MISC_FAST_STRINGS) | \
        MISC_BTS_UNAVAILABLE | MISC_PEBS_UNAVAILABLE


def test_template_comes_after_the_feature_changes(kvm, tmp_path):
    path = template(tmp_path, cpuid=[{
        "leaf": "0x1", "subleaf": "0x0", "flags": 0,
        "modifiers": [{"register": "ecx", "bitmap": bitmap(32, set_=[21])}]}])
    leaves, _, _ = seen_by_guest(["--cpu", "host,-x2apic", "--cpu-template", path])
    assert leaves[(1, 0)][2] & X2APIC, "the template sets x2apic back"


def test_template_msr_kvm_does_not_list_is_refused(kvm, tmp_path):
    path = template(tmp_path, msrs=[{"addr": "0x12345", "bitmap": bitmap(64, set_=[0])}])
    assert refused(["--cpu-template", path]) == (
        1, "kiln: error: CPU template: KVM does not let a VMM set MSR 0x12345 on this host")


def test_bad_template_file_is_a_usage_error(kvm, tmp_path):
    path = template(tmp_path, cpuid=[{"leaf": "one", "subleaf": "0", "modifiers": []}])
    assert refused(["--cpu-template", path]) == (
        2, f"kiln: error: --cpu-template {path}: cpuid_modifiers[0].leaf is not a number "
        "(\"0x1\" or \"1\")")


def test_pvm_safe_is_the_built_in_template(kvm):
    leaves, _, _ = seen_by_guest(["--cpu-template", "pvm-safe"])
    assert leaves[(0, 0)][0] == 6, "maximum basic leaf 6"


def test_config_file_cpu_config(kvm, tmp_path):
    path = template(tmp_path, cpuid=[{
        "leaf": "0x1", "subleaf": "0x0", "flags": 0,
        "modifiers": [{"register": "ecx", "bitmap": bitmap(32, clear=[21])}]}])
    config = tmp_path / "vm.json"
    config.write_text(json.dumps({
        "boot-source": {"kernel_image_path": vmm.guest_path("cpu_features")},
        "machine-config": {"vcpu_count": 1, "mem_size_mib": 256},
        "cpu-config": path}))
    proc = subprocess.run([str(KILN), "run", "--config-file", str(config), "--debug-exit"],
                          capture_output=True, text=True, timeout=vmm.TIMEOUT,
                          stdin=subprocess.DEVNULL)
    vmm.assert_passed(proc.returncode, proc.stdout, proc.stderr)
    ecx = int(re.search(r"INFO: cpuid 0x1\.0: \S+ \S+ (\S+)", proc.stdout).group(1), 16)
    assert ecx & X2APIC == 0
