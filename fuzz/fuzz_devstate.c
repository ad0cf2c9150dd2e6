// SPDX-License-Identifier: MIT
/*
 * Device state from a crafted snapshot: each device's load hook as a
 * hostile state file reaches it. A board of the platform devices and two
 * virtio-pci devices (blk with two queues on a real image, rng) is brought
 * up as a guest driver would, paused and saved once; every input then edits
 * those saved sections (flip bytes, set words, cut or grow a section), and a
 * fresh board loads them. A load that succeeds is started, its queues are
 * kicked (the workers read the restored rings), and it is torn down; one
 * that fails must leave nothing behind. Either way no file descriptor may
 * outlive the board.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "bus/pci.h"
#include "devices/acpi_pm.h"
#include "devices/fw_cfg.h"
#include "devices/i8042.h"
#include "devices/pc_testdev.h"
#include "devices/pci_host.h"
#include "devices/rtc.h"
#include "devices/serial.h"
#include "fuzz_input.h"
#include "util/snapshot_file.h"
#include "virtio/blk.h"
#include "virtio/pci.h"
#include "virtio/pci_device.h"
#include "virtio/rng.h"
#include "virtq_driver.h"
#include "x86/layout.h"

#define RAM        (4ULL << 20)
#define MMIO64     (1ULL << 33)
#define DISK_BYTES (64 * 1024)
#define MAX_KICKS  16
#define MAX_EDITS  16
#define RING_BASE  0x10000ULL
#define QSIZE      16

static const struct device_kind *const board_kinds[] = {
	&serial_kind, &i8042_kind, &fw_cfg_kind, &acpi_pm_kind, &pc_testdev_kind, &rtc_kind,
	&pci_host_kind, &virtio_blk_kind, &virtio_rng_kind,
};

/* What KVM does for the transport: notify addresses to eventfds. */
struct fake_kvm {
	uint64_t kick_addr[MAX_KICKS];
	int kick_fd[MAX_KICKS];
	unsigned int next_route;
};

/* One machine's devices and buses. */
struct board {
	struct io_bus pio, mmio;
	struct pci_bus pci;
	struct device_list devices;
	struct fake_kvm kvm;
};

static void fake_stop(void *ctx, enum machine_stop_reason reason, int status)
{
	(void)ctx;
	(void)reason;
	(void)status;
}

static void fake_irq(void *ctx, unsigned int gsi, int level)
{
	(void)ctx;
	FUZZ_CHECK(gsi < 24 && (level == 0 || level == 1), "IRQ %u level %d", gsi, level);
}

static void fake_suspend(void *ctx)
{
	(void)ctx;
}

static int fake_ioeventfd(void *ctx, uint64_t addr, unsigned int len, int fd, bool add)
{
	struct fake_kvm *k = ctx;

	FUZZ_CHECK(len == 2, "notify length %u", len);
	for (unsigned int i = 0; i < MAX_KICKS; i++) {
		if (add && k->kick_fd[i] < 0) {
			k->kick_addr[i] = addr;
			k->kick_fd[i] = fd;
			return 0;
		}
		if (!add && k->kick_fd[i] == fd && k->kick_addr[i] == addr) {
			k->kick_fd[i] = -1;
			return 0;
		}
	}
	return add ? -ENOSPC : -ENOENT;
}

static int fake_msi_route(void *ctx, unsigned int route, uint64_t addr, uint32_t data, int fd)
{
	(void)ctx;
	(void)addr;
	(void)data;
	FUZZ_CHECK(fd < 0 || fcntl(fd, F_GETFD) >= 0, "route %u bound to closed fd %d", route, fd);
	return 0;
}

static int fake_msi_alloc(void *ctx, unsigned int count, unsigned int *first)
{
	struct fake_kvm *k = ctx;

	*first = k->next_route;
	k->next_route += count;
	return 0;
}

static const struct machine_ops machine = { .stop = fake_stop, .set_irq = fake_irq,
					    .suspend = fake_suspend };
static struct kiln_config cfg = { .command = KILN_CMD_RUN, .cpus = 1, .memory_mib = 4,
				  .rng = true, .nr_disks = 1, .test_devices = true };
static struct guest_memory mem;
static char dir[] = "/var/tmp/kiln-fuzz-devstate-XXXXXX";
static char image[64];
static int baseline_fds;

/* The saved state every input starts from: one section per device. */
static struct snapshot_file base;
static uint8_t *base_buf;

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char path[64], target[256];
	int n = 0;

	FUZZ_SETUP(d != NULL);
	while ((e = readdir(d))) {
		ssize_t len;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		len = readlink(path, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		n += !strncmp(target, "anon_inode:", 11) || !strncmp(target, dir, strlen(dir));
	}
	closedir(d);
	return n;
}

