// SPDX-License-Identifier: MIT
/*
 * The kernel loaders (src/x86/boot_linux.c, boot_pvh.c, boot_multiboot.c)
 * over a hostile image: the input's first byte picks the loader (or the
 * detection kiln does on a real file), the next ones the initrd and the
 * command line, and the rest is the image. A load either fails with a
 * message or puts everything it reports inside guest RAM.
 */
#include <errno.h>
#include <stdint.h>

#include "fuzz_input.h"
#include "x86/boot.h"
#include "x86/layout.h"

#define RAM (32ULL << 20)

static struct guest_memory mem;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	FUZZ_SETUP(guest_mem_create(&mem, RAM, LAYOUT_PCI_HOLE_START) == 0);
	return 0;
}

static int load(uint8_t which, const struct boot_request *req, const uint8_t *image, size_t len,
		const uint8_t *initrd, size_t initrd_len, struct boot_entry *entry,
		struct kiln_err *err)
{
	enum boot_format format = boot_detect(image, len);

	(void)multiboot_find_header(image, len);
	switch (which % 4) {
	case 1:
		format = BOOT_FORMAT_BZIMAGE;
		break;
	case 2:
		format = BOOT_FORMAT_PVH;
		break;
	case 3:
		format = BOOT_FORMAT_MULTIBOOT;
		break;
	}
	switch (format) {
	case BOOT_FORMAT_BZIMAGE:
		return boot_load_bzimage(req, image, len, initrd, initrd_len, entry, err);
	case BOOT_FORMAT_PVH:
		return boot_load_pvh(req, image, len, initrd, initrd_len, entry, err);
	case BOOT_FORMAT_MULTIBOOT:
		return boot_load_multiboot(req, image, len, initrd, initrd_len, entry, err);
	default:
		return err_set(err, -EINVAL, "not a kernel image kiln knows");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const cmdlines[4] = {
		"", "console=ttyS0", "console=ttyS0 reboot=k panic=1 root=/dev/vda rw", NULL,
	};
	struct fuzz_input in = fuzz_input(data, size);
	uint8_t which = fuzz_u8(&in), extra = fuzz_u8(&in);
	size_t initrd_len = fuzz_u16(&in) % 8192;
	char cmdline[4096];
	struct boot_request req = { .mem = &mem, .kernel_path = "fuzz-kernel",
				    .rsdp_gpa = (extra & 4) ? LAYOUT_ACPI_BASE : 0 };
	struct boot_entry entry = { 0 };
	struct kiln_err err = { 0 };
	static const uint8_t initrd[8192] = { 0x1f, 0x8b };

	/* A command line from the list, or a long one of the input's length. */
	if (cmdlines[extra & 3]) {
		req.cmdline = cmdlines[extra & 3];
	} else {
		size_t n = fuzz_u16(&in) % sizeof(cmdline);

		memset(cmdline, 'x', n);
		cmdline[n] = '\0';
		req.cmdline = cmdline;
	}
	if (extra & 8)
		req.linux_cmdline_extra = "clocksource=kvm-clock";
	if (extra & 16)
		req.initrd_path = "fuzz-initrd";
	if (!load(which, &req, data + in.pos, fuzz_left(&in), (extra & 16) ? initrd : NULL,
		  initrd_len, &entry, &err)) {
		FUZZ_CHECK(entry.kernel_start <= entry.kernel_end && entry.kernel_end <= guest_mem_top(&mem),
			   "kernel at [%#lx, %#lx)", entry.kernel_start, entry.kernel_end);
		FUZZ_CHECK(!entry.initrd_size ||
			   guest_mem_ptr(&mem, entry.initrd_start, entry.initrd_size),
			   "initrd at %#lx, %lu bytes", entry.initrd_start, entry.initrd_size);
	} else {
		FUZZ_CHECK(err.msg[0], "a failed load says why");
	}
	return 0;
}
