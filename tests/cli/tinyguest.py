# SPDX-License-Identifier: MIT
"""Tiny multiboot guests assembled here, byte by byte, so kiln's process-level
behaviour (exit statuses, signals, terminal state) is tested without depending
on the guest/ library. Each is an ELF32 with one PT_LOAD at 1 MiB and a
multiboot v1 header (flags 0); the code runs in 32-bit protected mode."""
import struct

LOAD_ADDR = 0x100000
MB_MAGIC = 0x1BADB002


def _out_byte(port, value):
    # mov dx, port ; mov al, value ; out dx, al
    return b"\x66\xba" + struct.pack("<H", port) + b"\xb0" + bytes([value]) + b"\xee"


def _print(text):
    return b"".join(_out_byte(0x3F8, c) for c in text.encode())


ENDINGS = {
    # ACPI S5: SLP_TYP 0, SLP_EN (bit 13) to PM1a_CNT at 0x604.
    "poweroff": b"\x66\xba\x04\x06\x66\xb8\x00\x20\x66\xef" + b"\xf4",
    # i8042 pulse reset.
    "reset": _out_byte(0x64, 0xFE) + b"\xf4",
    # Interrupts off, halt: the vCPU sleeps in the kernel until kiln is stopped.
    "hang": b"\xfa\xf4\xeb\xfc",
    # IDT limit 0, then #UD: cannot be delivered, so the CPU triple-faults.
    "triple-fault": b"\x0f\x01\x1d" + struct.pack("<I", LOAD_ADDR + 0xF00) + b"\x0f\x0b",
}


def read_then_poweroff(addr):
    # mov eax, [addr] ; then the ACPI power-off ending.
    return b"\xa1" + struct.pack("<I", addr) + ENDINGS["poweroff"]


def probe_pc_testdev():
    """Write 'Z' to pc-testdev's scratch port 0xe0 and 'D' to its MMIO buffer at
    0xff000000, read both back and print them on COM1, then power off: "ZD"
    with the device, two 0xff bytes (the empty bus) without it."""
    com1_out = b"\x66\xba\xf8\x03\xee"                    # mov dx, 0x3f8 ; out dx, al
    mmio = struct.pack("<I", 0xFF000000)
    return (b"\x66\xba\xe0\x00" + b"\xb0Z" + b"\xee"         # mov dx, 0xe0 ; mov al, 'Z' ; out
            + b"\xb0\x00" + b"\xec" + com1_out                  # mov al, 0 ; in al, dx ; print
            + b"\xc7\x05" + mmio + struct.pack("<I", ord("D"))  # mov dword [0xff000000], 'D'
            + b"\xa1" + mmio + com1_out                        # mov eax, [0xff000000] ; print
            + ENDINGS["poweroff"])


def flood_com1(count, byte=b"x"):
    """Write count bytes to COM1 (one OUT each), then power off."""
    return (b"\xb9" + struct.pack("<I", count)     # mov ecx, count
            + b"\x66\xba\xf8\x03" + b"\xb0" + byte  # mov dx, 0x3f8 ; mov al, byte
            + b"\xee\x49\x75\xfc"                    # 1: out dx, al ; dec ecx ; jnz 1b
            + ENDINGS["poweroff"])


def debug_exit(code):
    return _out_byte(0xF4, code) + b"\xf4"


def build(message, ending):
    """ELF32 multiboot image printing message then doing ending (bytes)."""
    header = struct.pack("<III", MB_MAGIC, 0, (-MB_MAGIC) & 0xFFFFFFFF)
    code = _print(message) + ending
    # Layout inside the segment: multiboot header, code at +0x10, zeros to
    # 0x1000 (the 6-byte null IDT descriptor at +0xf00 lives there).
    segment = header.ljust(0x10, b"\0") + code
    assert len(segment) < 0xF00
    segment = segment.ljust(0x1000, b"\0")
    entry = LOAD_ADDR + 0x10
    ehdr_size, phdr_size = 52, 32
    offset = 0x1000
    ehdr = struct.pack("<16sHHIIIIIHHHHHH",
                       b"\x7fELF\x01\x01\x01" + b"\0" * 9,
                       2, 3, 1, entry, ehdr_size, 0, 0,
                       ehdr_size, phdr_size, 1, 40, 0, 0)
    phdr = struct.pack("<IIIIIIII", 1, offset, LOAD_ADDR, LOAD_ADDR,
                       len(segment), len(segment), 7, 0x1000)
    # The multiboot header must sit in the first 8 KiB of the file: it is
    # at file offset 0x1000.
    image = (ehdr + phdr).ljust(offset, b"\0") + segment
    return image


def write(path, message, ending):
    data = build(message, ENDINGS[ending] if isinstance(ending, str) else ending)
    path.write_bytes(data)
    return str(path)