static void make_image(void)
{
	int fd;

	FUZZ_SETUP(mkdtemp(dir) != NULL);
	snprintf(image, sizeof(image), "%s/disk.img", dir);
	fd = open(image, O_CREAT | O_RDWR | O_TRUNC, 0600);
	FUZZ_SETUP(fd >= 0 && ftruncate(fd, DISK_BYTES) == 0);
	close(fd);
}

static struct board *board_create(void)
{
	struct board *b = calloc(1, sizeof(*b));
	struct virtio_pci_host host = { fake_ioeventfd, fake_msi_route, fake_msi_alloc, NULL };
	struct device_env env = { .cfg = &cfg, .machine = &machine, .mem = &mem,
				  .console_fd = -1 };
	struct kiln_err err = { 0 };

	FUZZ_SETUP(b != NULL);
	memset(b->kvm.kick_fd, 0xff, sizeof(b->kvm.kick_fd));
	host.ctx = &b->kvm;
	env.pio = &b->pio;
	env.mmio = &b->mmio;
	env.pci = &b->pci;
	env.devices = &b->devices;
	env.virtio = &host;
	pci_bus_init(&b->pci, LAYOUT_PCI_MMIO32, LAYOUT_PCI_MMIO32_END, MMIO64,
		     MMIO64 + LAYOUT_PCI_MMIO64_SIZE);
	FUZZ_SETUP(io_bus_register(&b->pio, 0xcf8, 8, pci_config_port_io, &b->pci, "pci") == 0);
	for (size_t i = 0; i < sizeof(board_kinds) / sizeof(board_kinds[0]); i++)
		FUZZ_SETUP(board_kinds[i]->create(&env, &err) == 0);
	return b;
}

static void board_destroy(struct board *b)
{
	device_list_destroy(&b->devices);
	free(b);
}

static void bar_write(struct pci_device *dev, unsigned int bar, uint64_t off, unsigned int size,
		      uint64_t value)
{
	uint8_t data[8];

	io_data_put(data, size, value);
	dev->bars[bar].handler(dev->bars[bar].ctx, off, data, size, true);
}

/* What Linux's driver does to bring a virtio-pci device up, every queue
 * with its own rings and MSI-X vector. */
static void bring_up(struct pci_bus *bus, unsigned int slot, uint64_t rings)
{
	struct pci_device *dev = bus->devices[slot];
	struct virtio_pci *vp = (struct virtio_pci *)((char *)dev - offsetof(struct virtio_pci, pci));
	uint8_t on = 0x80, cmd = 0x06;

	bar_write(dev, VPCI_BAR, 0x14, 1, 1 | 2);
	bar_write(dev, VPCI_BAR, 0x08, 4, 1);
	bar_write(dev, VPCI_BAR, 0x0c, 4, 1);                  /* VERSION_1 */
	bar_write(dev, VPCI_BAR, 0x14, 1, 1 | 2 | 8);
	pci_config_access(bus, slot, vp->msix_cap + 3, &on, 1, true);
	pci_config_access(bus, slot, PCI_COMMAND, &cmd, 1, true);
	for (unsigned int q = 0; q < vp->model.nr_queues; q++) {
		uint64_t at = rings + q * 0x2000;
		struct vdriver d;

		bar_write(dev, VPCI_MSIX_BAR, VPCI_MSIX_OFF + 16 * q, 4, 0xfee00000);
		bar_write(dev, VPCI_MSIX_BAR, VPCI_MSIX_OFF + 16 * q + 8, 4, 0x40 + q);
		bar_write(dev, VPCI_MSIX_BAR, VPCI_MSIX_OFF + 16 * q + 12, 4, 0);
		vdriver_init(&d, &mem, at, QSIZE, true);
		bar_write(dev, VPCI_BAR, 0x16, 2, q);
		bar_write(dev, VPCI_BAR, 0x18, 2, QSIZE);
		bar_write(dev, VPCI_BAR, 0x1a, 2, q);
		bar_write(dev, VPCI_BAR, 0x20, 8, d.desc_gpa);
		bar_write(dev, VPCI_BAR, 0x28, 8, d.avail_gpa);
		bar_write(dev, VPCI_BAR, 0x30, 8, d.used_gpa);
		bar_write(dev, VPCI_BAR, 0x1c, 2, 1);
	}
	bar_write(dev, VPCI_BAR, 0x14, 1, 1 | 2 | 8 | 4);
}

