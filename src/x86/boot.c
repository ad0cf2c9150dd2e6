// SPDX-License-Identifier: MIT
#include "x86/boot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "x86/elf_image.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define BZIMAGE_HDRS_OFFSET      0x202

/* A whole file mapped read-only; len 0 maps nothing. */
struct mapped_file {
	const uint8_t *data;
	size_t len;
};

static int map_file(const char *path, const char *what, struct mapped_file *file,
		    struct kiln_err *err)
{
	struct stat st;
	/* O_NONBLOCK: a FIFO named as a kernel fails the check below rather
	 * than block kiln (an API request) in open(). */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	memset(file, 0, sizeof(*file));
	if (fd < 0) {
		if (errno == ENOENT)
			return err_set(err, -ENOENT, "%s '%s': no such file", what, path);
		return err_set_errno(err, -errno, "%s '%s'", what, path);
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(err, -EINVAL, "%s '%s': not a regular file", what, path);
	}
	file->len = (size_t)st.st_size;
	if (file->len) {
		void *p = mmap(NULL, file->len, PROT_READ, MAP_PRIVATE, fd, 0);

		if (p == MAP_FAILED) {
			close(fd);
			return err_set_errno(err, -errno, "%s '%s': cannot map", what, path);
		}
		file->data = p;
	}
	close(fd);
	return 0;
}

static void unmap_file(struct mapped_file *file)
{
	if (file->data)
		munmap((void *)file->data, file->len);
	memset(file, 0, sizeof(*file));
}

static bool has_pvh_note(const uint8_t *image, size_t len)
{
	struct elf_image elf;
	const uint8_t *desc;
	uint32_t desc_len;

	if (elf_parse(image, len, "", &elf, NULL))
		return false;
	return elf_find_note(image, &elf, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &desc, &desc_len);
}

enum boot_format boot_detect(const uint8_t *image, size_t len)
{
	/* Multiboot first: a multiboot ELF may also carry other notes, and a
	 * test kernel is what its multiboot header says it is. */
	if (multiboot_find_header(image, len) >= 0)
		return BOOT_FORMAT_MULTIBOOT;
	if (elf_is_elf(image, len))
		return has_pvh_note(image, len) ? BOOT_FORMAT_PVH : BOOT_FORMAT_UNKNOWN;
	if (len >= BZIMAGE_HDRS_OFFSET + 4 && memcmp(image + BZIMAGE_HDRS_OFFSET, "HdrS", 4) == 0)
		return BOOT_FORMAT_BZIMAGE;
	return BOOT_FORMAT_UNKNOWN;
}

static int unknown_format(const char *path, const struct mapped_file *kernel,
			  struct kiln_err *err)
{
	if (elf_is_elf(kernel->data, kernel->len))
		return err_set(err, -EINVAL, "kernel '%s': ELF without a PVH entry note or a "
			       "multiboot header", path);
	return err_set(err, -EINVAL, "kernel '%s': not a bzImage, PVH ELF or multiboot image",
		       path);
}

/* A Linux kernel's command line with the profile's fragment after it. */
static char *linux_cmdline(const struct boot_request *req)
{
	size_t a = strlen(req->cmdline), b = strlen(req->linux_cmdline_extra);
	char *s = malloc(a + b + 2);

	if (s)
		snprintf(s, a + b + 2, "%s%s%s", req->cmdline, a ? " " : "",
			 req->linux_cmdline_extra);
	return s;
}

static int load_format(const struct boot_request *req, enum boot_format format,
		       const struct mapped_file *kernel, const struct mapped_file *initrd,
		       struct boot_entry *entry, struct kiln_err *err)
{
	const uint8_t *rd = req->initrd_path ? initrd->data : NULL;

	if (req->initrd_path && !rd)
		rd = (const uint8_t *)""; /* an empty initrd is still an initrd */
	switch (format) {
	case BOOT_FORMAT_BZIMAGE:
		return boot_load_bzimage(req, kernel->data, kernel->len, rd, initrd->len, entry, err);
	case BOOT_FORMAT_PVH:
		return boot_load_pvh(req, kernel->data, kernel->len, rd, initrd->len, entry, err);
	case BOOT_FORMAT_MULTIBOOT:
		return boot_load_multiboot(req, kernel->data, kernel->len, rd, initrd->len, entry,
					   err);
	default:
		return unknown_format(req->kernel_path, kernel, err);
	}
}

static int load_detected(const struct boot_request *orig, const struct mapped_file *kernel,
			 const struct mapped_file *initrd, struct boot_entry *entry,
			 struct kiln_err *err)
{
	enum boot_format format = boot_detect(kernel->data, kernel->len);
	struct boot_request linux_req = *orig;
	const struct boot_request *req = orig;
	char *cmdline = NULL;
	int ret;

	if ((format == BOOT_FORMAT_BZIMAGE || format == BOOT_FORMAT_PVH) &&
	    orig->linux_cmdline_extra && *orig->linux_cmdline_extra) {
		cmdline = linux_cmdline(orig);
		if (!cmdline)
			return err_set(err, -ENOMEM, "out of memory");
		linux_req.cmdline = cmdline;
		req = &linux_req;
	}
	ret = load_format(req, format, kernel, initrd, entry, err);
	free(cmdline);
	return ret;
}

int boot_check(const char *kernel_path, const char *initrd_path, struct kiln_err *err)
{
	struct mapped_file kernel, initrd = { 0 };
	int ret;

	ret = map_file(kernel_path, "kernel", &kernel, err);
	if (ret)
		return ret;
	if (kernel.len == 0)
		ret = err_set(err, -EINVAL, "kernel '%s': empty file", kernel_path);
	else if (boot_detect(kernel.data, kernel.len) == BOOT_FORMAT_UNKNOWN)
		ret = unknown_format(kernel_path, &kernel, err);
	unmap_file(&kernel);
	if (!ret && initrd_path) {
		ret = map_file(initrd_path, "initrd", &initrd, err);
		unmap_file(&initrd);
	}
	return ret;
}

int boot_load(const struct boot_request *req, struct boot_entry *entry, struct kiln_err *err)
{
	struct mapped_file kernel, initrd = { 0 };
	int ret;

	ret = map_file(req->kernel_path, "kernel", &kernel, err);
	if (ret)
		return ret;
	if (kernel.len == 0) {
		unmap_file(&kernel);
		return err_set(err, -EINVAL, "kernel '%s': empty file", req->kernel_path);
	}
	if (req->initrd_path)
		ret = map_file(req->initrd_path, "initrd", &initrd, err);
	if (!ret)
		ret = load_detected(req, &kernel, &initrd, entry, err);
	unmap_file(&initrd);
	unmap_file(&kernel);
	return ret;
}
