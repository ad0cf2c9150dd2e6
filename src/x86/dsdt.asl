/* SPDX-License-Identifier: MIT */
/*
 * kiln's DSDT: what the machine needs described in AML. Compiled by iasl at
 * build time into build/gen/dsdt_aml.h. The \_S5 value must equal
 * ACPI_SLP_TYP_S5 in src/x86/layout.h (checked by the unit tests).
 */
DefinitionBlock ("", "DSDT", 2, "KILN  ", "KILNDSDT", 1)
{
    /* Soft-off: SLP_TYP 0 for PM1a and PM1b, then two reserved values. */
    Name (\_S5, Package (0x04) { Zero, Zero, Zero, Zero })

    Scope (\_SB)
    {
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