static void save_base(void)
{
	struct board *b = board_create();
	struct snapshot_writer w;
	struct kiln_err err = { 0 };
	uint64_t rings = RING_BASE;
	size_t len;

	for (unsigned int slot = 0; slot < PCI_MAX_DEVICES; slot++) {
		struct pci_device *dev = b->pci.devices[slot];

		if (dev && dev->config[0] == 0xf4 && dev->config[1] == 0x1a) {  /* virtio */
			bring_up(&b->pci, slot, rings);
			rings += 0x10000;
		}
	}
	FUZZ_SETUP(device_list_start(&b->devices, &err) == 0);
	FUZZ_SETUP(device_list_pause(&b->devices, &err) == 0);
	snapshot_writer_init(&w);
	FUZZ_SETUP(device_list_save(&b->devices, &w, &err) == 0);
	FUZZ_SETUP(snapshot_writer_finish(&w, &base_buf, &len, &err) == 0);
	FUZZ_SETUP(snapshot_file_parse(base_buf, len, "base", &base, &err) == 0);
	board_destroy(b);
}

static void teardown(void)
{
	free(base_buf);
	unlink(image);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	make_image();
	cfg.disks[0] = (struct kiln_disk){ .path = image, .queues = 2, .serial = "fuzz",
					   .direct = BLOCK_DIRECT_OFF };
	FUZZ_SETUP(guest_mem_create(&mem, RAM, 3ULL << 30) == 0);
	baseline_fds = count_fds();
	save_base();
	FUZZ_SETUP(count_fds() == baseline_fds);
	atexit(teardown);
	return 0;
}

/* The sections being edited: copies of the base, each in a buffer with
 * room to grow. */
struct edited {
	uint8_t *data[SNAPSHOT_MAX_SECTIONS];
	uint32_t len[SNAPSHOT_MAX_SECTIONS];
	uint32_t version[SNAPSHOT_MAX_SECTIONS];
};

#define GROW 64

static void edit(struct edited *e, struct fuzz_input *in)
{
	uint8_t op = fuzz_u8(in);
	unsigned int s = fuzz_u8(in) % base.nr_sections;
	uint32_t room = e->len[s] ? e->len[s] : 1;
	uint32_t off = fuzz_u16(in) % room;

	switch (op % 5) {
	case 0: /* flip bits of one byte */
		if (e->len[s])
			e->data[s][off] ^= fuzz_u8(in);
		break;
	case 1: /* a 16-bit field */
		if (off + 2 <= e->len[s])
			fuzz_take(in, e->data[s] + off, 2);
		break;
	case 2: /* a 64-bit field (addresses, features) */
		if (off + 8 <= e->len[s])
			fuzz_take(in, e->data[s] + off, 8);
		break;
	case 3: /* cut short, or grow with zeros up to GROW bytes */
		if (fuzz_u8(in) & 1)
			e->len[s] = off;
		else
			e->len[s] = base.sections[s].len + fuzz_u8(in) % (GROW + 1);
		break;
	default: /* another version */
		e->version[s] = fuzz_u8(in);
		break;
	}
}

static void kick_all(struct board *b)
{
	for (unsigned int i = 0; i < MAX_KICKS; i++)
		if (b->kvm.kick_fd[i] >= 0)
			FUZZ_CHECK(write(b->kvm.kick_fd[i], &(uint64_t){ 1 }, 8) == 8, "kick");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = fuzz_input(data, size);
	struct edited e;
	struct snapshot_writer w;
	struct snapshot_file file;
	struct kiln_err err = { 0 };
	struct board *b;
	uint8_t *buf = NULL;
	size_t len;

	for (unsigned int s = 0; s < base.nr_sections; s++) {
		e.len[s] = base.sections[s].len;
		e.version[s] = base.sections[s].version;
		e.data[s] = calloc(1, base.sections[s].len + GROW);
		FUZZ_SETUP(e.data[s] != NULL);
		memcpy(e.data[s], base.sections[s].data, base.sections[s].len);
	}
	for (unsigned int i = 0; i < MAX_EDITS && fuzz_left(&in); i++)
		edit(&e, &in);
	snapshot_writer_init(&w);
	for (unsigned int s = 0; s < base.nr_sections; s++)
		snapshot_writer_add(&w, base.sections[s].name, e.version[s], e.data[s], e.len[s]);
	FUZZ_SETUP(snapshot_writer_finish(&w, &buf, &len, &err) == 0);
	FUZZ_SETUP(snapshot_file_parse(buf, len, "edited", &file, &err) == 0);

	b = board_create();
	if (device_list_load(&b->devices, &file, NULL, &err) == 0) {
		FUZZ_CHECK(device_list_start(&b->devices, &err) == 0, "start: %s", err.msg);
		kick_all(b);
		FUZZ_CHECK(device_list_pause(&b->devices, &err) == 0, "pause: %s", err.msg);
	} else {
		FUZZ_CHECK(size > 0, "the saved state, unedited, was refused: %s", err.msg);
		FUZZ_CHECK(err.msg[0] != '\0', "a refused load says why");
	}
	board_destroy(b);
	FUZZ_CHECK(count_fds() == baseline_fds, "a board left %d descriptors open",
		   count_fds() - baseline_fds);
	free(buf);
	for (unsigned int s = 0; s < base.nr_sections; s++)
		free(e.data[s]);
	return 0;
}
