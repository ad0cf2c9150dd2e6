// SPDX-License-Identifier: MIT
/* What the loader told us: the multiboot info and the command line. */
#include "guest.h"
#include "multiboot.h"

extern uint32_t mb_magic, mb_info;

const struct mb_info *multiboot_info(void)
{
	return mb_magic == MB_BOOT_MAGIC ? (const struct mb_info *)(uintptr_t)mb_info : 0;
}

const char *cmdline(void)
{
	const struct mb_info *info = multiboot_info();

	if (!info || !(info->flags & MB_INFO_CMDLINE))
		return "";
	return (const char *)(uintptr_t)info->cmdline;
}

const char *cmdline_get(const char *key)
{
	size_t klen = strlen(key);

	/* Tokens are space separated; the first is the image path. */
	for (const char *p = cmdline(); *p;) {
		while (*p == ' ')
			p++;
		if (!strncmp(p, key, klen) && p[klen] == '=')
			return p + klen + 1;
		while (*p && *p != ' ')
			p++;
	}
	return 0;
}

uint64_t cmdline_get_u64(const char *key, uint64_t fallback)
{
	const char *v = cmdline_get(key);

	return v ? strtou64(v, 0) : fallback;
}
