// SPDX-License-Identifier: MIT
#include "bus/pci.h"

#include <errno.h>
#include <string.h>

#define CONFIG_ENABLE (1u << 31)
#define BAR_MEM_64    0x4

static void put16(uint8_t *p, unsigned int off, uint16_t v) { memcpy(p + off, &v, 2); }
static void put32(uint8_t *p, unsigned int off, uint32_t v) { memcpy(p + off, &v, 4); }
static uint32_t get32(const uint8_t *p, unsigned int off) { uint32_t v; memcpy(&v, p + off, 4); return v; }

void pci_bus_init(struct pci_bus *bus, uint64_t mmio32_base, uint64_t mmio32_end,
		  uint64_t mmio64_base, uint64_t mmio64_end)
{
	memset(bus, 0, sizeof(*bus));
	pthread_mutex_init(&bus->lock, NULL);
	bus->mmio32 = (struct pci_window){ mmio32_base, mmio32_end, mmio32_base };
	bus->mmio64 = (struct pci_window){ mmio64_base, mmio64_end, mmio64_base };
}

void pci_device_init(struct pci_device *dev, uint16_t vendor, uint16_t device,
		     uint32_t class_code, uint8_t revision)
{
	memset(dev, 0, sizeof(*dev));
	put16(dev->config, PCI_VENDOR_ID, vendor);
	put16(dev->config, PCI_DEVICE_ID, device);
	dev->config[PCI_REVISION] = revision;
	dev->config[PCI_CLASS_PROG] = (uint8_t)class_code;
	dev->config[PCI_CLASS_PROG + 1] = (uint8_t)(class_code >> 8);
	dev->config[PCI_CLASS_PROG + 2] = (uint8_t)(class_code >> 16);
	dev->wmask[PCI_COMMAND] = 0x06;      /* memory space, bus master */
	dev->wmask[PCI_COMMAND + 1] = 0x04;  /* INTx disable */
	dev->wmask[0x3c] = 0xff;             /* interrupt line: scratch for the OS */
	dev->next_cap = 0x40;
}

int pci_device_add_bar(struct pci_device *dev, unsigned int index, uint64_t size, bool is64,
		       io_handler_fn handler, void *ctx)
{
	unsigned int off = PCI_BAR0 + 4 * index;
	uint64_t mask = ~(size - 1);

	if (index >= PCI_NUM_BARS || (is64 && index + 1 >= PCI_NUM_BARS) || size < 16 ||
	    (size & (size - 1)))
		return -EINVAL;
	dev->bars[index] = (struct pci_bar){ .size = size, .is64 = is64, .handler = handler,
					     .ctx = ctx };
	put32(dev->config, off, is64 ? BAR_MEM_64 : 0);
	/* Sizing: the guest writes all-ones and reads back the size mask. */
	put32(dev->wmask, off, (uint32_t)mask & ~0xfu);
	if (is64)
		put32(dev->wmask, off + 4, (uint32_t)(mask >> 32));
	return 0;
}

unsigned int pci_device_add_cap(struct pci_device *dev, uint8_t id, const void *body,
				unsigned int len)
{
	unsigned int off = dev->next_cap, link = PCI_CAP_PTR;

	if (len < 2 || off + len > PCI_CONFIG_SIZE)
		return 0;
	memcpy(dev->config + off, body, len);
	dev->config[off] = id;
	dev->config[off + 1] = 0;
	/* Chain it after the last capability. */
	while (dev->config[link])
		link = dev->config[link] + 1u;
	dev->config[link] = (uint8_t)off;
	dev->config[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	dev->next_cap = (uint8_t)((off + len + 3) & ~3u);
	return off;
}

static uint64_t align_up(uint64_t v, uint64_t align)
{
	return (v + align - 1) & ~(align - 1);
}

/* Give every BAR of dev an address in its window (64-bit BARs in the
 * 64-bit window when there is one); nothing changes unless all fit. */
static bool place_bars(struct pci_bus *bus, struct pci_device *dev)
{
	struct pci_window low = bus->mmio32, high = bus->mmio64;
	uint64_t addr[PCI_NUM_BARS] = { 0 };

	for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
		const struct pci_bar *bar = &dev->bars[i];
		struct pci_window *win = bar->is64 && high.end > high.base ? &high : &low;

		if (!bar->size)
			continue;
		addr[i] = align_up(win->next, bar->size);
		if (addr[i] + bar->size > win->end)
			return false;
		win->next = addr[i] + bar->size;
	}
	for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *bar = &dev->bars[i];
		unsigned int off = PCI_BAR0 + 4 * i;

		if (!bar->size)
			continue;
		bar->addr = addr[i];
		put32(dev->config, off, (uint32_t)bar->addr | (bar->is64 ? BAR_MEM_64 : 0));
		if (bar->is64)
			put32(dev->config, off + 4, (uint32_t)(bar->addr >> 32));
	}
	bus->mmio32 = low;
	bus->mmio64 = high;
	return true;
}

int pci_bus_plug(struct pci_bus *bus, struct pci_device *dev)
{
	pthread_mutex_lock(&bus->lock);
	for (unsigned int slot = 0; slot < PCI_MAX_DEVICES; slot++) {
		if (bus->devices[slot])
			continue;
		if (!place_bars(bus, dev)) {
			pthread_mutex_unlock(&bus->lock);
			return -ENOSPC;
		}
		bus->devices[slot] = dev;
		pthread_mutex_unlock(&bus->lock);
		return (int)slot;
	}
	pthread_mutex_unlock(&bus->lock);
	return -ENOSPC;
}

