// SPDX-License-Identifier: MIT
/* What the loader says about memory agrees with fw_cfg and with --memory
 * (passed as mem=MiB), and the command line starts with the image path. */
#include "guest.h"
#include "multiboot.h"

#define MiB (1ULL << 20)
#define LOW_RAM_LIMIT (3ULL << 30) /* RAM above this moves past the PCI hole */

/* argv[0]: a non-empty first token that is not a key=value argument. */
static bool first_token_is_path(const char *s)
{
	size_t n = 0;

	while (s[n] && s[n] != ' ') {
		if (s[n] == '=')
			return false;
		n++;
	}
	return n > 0;
}

void guest_main(void)
{
	const struct mb_info *info = multiboot_info();
	uint64_t ram = fw_cfg_read(FW_CFG_RAM_SIZE, 8), expected = cmdline_get_u64("mem", 0) * MiB;
	uint64_t ram_sum = 0, top_below_4g = 0, low_end;
	const char *argv0 = cmdline();

	report(info != 0, "multiboot magic and info pointer");
	if (!info)
		return;
	report(info->flags & MB_INFO_MEMORY, "mem_lower/mem_upper present");
	report(info->flags & MB_INFO_MMAP, "memory map present");
	report(info->flags & MB_INFO_CMDLINE, "command line present");
	report_info("fw_cfg RAM %lu MiB, mem_lower %u KiB, mem_upper %u KiB", ram >> 20,
		    info->mem_lower, info->mem_upper);
	report(expected == 0 || ram == expected, "fw_cfg RAM size equals --memory (%lu MiB)",
	       expected >> 20);
	for (uint32_t off = 0; off < info->mmap_length;) {
		const struct mb_mmap_entry *e =
			(const void *)(uintptr_t)(info->mmap_addr + off);

		report_info("mmap [0x%lx, 0x%lx) type %u", e->addr, e->addr + e->len, e->type);
		if (e->type == 1) {
			ram_sum += e->len;
			if (e->addr + e->len <= (4ULL << 30) && e->addr + e->len > top_below_4g)
				top_below_4g = e->addr + e->len;
		}
		off += e->size + 4;
	}
	low_end = ram < LOW_RAM_LIMIT ? ram : LOW_RAM_LIMIT;
	report(MiB + (uint64_t)info->mem_upper * 1024 == top_below_4g,
	       "mem_upper reaches the top of RAM below 4 GiB");
	report(top_below_4g <= low_end && top_below_4g + 4 * MiB >= low_end,
	       "RAM below 4 GiB ends near min(RAM, 3 GiB)");
	report(ram_sum <= ram && ram_sum + 2 * MiB >= ram,
	       "usable RAM in the map (%lu KiB) accounts for all RAM but the legacy hole",
	       ram_sum >> 10);
	report(info->mem_lower >= 600 && info->mem_lower <= 640, "mem_lower is conventional memory");
	report(first_token_is_path(argv0), "command line has the image path first: '%s'", argv0);
}
