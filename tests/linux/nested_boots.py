# SPDX-License-Identifier: MIT
"""Runs inside the nested AMD-V host (scripts/nested-host.sh): boots the
small kernel under kiln in each configuration of BOOTS and writes what
happened (console output, exit status, what the devices left behind) as
JSON to the path given, for tests/linux/test_linux_e2e.py to judge.

usage: [NESTED_BOOTS=name,...] nested_boots.py RESULTS.json (default: every boot)"""
import hashlib
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KILN = os.path.join(ROOT, "build", "kiln")
SMALL = os.path.join(ROOT, "build", "linux-small")
INITRD = os.path.join(ROOT, "build", "linux-guest", "initramfs.cpio.gz")
SCRATCH = os.environ.get("NESTED_SCRATCH", "/var/tmp")
BOOT_TIMEOUT = 600

# name: (kernel file, cpus, memory MiB, extra command line, devices)
BOOTS = {
    # kiln.s3: after the device checks, an ACPI S3 sleep the RTC alarm ends.
    "devices": ("bzImage", 2, 512, "kiln.check kiln.s3", True),
    "pvh": ("vmlinux", 1, 384, "", False),
    "reboot": ("bzImage", 1, 256, "kiln.reboot", False),
    # "devices" again with kiln jailed as nobody in an empty directory: on
    # the command line it opens every file before it enters the jail.
    "jailed": ("bzImage", 2, 512, "kiln.check", True),
}
JAILED = {"jailed"}
NOBODY = "65534"


def image_file_md5(image, path):
    """MD5 of a file inside the ext2 image, read by the host's debugfs."""
    out = subprocess.run(["debugfs", "-R", f"cat {path}", image], capture_output=True)
    return hashlib.md5(out.stdout).hexdigest() if out.returncode == 0 and out.stdout else ""


def boot(name, kernel, cpus, memory, extra, devices):
    disk = os.path.join(SCRATCH, f"{name}.img")
    hvc = os.path.join(SCRATCH, f"{name}.hvc")
    argv = [KILN, "run", "--kernel", os.path.join(SMALL, kernel), "--initrd", INITRD,
            "--cpus", str(cpus), "--memory", str(memory),
            "--cmdline", f"console=ttyS0 {extra}".strip()]
    if devices:
        with open(disk, "wb") as f:
            f.truncate(64 << 20)
        second = os.path.join(SCRATCH, f"{name}-ro.img")
        with open(second, "wb") as f:
            f.truncate(8 << 20)
        argv += ["--disk", f"{disk},queues=2,serial=kiln-e2e", "--disk", f"{second},readonly",
                 "--rng", f"--virtio-console={hvc}"]
    if name in JAILED:
        jail = os.path.join(SCRATCH, f"{name}-jail")
        os.makedirs(jail, mode=0o755, exist_ok=True)
        argv += ["--jail", jail, "--uid", NOBODY, "--gid", NOBODY]
    start = time.monotonic()
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=BOOT_TIMEOUT,
                              stdin=subprocess.DEVNULL)
        status, out = proc.returncode, (proc.stdout + proc.stderr).decode(errors="replace")
    except subprocess.TimeoutExpired as e:
        status = "timeout"
        out = ((e.stdout or b"") + (e.stderr or b"")).decode(errors="replace")
    result = {"argv": argv, "cpus": cpus, "memory": memory, "status": status, "output": out,
              "seconds": round(time.monotonic() - start, 1)}
    if devices:
        result["disk_data_md5"] = image_file_md5(disk, "/data")
        result["hvc"] = open(hvc, errors="replace").read() if os.path.exists(hvc) else None
    return result


def guest(name):
    """A test guest (build/guest/NAME.elf) under kiln."""
    argv = [KILN, "run", "--kernel", os.path.join(ROOT, "build", "guest", f"{name}.elf"),
            "--debug-exit"]
    proc = subprocess.run(argv, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    return {"argv": argv, "status": proc.returncode,
            "output": (proc.stdout + proc.stderr).decode(errors="replace")}


def main():
    only = os.environ.get("NESTED_BOOTS")
    chosen = only.split(",") if only else list(BOOTS) + ["guest-syscall"]
    results = {name: boot(name, *BOOTS[name]) for name in chosen if name in BOOTS}
    # The system-call round trip Linux's userspace depends on, as a test guest.
    if "guest-syscall" in chosen:
        results["guest-syscall"] = guest("syscall")
    with open(sys.argv[1], "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
