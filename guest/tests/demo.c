// SPDX-License-Identifier: MIT
/* The default guest for `make run`: it reports what it finds about the
 * machine, then powers off through ACPI. */
#include "guest.h"
#include "multiboot.h"

static void show_memory(void)
{
	const struct mb_info *info = multiboot_info();
	uint64_t usable = 0;

	if (!info || !(info->flags & MB_INFO_MMAP)) {
		printf("  memory:      no multiboot memory map\n");
		return;
	}
	for (uint32_t off = 0; off < info->mmap_length;) {
		const struct mb_mmap_entry *e = (const void *)(uintptr_t)(info->mmap_addr + off);

		if (e->type == 1)
			usable += e->len;
		off += e->size + 4;
	}
	printf("  memory:      %lu MiB usable (fw_cfg says %lu MiB installed)\n", usable >> 20,
	       fw_cfg_read(FW_CFG_RAM_SIZE, 8) >> 20);
}

static void show_cpus(void)
{
	uint32_t a, b, c, d;
	char vendor[13] = { 0 };
	unsigned int expected = (unsigned int)fw_cfg_read(FW_CFG_NB_CPUS, 2);

	cpuid(0, 0, &a, &b, &c, &d);
	memcpy(vendor, &b, 4);
	memcpy(vendor + 4, &d, 4);
	memcpy(vendor + 8, &c, 4);
	printf("  CPUs:        %u of %u started (%s)\n", smp_start(expected), expected, vendor);
}

static void show_clock(void)
{
	uint32_t a, b, c, d;

	cpuid(1, 0, &a, &b, &c, &d);
	if (!(c & (1u << 31))) {
		printf("  clocksource: tsc (no hypervisor)\n");
		return;
	}
	cpuid(0x40000001, 0, &a, &b, &c, &d);
	printf("  clocksource: %s\n", (a & (1u << 3)) ? "kvm-clock" : "tsc");
}

static void show_devices(void)
{
	const uint8_t *rsdp = acpi_find_rsdp(), *fadt = acpi_find_table("FACP");
	char oem[7] = { 0 };

	printf("  serial:      16550A at 0x3f8 (this console)\n");
	printf("  fw_cfg:      signature '%c%c%c%c'\n", (int)fw_cfg_read(FW_CFG_SIGNATURE, 4) & 0xff,
	       (int)(fw_cfg_read(FW_CFG_SIGNATURE, 4) >> 8) & 0xff,
	       (int)(fw_cfg_read(FW_CFG_SIGNATURE, 4) >> 16) & 0xff,
	       (int)(fw_cfg_read(FW_CFG_SIGNATURE, 4) >> 24) & 0xff);
	if (rsdp)
		memcpy(oem, rsdp + 9, 6);
	printf("  ACPI:        RSDP at %p (OEM '%s'), FADT %s", rsdp, oem, fadt ? "found" : "missing");
	if (fadt)
		printf(", PM1a control at port 0x%x", *(const uint32_t *)(fadt + 64));
	printf("\n");
}

void guest_main(void)
{
	printf("kiln demo guest: this is what the machine looks like from inside\n");
	show_cpus();
	show_memory();
	show_clock();
	show_devices();
	printf("powering off through ACPI\n");
	acpi_poweroff();
	report(false, "ACPI power-off returned");
}
