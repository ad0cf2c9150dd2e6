// SPDX-License-Identifier: MIT
/* fw_cfg through its I/O ports: select a key, read little-endian bytes. */
#include "guest.h"

#define FW_CFG_SELECTOR 0x510
#define FW_CFG_DATA     0x511

static volatile int fw_cfg_lock;

uint64_t fw_cfg_read(uint16_t key, unsigned int len)
{
	uint64_t v = 0;

	while (__atomic_exchange_n(&fw_cfg_lock, 1, __ATOMIC_ACQUIRE))
		cpu_relax();
	outw(FW_CFG_SELECTOR, key);
	for (unsigned int i = 0; i < len && i < 8; i++)
		v |= (uint64_t)inb(FW_CFG_DATA) << (8 * i);
	__atomic_store_n(&fw_cfg_lock, 0, __ATOMIC_RELEASE);
	return v;
}
