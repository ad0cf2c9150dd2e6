// SPDX-License-Identifier: MIT
/*
 * PCI configuration space (src/bus/pci.c) and the virtio-pci transport
 * (src/virtio/pci.c) as a hostile guest drives them, with the real worker
 * threads: a virtio-blk disk (two queues, a real image) and a virtio-rng
 * are made by the board's create functions behind a host bridge, and the
 * input is a sequence of accesses through 0xcf8/0xcfc, ECAM and the BARs
 * (device_status, feature and queue registers, MSI-X table, notify), guest
 * RAM writes (rings) and kicks through the queues' eventfds, as KVM's
 * ioeventfds deliver them. Each input ends with a reset of the machine's
 * devices; no file descriptor may outlive it (worker eventfds, MSI
 * bindings): the count must be what it was once the devices were made.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#include "bus/pci.h"
#include "devices/pci_host.h"
#include "fuzz_input.h"
#include "virtio/blk.h"
#include "virtio/pci.h"
#include "virtio/pci_device.h"
#include "virtio/rng.h"
#include "x86/layout.h"

#define RAM        (4ULL << 20)
#define MMIO64     (1ULL << 33)
#define DISK_BYTES (64 * 1024)
#define MAX_KICKS  32

/* What KVM does for the transport here: notify addresses to eventfds. */
struct fake_kvm {
	uint64_t kick_addr[MAX_KICKS];
	int kick_fd[MAX_KICKS];
	unsigned int next_route;
};

static struct fake_kvm kvm;
static struct guest_memory mem;
static struct io_bus pio, mmio;
static struct pci_bus pci;
static struct device_list devices;
static char dir[] = "/var/tmp/kiln-fuzz-pci-XXXXXX";
static char image[64];
static int baseline_fds;

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
	return -ENOSPC;
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

/* File descriptors of the kinds kiln's devices make: eventfds, io_uring
 * rings (anonymous inodes) and images. libFuzzer's own (the symbolizer's
 * pipes, opened when new coverage is printed) are not counted. */
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

static void teardown(void)
{
	device_list_destroy(&devices);
	unlink(image);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const struct virtio_pci_host host = { fake_ioeventfd, fake_msi_route,
						      fake_msi_alloc, &kvm };
	static struct kiln_config cfg = { .command = KILN_CMD_RUN, .cpus = 1, .memory_mib = 4,
					  .rng = true, .nr_disks = 1 };
	static const struct machine_ops machine = { 0 };
	struct device_env env = { .cfg = &cfg, .machine = &machine, .pio = &pio, .mmio = &mmio,
				  .pci = &pci, .mem = &mem, .virtio = &host, .console_fd = -1,
				  .devices = &devices };
	struct kiln_err err = { 0 };

	(void)argc;
	(void)argv;
	memset(kvm.kick_fd, 0xff, sizeof(kvm.kick_fd));
	make_image();
	cfg.disks[0] = (struct kiln_disk){ .path = image, .queues = 2, .serial = "fuzz",
					   .direct = BLOCK_DIRECT_OFF };
	FUZZ_SETUP(guest_mem_create(&mem, RAM, 3ULL << 30) == 0);
	pci_bus_init(&pci, LAYOUT_PCI_MMIO32, LAYOUT_PCI_MMIO32_END, MMIO64,
		     MMIO64 + LAYOUT_PCI_MMIO64_SIZE);
	FUZZ_SETUP(io_bus_register(&pio, 0xcf8, 8, pci_config_port_io, &pci, "pci") == 0);
	FUZZ_SETUP(io_bus_register(&mmio, LAYOUT_PCI_ECAM, LAYOUT_PCI_ECAM_SIZE, pci_ecam_io,
				   &pci, "ecam") == 0);
	FUZZ_SETUP(io_bus_register(&mmio, LAYOUT_PCI_MMIO32, LAYOUT_PCI_MMIO32_END -
				   LAYOUT_PCI_MMIO32, pci_mmio32_io, &pci, "mmio32") == 0);
	FUZZ_SETUP(io_bus_register(&mmio, MMIO64, LAYOUT_PCI_MMIO64_SIZE, pci_mmio64_io, &pci,
				   "mmio64") == 0);
	FUZZ_SETUP(pci_host_kind.create(&env, &err) == 0);
	FUZZ_SETUP(virtio_blk_kind.create(&env, &err) == 0);
	FUZZ_SETUP(virtio_rng_kind.create(&env, &err) == 0);
	FUZZ_SETUP(device_list_start(&devices, &err) == 0);
	atexit(teardown);
	device_list_reset(&devices);
	baseline_fds = count_fds();
	return 0;
}

