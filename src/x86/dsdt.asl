/* SPDX-License-Identifier: MIT */
/*
 * kiln's DSDT: what the machine needs described in AML. Compiled by iasl at
 * build time into build/gen/dsdt_aml.h. The \_S3 and \_S5 values must
 * equal ACPI_SLP_TYP_S3 and ACPI_SLP_TYP_S5 in src/x86/layout.h (checked by
 * the unit tests).
 */
DefinitionBlock ("", "DSDT", 2, "KILN  ", "KILNDSDT", 1)
{
    /* Suspend to RAM: SLP_TYP 1 for PM1a and PM1b, then two reserved
     * values. The PM1a control block (src/devices/acpi_pm.c) sleeps on it. */
    Name (\_S3, Package (0x04) { One, One, Zero, Zero })
    /* Soft-off: SLP_TYP 0 for PM1a and PM1b, then two reserved values. */
    Name (\_S5, Package (0x04) { Zero, Zero, Zero, Zero })

    Scope (\_SB)
    {
        /* PCI bus 0: ECAM at 0xC0000000 (MCFG), 32-bit BARs in
         * 0xC1000000-0xDFFFFFFF, 64-bit BARs in the window above RAM.
         * Devices interrupt through MSI-X, so no _PRT. Must match layout.h. */
        Device (PCI0)
        {
            Name (_HID, EisaId ("PNP0A08"))
            Name (_CID, EisaId ("PNP0A03"))
            Name (_UID, Zero)
            Name (_SEG, Zero)
            Name (_BBN, Zero)
            Name (_CRS, ResourceTemplate ()
            {
                WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,
                    0x0000, 0x0000, 0x0000, 0x0000, 0x0001)
                IO (Decode16, 0x0CF8, 0x0CF8, 0x01, 0x08)
                WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,
                    0x0000, 0x0000, 0x0CF7, 0x0000, 0x0CF8)
                WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,
                    0x0000, 0x0D00, 0xFFFF, 0x0000, 0xF300)
                DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable,
                    ReadWrite, 0x00000000, 0xC1000000, 0xDFFFFFFF, 0x00000000, 0x1F000000)
                /* The 64-bit window sits above RAM, so its place depends on
                 * --memory: kiln finds this placeholder base (ASCII
                 * "KILNMM64") and writes the real base, end and length. */
                QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable,
                    ReadWrite, 0x0000000000000000, 0x34364D4D4E4C494B, 0x34364D4D4E4C594A,
                    0x0000000000000000, 0x0000000000001000)
            })
        }

        /* The ECAM window, reserved as a motherboard resource so the OS
         * trusts the MCFG table. */
        Device (MRES)
        {
            Name (_HID, EisaId ("PNP0C02"))
            Name (_UID, One)
            Name (_CRS, ResourceTemplate ()
            {
                Memory32Fixed (ReadWrite, 0xC0000000, 0x00100000)
            })
        }

        /* The CMOS RTC (src/devices/rtc.c): Linux's rtc_cmos binds to it
         * through PNP with its ports and alarm interrupt. */
        Device (RTC)
        {
            Name (_HID, EisaId ("PNP0B00"))
            Name (_CRS, ResourceTemplate ()
            {
                IO (Decode16, 0x0070, 0x0070, 0x01, 0x02)
                IRQNoFlags () {8}
            })
        }

        /* COM1, so the OS knows the port and IRQ without probing. */
        Device (COM1)
        {
            Name (_HID, EisaId ("PNP0501"))
            Name (_UID, One)
            Name (_CRS, ResourceTemplate ()
            {
                IO (Decode16, 0x03F8, 0x03F8, 0x00, 0x08)
                IRQNoFlags () {4}
            })
        }
    }
}