/* After a config write: BAR registers may have moved. */
static void refresh_bars(struct pci_device *dev)
{
	for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
		struct pci_bar *bar = &dev->bars[i];
		unsigned int off = PCI_BAR0 + 4 * i;

		if (!bar->size)
			continue;
		bar->addr = get32(dev->config, off) & ~0xfULL;
		if (bar->is64)
			bar->addr |= (uint64_t)get32(dev->config, off + 4) << 32;
	}
}

/* The guest's write: only its writable bits change, then BARs follow. */
static void config_write(struct pci_device *dev, unsigned int off, const uint8_t *data,
			 unsigned int size)
{
	for (unsigned int i = 0; i < size; i++) {
		uint8_t m = dev->wmask[off + i];

		dev->config[off + i] = (uint8_t)((dev->config[off + i] & ~m) | (data[i] & m));
	}
	refresh_bars(dev);
	if (dev->config_written)
		dev->config_written(dev, off, size);
}

void pci_config_access(struct pci_bus *bus, unsigned int slot, unsigned int off,
		       uint8_t *data, unsigned int size, bool is_write)
{
	struct pci_device *dev = slot < PCI_MAX_DEVICES ? bus->devices[slot] : NULL;

	/* No device, or an access past the header: all-ones / dropped. */
	if (!dev || off >= PCI_CONFIG_SIZE || size > PCI_CONFIG_SIZE - off) {
		if (!is_write)
			memset(data, dev ? 0 : 0xff, size);
		return;
	}
	if (!is_write) {
		memcpy(data, dev->config + off, size);
		return;
	}
	config_write(dev, off, data, size);
}

void pci_device_save_config(const struct pci_device *dev, uint8_t config[PCI_CONFIG_SIZE])
{
	memcpy(config, dev->config, PCI_CONFIG_SIZE);
}

int pci_device_load_config(struct pci_device *dev, const uint8_t config[PCI_CONFIG_SIZE],
			   unsigned int *bad_off)
{
	for (unsigned int i = 0; i < PCI_CONFIG_SIZE; i++) {
		if ((config[i] ^ dev->config[i]) & ~dev->wmask[i]) {
			*bad_off = i;
			return -EINVAL;
		}
	}
	config_write(dev, 0, config, PCI_CONFIG_SIZE);
	return 0;
}

void pci_config_port_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size,
			bool is_write)
{
	struct pci_bus *bus = ctx;
	uint32_t addr;

	pthread_mutex_lock(&bus->lock);
	if (offset < 4) {
		/* Only whole-dword accesses reach the address register. */
		if (offset == 0 && size == 4 && is_write)
			bus->config_address = (uint32_t)io_data_get(data, 4);
		else if (!is_write)
			io_data_put(data, size, offset == 0 && size == 4 ? bus->config_address : ~0ULL);
		pthread_mutex_unlock(&bus->lock);
		return;
	}
	addr = bus->config_address;
	/* Enabled, bus 0, function 0; anything else has no device. */
	if (!(addr & CONFIG_ENABLE) || ((addr >> 16) & 0xff) || ((addr >> 8) & 7)) {
		if (!is_write)
			memset(data, 0xff, size);
	} else {
		pci_config_access(bus, (addr >> 11) & 31, (addr & 0xfc) + (unsigned int)(offset - 4),
				  data, size, is_write);
	}
	pthread_mutex_unlock(&bus->lock);
}

void pci_ecam_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size, bool is_write)
{
	struct pci_bus *bus = ctx;
	unsigned int function = (offset >> 12) & 7, reg = offset & 0xfff;

	pthread_mutex_lock(&bus->lock);
	if (function || (offset >> 20)) {
		if (!is_write)
			memset(data, 0xff, size);
	} else {
		pci_config_access(bus, (offset >> 15) & 31, reg, data, size, is_write);
	}
	pthread_mutex_unlock(&bus->lock);
}

/* An access at guest-physical addr in one of the windows: the BAR that
 * covers it now, wherever the guest put it. The bus lock only guards the
 * lookup: the device is called outside it, so one device's slow work (a
 * reset that joins its queue threads and waits for its I/O) never holds up
 * another vCPU's access to the rest of the bus. Devices are never
 * unplugged while vCPUs run, so the BAR's handler outlives the call; one
 * the guest moves meanwhile still gets this access at its old offset, as
 * if it had come a moment earlier. */
static void mmio_dispatch(struct pci_bus *bus, uint64_t addr, uint8_t *data, unsigned int size,
			  bool is_write)
{
	io_handler_fn handler = NULL;
	void *ctx = NULL;
	uint64_t offset = 0;

	pthread_mutex_lock(&bus->lock);
	for (unsigned int slot = 0; slot < PCI_MAX_DEVICES && !handler; slot++) {
		struct pci_device *dev = bus->devices[slot];

		if (!dev || !(dev->config[PCI_COMMAND] & PCI_COMMAND_MEMORY))
			continue;
		for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
			struct pci_bar *bar = &dev->bars[i];

			if (!bar->size || addr < bar->addr || addr - bar->addr >= bar->size ||
			    size > bar->size - (addr - bar->addr))
				continue;
			handler = bar->handler;
			ctx = bar->ctx;
			offset = addr - bar->addr;
			break;
		}
	}
	pthread_mutex_unlock(&bus->lock);
	if (handler)
		handler(ctx, offset, data, size, is_write);
	else if (!is_write)
		memset(data, 0xff, size);
}

void pci_mmio32_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size, bool is_write)
{
	struct pci_bus *bus = ctx;

	mmio_dispatch(bus, bus->mmio32.base + offset, data, size, is_write);
}

void pci_mmio64_io(void *ctx, uint64_t offset, uint8_t *data, unsigned int size, bool is_write)
{
	struct pci_bus *bus = ctx;

	mmio_dispatch(bus, bus->mmio64.base + offset, data, size, is_write);
}