/* A memory access as KVM would pass it on: notify writes that match an
 * ioeventfd signal it instead of exiting. */
static void mmio_access(uint64_t addr, uint8_t *data, unsigned int len, bool is_write)
{
	for (unsigned int i = 0; is_write && len == 2 && i < MAX_KICKS; i++) {
		if (kvm.kick_fd[i] >= 0 && kvm.kick_addr[i] == addr) {
			FUZZ_CHECK(write(kvm.kick_fd[i], &(uint64_t){ 1 }, 8) == 8, "kick");
			return;
		}
	}
	io_bus_access(&mmio, addr, data, len, is_write);
}

/* An address in one of the devices' BARs (slot and BAR from the input). */
static uint64_t bar_address(struct fuzz_input *in)
{
	uint8_t pick = fuzz_u8(in);       /* slot in bits 3-4, BAR in bits 0-2 */
	uint16_t off = fuzz_u16(in);
	struct pci_device *dev = pci.devices[(pick >> 3) % 4];
	const struct pci_bar *bar;

	if (!dev)
		return LAYOUT_PCI_MMIO32;
	bar = &dev->bars[(pick & 7) % PCI_NUM_BARS];
	return bar->addr + (bar->size ? off % bar->size : off);
}

static void one_op(struct fuzz_input *in)
{
	static const unsigned int sizes[4] = { 1, 2, 4, 8 };
	uint8_t op = fuzz_u8(in), bytes[8];
	unsigned int len = sizes[(op >> 4) & 3];
	bool is_write = op & 0x40;

	fuzz_take(in, bytes, 8);
	switch (op & 7) {
	case 0: /* 0xcf8 address, then data at 0xcfc (or 0xcfe with bit 3) */
		io_bus_access(&pio, 0xcf8, bytes, 4, true);
		fuzz_take(in, bytes, 4);
		io_bus_access(&pio, 0xcfc + ((op >> 3) & 1) * 2, bytes, len > 4 ? 4 : len, is_write);
		break;
	case 1: /* ECAM: slot, function, register */
		mmio_access(LAYOUT_PCI_ECAM + fuzz_u32(in) % LAYOUT_PCI_ECAM_SIZE, bytes, len,
			    is_write);
		break;
	case 2:
	case 3:
	case 4: /* the BARs: virtio registers, MSI-X, notify */
		mmio_access(bar_address(in), bytes, len, is_write);
		break;
	case 5: { /* guest RAM: rings, descriptors, requests */
		uint64_t gpa = fuzz_u32(in) % RAM;
		uint8_t n = fuzz_u8(in);
		uint8_t *p = guest_mem_ptr(&mem, gpa, n);

		if (p)
			fuzz_take(in, p, n);
		break;
	}
	case 6: /* a kick, as a notify write through KVM's ioeventfd */
		if (kvm.kick_fd[bytes[0] % MAX_KICKS] >= 0)
			FUZZ_CHECK(write(kvm.kick_fd[bytes[0] % MAX_KICKS], &(uint64_t){ 1 }, 8) == 8,
				   "kick");
		break;
	case 7: /* the VMM pauses and resumes the machine (PATCH /vm), or the
		 * guest does something else for 200 us while the workers run */
		if (!(bytes[0] & 1))
			usleep(200);
		else if (!device_list_pause(&devices, &(struct kiln_err){ 0 }))
			device_list_resume(&devices);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = fuzz_input(data, size);
	int fds;

	memset(mem.slots[0].hva, 0, RAM);
	for (unsigned int i = 0; i < 256 && fuzz_left(&in); i++)
		one_op(&in);
	device_list_reset(&devices);
	fds = count_fds();
	/* The disk's io_uring engines are made with it, so in the baseline. */
	FUZZ_CHECK(fds == baseline_fds, "%d file descriptors after a reset, %d before", fds,
		   baseline_fds);
	return 0;
}
