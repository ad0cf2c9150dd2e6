// SPDX-License-Identifier: MIT
/*
 * Seed corpora for the fuzz targets, generated rather than downloaded:
 * well-formed inputs in each target's encoding (valid chains, requests, a
 * virtio queue brought up through PCI, instructions over identity page
 * tables, kernel images from the loader tests' builders, the API's example
 * requests), from which the fuzzer mutates.
 *
 * Usage: seedgen DIR — writes DIR/<target>/seed-*.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "image_builder.h"
#include "util/snapshot_file.h"
#include "x86/snapshot_config.h"

/* One seed being built. */
struct seed {
	uint8_t *buf;
	size_t len, cap;
};

static void put(struct seed *s, const void *data, size_t n)
{
	if (s->len + n > s->cap) {
		s->cap = (s->len + n) * 2;
		s->buf = realloc(s->buf, s->cap);
		if (!s->buf) {
			perror("seedgen");
			exit(1);
		}
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
}

static void u8(struct seed *s, uint8_t v) { put(s, &v, 1); }
static void u16(struct seed *s, uint16_t v) { put(s, &v, 2); }
static void u32(struct seed *s, uint32_t v) { put(s, &v, 4); }
static void u64(struct seed *s, uint64_t v) { put(s, &v, 8); }
static void str(struct seed *s, const char *text) { put(s, text, strlen(text)); }

static const char *out_dir;

static void save(const char *target, const char *name, struct seed *s)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", out_dir, target);
	if (mkdir(path, 0755) && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/seed-%s", out_dir, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(s->buf, 1, s->len, f) != s->len || fclose(f)) {
		perror(path);
		exit(1);
	}
	free(s->buf);
	*s = (struct seed){ 0 };
}

/* fuzz_virtq: a RAM chunk at a 64 KiB offset (even: taken as is). */
static void virtq_chunk(struct seed *s, uint16_t off, const void *data, uint8_t len)
{
	u16(s, off);
	u8(s, len);
	put(s, data, len);
}

static void virtq_desc(struct seed *s, unsigned int i, uint64_t addr, uint32_t len,
		       uint16_t flags, uint16_t next, uint64_t table)
{
	uint8_t d[16];

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
	virtq_chunk(s, (uint16_t)(table + 16 * i), d, 16);
}

static void virtq_seeds(void)
{
	const uint16_t avail[4] = { 0, 2, 0, 2 }; /* flags, idx, ring[0], ring[1] */
	struct seed s = { 0 };

	/* Size 8, event idx and indirect; desc 0x1000, avail 0x2000, used 0x3000:
	 * a two-segment chain and a chain through an indirect table. */
	u8(&s, 3 | 0x10 | 0x20);
	u32(&s, 0x1000);
	u32(&s, 0x2000);
	u32(&s, 0x3000);
	u8(&s, 5);
	virtq_desc(&s, 0, 0x8000, 64, 1, 1, 0x1000);
	virtq_desc(&s, 1, 0x8100, 64, 2, 0, 0x1000);
	virtq_desc(&s, 2, 0x4000, 32, 4, 0, 0x1000);
	virtq_desc(&s, 0, 0x8200, 16, 1, 1, 0x4000);
	virtq_desc(&s, 1, 0x8300, 16, 2, 0, 0x4000);
	virtq_chunk(&s, 0x2000, avail, 8);
	save("virtq", "direct-and-indirect", &s);

	/* A descriptor loop: 0 -> 1 -> 0. */
	u8(&s, 2 | 0x20);
	u32(&s, 0x1000);
	u32(&s, 0x2000);
	u32(&s, 0x3000);
	u8(&s, 2);
	virtq_desc(&s, 0, 0x8000, 64, 1, 1, 0x1000);
	virtq_desc(&s, 1, 0x8100, 64, 1, 0, 0x1000);
	virtq_chunk(&s, 0x2000, avail, 6);
	save("virtq", "loop", &s);
}

/* fuzz_blk: a request of n segments; seg 0 is the header. */
struct blk_seg {
	uint16_t len;
	uint8_t where;
};

static void blk_request(struct seed *s, uint8_t shape, uint8_t type, uint16_t sector,
			const struct blk_seg *segs, unsigned int n)
{
	u8(s, (uint8_t)(shape | (n - 1)));
	u8(s, type);
	u16(s, sector);
	for (unsigned int i = 0; i < n; i++) {
		u16(s, segs[i].len);
		u8(s, segs[i].where);
	}
}

static void blk_seeds(void)
{
	const struct blk_seg read[3] = { { 0, 0 }, { 512, 0x03 }, { 1, 0x05 } };
	const struct blk_seg write[3] = { { 0, 0 }, { 1024, 0x02 }, { 1, 0x05 } };
	const struct blk_seg status[2] = { { 0, 0 }, { 1, 0x05 } };
	const struct blk_seg get_id[3] = { { 0, 0 }, { 20, 0x03 }, { 1, 0x05 } };
	const struct blk_seg range[3] = { { 0, 0 }, { 16, 0x04 }, { 1, 0x05 } };
	struct seed s = { 0 };

	for (uint8_t disk = 0; disk < 2; disk++) {
		char name[32];

		u8(&s, disk);
		blk_request(&s, 0, 0, 1, read, 3);     /* IN */
		blk_request(&s, 0, 1, 8, write, 3);    /* OUT */
		blk_request(&s, 0, 4, 0, status, 2);   /* FLUSH */
		blk_request(&s, 0, 8, 0, get_id, 3);   /* GET_ID */
		blk_request(&s, 0x80, 0, 2, read, 3);  /* IN through an indirect table */
		blk_request(&s, 0, 11, 0, range, 3);  /* DISCARD */
		blk_request(&s, 0, 13, 0, range, 3);  /* WRITE_ZEROES */
		snprintf(name, sizeof(name), "every-type-disk%u", disk);
		save("blk", name, &s);
	}
}

/* fuzz_ports: raw-port accesses (bit 7), write bit 2, size in bits 0-1. */
static void port_op(struct seed *s, uint16_t port, unsigned int size, bool write, uint32_t v)
{
	uint8_t size_bits = size == 4 ? 2 : size == 2 ? 1 : 0;

	u8(s, (uint8_t)(0x80 | (write ? 4 : 0) | size_bits));
	u16(s, port);
	if (write)
		put(s, &v, size);
}

static void ports_seeds(void)
{
	struct seed s = { 0 };

	/* COM1: divisor latch, line control, FIFO, interrupts, a byte out, status. */
	port_op(&s, 0x3fb, 1, true, 0x80);
	port_op(&s, 0x3f8, 1, true, 0x01);
	port_op(&s, 0x3fb, 1, true, 0x03);
	port_op(&s, 0x3fa, 1, true, 0xc7);
	port_op(&s, 0x3f9, 1, true, 0x0f);
	port_op(&s, 0x3f8, 1, true, 'k');
	port_op(&s, 0x3fd, 1, false, 0);
	port_op(&s, 0x3fa, 1, false, 0);
	save("ports", "serial", &s);
	/* i8042: read and write the command byte, keyboard commands. */
	port_op(&s, 0x64, 1, true, 0x20);
	port_op(&s, 0x60, 1, false, 0);
	port_op(&s, 0x64, 1, true, 0x60);
	port_op(&s, 0x60, 1, true, 0x47);
	port_op(&s, 0x60, 1, true, 0xff);
	port_op(&s, 0x64, 1, false, 0);
	port_op(&s, 0x60, 1, false, 0);
	save("ports", "i8042", &s);
	/* fw_cfg: signature and RAM size; ACPI PM; PCI config of the bridge. */
	port_op(&s, 0x510, 2, true, 0x0000);
	for (int i = 0; i < 4; i++)
		port_op(&s, 0x511, 1, false, 0);
	port_op(&s, 0x510, 2, true, 0x0003);
	port_op(&s, 0x511, 1, false, 0);
	port_op(&s, 0x600, 2, false, 0);
	port_op(&s, 0x602, 2, true, 0x0100);
	port_op(&s, 0x608, 4, false, 0);
	port_op(&s, 0xcf8, 4, true, 0x80000000);
	port_op(&s, 0xcfc, 4, false, 0);
	port_op(&s, 0xcf8, 4, true, 0x80000010);
	port_op(&s, 0xcfc, 4, true, 0xffffffff);
	port_op(&s, 0xcfc, 4, false, 0);
	save("ports", "fw-cfg-pm-pci", &s);
}

/* fuzz_insn: long mode, 4-level, identity-mapped first 2 MiB (one large
 * page), the instruction at 0x10000 and its operand at 0x20000. */
static void insn_seed(const char *name, const uint8_t *code, uint8_t len, uint8_t cpl)
{
	const uint64_t pml4e = 0x2000 | 7, pdpte = 0x3000 | 7, pde = 0x0 | 0x87;
	struct seed s = { 0 };

	u8(&s, 3);          /* 4-level */
	u8(&s, 0x01 | 0x20); /* WP, NX */
	u32(&s, 0x1000);    /* CR3 */
	u8(&s, cpl);        /* CS selector: its CPL */
	u64(&s, 0x10000);   /* RIP */
	for (int i = 0; i < 16; i++) {
		u8(&s, 0);
		u16(&s, i == 3 ? 0x2000 : 0); /* RBX = 0x20000 (the operand) */
	}
	u32(&s, 0x30000);   /* IDT */
	u16(&s, 0xfff);
	u32(&s, 0x31000);   /* GDT */
	u16(&s, 0xff);
	u32(&s, 0);
	u32(&s, 0);
	u8(&s, 12);         /* phys bits 48 */
	u64(&s, 0x0023001000000000ULL); /* STAR */
	u8(&s, 4);
	u32(&s, 0x1000);
	u8(&s, 8);
	put(&s, &pml4e, 8);
	u32(&s, 0x2000);
	u8(&s, 8);
	put(&s, &pdpte, 8);
	u32(&s, 0x3000);
	u8(&s, 8);
	put(&s, &pde, 8);
	u32(&s, 0x10000);
	u8(&s, len);
	put(&s, code, len);
	u8(&s, 12);
	u8(&s, 1);          /* a write walk of the operand */
	u64(&s, 0x20000);
	save("insn", name, &s);
}

static void insn_seeds(void)
{
	insn_seed("int3", (const uint8_t *)"\xcc", 1, 0);
	insn_seed("int80", (const uint8_t *)"\xcd\x80", 2, 3);
	insn_seed("popcnt", (const uint8_t *)"\xf3\x48\x0f\xb8\x03", 5, 0);
	insn_seed("ldmxcsr", (const uint8_t *)"\x0f\xae\x13", 3, 0);
	insn_seed("stmxcsr", (const uint8_t *)"\x0f\xae\x1b", 3, 3);
	insn_seed("cmpxchg16b", (const uint8_t *)"\xf0\x48\x0f\xc7\x0b", 5, 0);
	insn_seed("clac", (const uint8_t *)"\x0f\x01\xca", 3, 0);
	insn_seed("stac", (const uint8_t *)"\x0f\x01\xcb", 3, 0);
	insn_seed("sysret", (const uint8_t *)"\x48\x0f\x07", 3, 0);
	insn_seed("fwait", (const uint8_t *)"\x9b", 1, 0);
}

/* fuzz_loaders: selector (0: detect), flags, initrd length, then the image. */
static void loader_seed(const char *name, uint8_t flags, const uint8_t *image, size_t len)
{
	struct seed s = { 0 };

	u8(&s, 0);
	u8(&s, flags);
	u16(&s, 4096);
	put(&s, image, len);
	save("loaders", name, &s);
}

static void loaders_seeds(void)
{
	/* Images stay small: the fuzzer's inputs are. */
	uint8_t *buf = calloc(1, 1 << 20);
	struct bz_spec bz = bz_default();
	struct elf_spec pvh64 = { .is64 = true, .entry = 0x100000, .nr_segs = 1,
				  .segs = { { 0x100000, 512, 4096, 0 } },
				  .pvh_note = true, .pvh_entry = 0x100000, .pvh_note_quad = true };
	struct elf_spec pvh32 = { .is64 = false, .entry = 0x100000, .nr_segs = 2,
				  .segs = { { 0x100000, 256, 256, 0 }, { 0x200000, 128, 8192, 0 } },
				  .pvh_note = true, .pvh_entry = 0x100000, .other_note_first = true };
	struct elf_spec mb_elf = { .is64 = false, .entry = 0x100000, .nr_segs = 1,
				   .segs = { { 0x100000, 256, 1024, 0 } },
				   .multiboot = true, .multiboot_flags = 3 };
	struct aout_spec aout = { .load_addr = 0x100000, .header_offset = 64, .file_len = 1024,
				  .bss_len = 4096, .entry_offset = 128 };

	if (!buf)
		exit(1);
	bz.kernel_len = 1024;
	loader_seed("bzimage", 16 | 8 | 4 | 1, buf, build_bzimage(buf, &bz));
	memset(buf, 0, 1 << 20);
	loader_seed("pvh64", 16 | 2, buf, build_elf(buf, &pvh64));
	memset(buf, 0, 1 << 20);
	loader_seed("pvh32", 4, buf, build_elf(buf, &pvh32));
	memset(buf, 0, 1 << 20);
	loader_seed("multiboot-elf", 16 | 1, buf, build_elf(buf, &mb_elf));
	memset(buf, 0, 1 << 20);
	loader_seed("multiboot-aout", 0, buf, build_multiboot_aout(buf, &aout));
	free(buf);
}

/* fuzz_api: "METHOD URL\nbody" records separated by 0x1e. */
static void api_seeds(void)
{
	static const char *const boot[] = {
		"PUT /machine-config\n{\"vcpu_count\": 2, \"mem_size_mib\": 256}",
		"PUT /boot-source\n{\"kernel_image_path\": \"bzImage\", "
		"\"boot_args\": \"console=ttyS0 reboot=k panic=1\", \"initrd_path\": \"rd\"}",
		"PUT /drives/rootfs\n{\"drive_id\": \"rootfs\", \"path_on_host\": \"rootfs.ext4\", "
		"\"is_root_device\": true, \"is_read_only\": false, \"partuuid\": \"1234-01\"}",
		"PUT /drives/data\n{\"drive_id\": \"data\", \"path_on_host\": \"d.img\", "
		"\"is_root_device\": false, \"cache_type\": \"Writeback\", \"io_engine\": \"Async\"}",
		"PATCH /machine-config\n{\"vcpu_count\": 1, \"smt\": false, \"track_dirty_pages\": true}",
		"PUT /entropy\n{}",
		"PUT /logger\n{\"log_path\": \"x.log\", \"level\": \"Info\", \"show_level\": true}",
		"PUT /metrics\n{\"metrics_path\": \"m.fifo\"}",
		"GET /\n", "GET /version\n", "GET /machine-config\n", "GET /vm/config\n",
		"PUT /actions\n{\"action_type\": \"InstanceStart\"}",
		"PATCH /vm\n{\"state\": \"Paused\"}", "PATCH /vm\n{\"state\": \"Paused\"}",
		"PATCH /vm\n{\"state\": \"Resumed\"}",
		"PATCH /drives/rootfs\n{\"drive_id\": \"rootfs\", \"path_on_host\": \"new.ext4\"}",
		"PUT /actions\n{\"action_type\": \"SendCtrlAltDel\"}",
		"PUT /actions\n{\"action_type\": \"FlushMetrics\"}",
		"GET /\n",
	};
	struct seed s = { 0 };

	for (size_t i = 0; i < sizeof(boot) / sizeof(boot[0]); i++) {
		if (i)
			u8(&s, 0x1e);
		str(&s, boot[i]);
	}
	save("api", "configure-start-pause-patch", &s);
	str(&s, "PUT /drives/bad-id!\n{}\x1ePOST /actions\n{}\x1eGET /nowhere\n\x1e"
		"PUT /machine-config\n{\"vcpu_count\": 0, \"vcpu_count\": 2}\x1e"
		"PUT /boot-source\n{\"kernel_image_path\": 7, \"unknown\": 1}");
	save("api", "refusals", &s);
}

/* fuzz_pci: op (bits 0-2 kind, 4-5 size 1/2/4/8, 6 write), 8 value bytes. */
static void pci_op(struct seed *s, uint8_t kind, unsigned int size, bool write, uint64_t v)
{
	uint8_t size_bits = size == 8 ? 3 : size == 4 ? 2 : size == 2 ? 1 : 0;

	u8(s, (uint8_t)(kind | size_bits << 4 | (write ? 0x40 : 0)));
	u64(s, v);
}

/* A write to a virtio register of the device in slot, BAR 4. */
static void vreg(struct seed *s, unsigned int slot, uint16_t off, unsigned int size, uint64_t v)
{
	pci_op(s, 2, size, true, v);
	u8(s, (uint8_t)(slot << 3 | 4));
	u16(s, off);
}

static void pci_ram(struct seed *s, uint32_t gpa, const void *data, uint8_t len)
{
	pci_op(s, 5, 1, false, 0);
	u32(s, gpa);
	u8(s, len);
	put(s, data, len);
}

static void pci_seed(const char *name, unsigned int slot, const void *req, uint8_t req_len,
		     uint32_t data_len, uint16_t data_flags)
{
	struct seed s = { 0 };
	uint8_t desc[48] = { 0 };
	const uint16_t avail[3] = { 0, 1, 0 };
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;

	/* Memory decoding and bus mastering on (command register, via 0xcf8). */
	pci_op(&s, 0, 2, true, 0x80000004u | slot << 11);
	u32(&s, 0x6);
	/* Reset, ACKNOWLEDGE | DRIVER, VERSION_1 (+ indirect, event idx), FEATURES_OK. */
	vreg(&s, slot, 0x14, 1, 0);
	vreg(&s, slot, 0x14, 1, 3);
	vreg(&s, slot, 0x08, 4, 0);
	vreg(&s, slot, 0x0c, 4, (1u << 28) | (1u << 29));
	vreg(&s, slot, 0x08, 4, 1);
	vreg(&s, slot, 0x0c, 4, 1);
	vreg(&s, slot, 0x14, 1, 0xb);
	/* Queue 0: size 8, rings at 0x1000/0x2000/0x3000, enabled; DRIVER_OK. */
	vreg(&s, slot, 0x16, 2, 0);
	vreg(&s, slot, 0x18, 2, 8);
	vreg(&s, slot, 0x20, 8, 0x1000);
	vreg(&s, slot, 0x28, 8, 0x2000);
	vreg(&s, slot, 0x30, 8, 0x3000);
	vreg(&s, slot, 0x1c, 2, 1);
	vreg(&s, slot, 0x14, 1, 0xf);
	/* One chain: the request (if any), then data_len writable bytes. */
	addr = 0x10000, len = req_len, flags = 1, next = 1;
	memcpy(desc, &addr, 8), memcpy(desc + 8, &len, 4), memcpy(desc + 12, &flags, 2);
	memcpy(desc + 14, &next, 2);
	addr = 0x11000, len = data_len, flags = data_flags, next = 2;
	memcpy(desc + 16, &addr, 8), memcpy(desc + 24, &len, 4), memcpy(desc + 28, &flags, 2);
	memcpy(desc + 30, &next, 2);
	addr = 0x12000, len = 1, flags = 2, next = 0;
	memcpy(desc + 32, &addr, 8), memcpy(desc + 40, &len, 4), memcpy(desc + 44, &flags, 2);
	if (req_len) {
		pci_ram(&s, 0x10000, req, req_len);
		pci_ram(&s, 0x1000, desc, 48);
	} else {
		pci_ram(&s, 0x1000, desc + 16, 16);
	}
	pci_ram(&s, 0x2000, avail, 6);
	/* Notify queue 0 (an ioeventfd), let the worker serve it, pause and
	 * resume, then reset the device with the queue set up. */
	vreg(&s, slot, 0x3000, 2, 0);
	pci_op(&s, 7, 1, false, 0);
	pci_op(&s, 7, 1, false, 1);
	vreg(&s, slot, 0x14, 1, 0);
	save("pci", name, &s);
}

static void pci_seeds(void)
{
	const uint32_t read_hdr[4] = { 0, 0, 1, 0 };

	/* Slot 0 is the host bridge, 1 the disk, 2 the RNG. */
	pci_seed("rng-request", 2, NULL, 0, 64, 2);
	pci_seed("blk-read", 1, read_hdr, 16, 512, 3);
}

/* fuzz_snapshot: a flag byte (bit 0: reseal), then a state file from the
 * real writer: one with a few sections, and an empty one. */
static void snapshot_seed(const char *name, const char *const *names, unsigned int n)
{
	struct snapshot_writer w;
	struct kiln_err err = { 0 };
	struct seed s = { 0 };
	uint8_t *file;
	size_t len;

	snapshot_writer_init(&w);
	for (unsigned int i = 0; i < n; i++)
		snapshot_writer_add(&w, names[i], i + 1, names[i], strlen(names[i]));
	if (snapshot_writer_finish(&w, &file, &len, &err)) {
		fprintf(stderr, "seedgen: %s\n", err.msg);
		exit(1);
	}
	u8(&s, 1);
	put(&s, file, len);
	free(file);
	save("snapshot", name, &s);
}

static void snapshot_seeds(void)
{
	static const char *const machine[] = { "vm", "vcpu0", "vcpu1", "com1", "blk0" };

	snapshot_seed("machine", machine, 5);
	snapshot_seed("empty", NULL, 0);
}

/* fuzz_snapshot_config: what the encoder writes for a small machine and
 * for one with a disk, a NIC and vsock. */
static void snapshot_config_seeds(void)
{
	struct kiln_config cfg = { .cpus = 1, .memory_mib = 256 };
	struct seed s = { 0 };
	char *text = snapshot_config_encode(&cfg, 1);

	str(&s, text);
	free(text);
	save("snapshot_config", "small", &s);
	cfg.nr_disks = 1;
	cfg.disks[0] = (struct kiln_disk){ .id = "root", .path = "/disk.img", .queues = 2 };
	cfg.nr_nets = 1;
	cfg.nets[0] = (struct net_config){ .kind = NET_USER, .id = "net0", .queues = 1 };
	cfg.nets[0].user.nr_fwd = 1;
	cfg.nets[0].user.fwd[0].host_port = 2222;
	cfg.vsock = (struct kiln_vsock){ true, 3, "/v.sock" };
	text = snapshot_config_encode(&cfg, 2);
	str(&s, text);
	free(text);
	save("snapshot_config", "devices", &s);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: seedgen DIR\n");
		return 2;
	}
	out_dir = argv[1];
	if (mkdir(out_dir, 0755) && errno != EEXIST) {
		perror(out_dir);
		return 1;
	}
	virtq_seeds();
	blk_seeds();
	ports_seeds();
	insn_seeds();
	loaders_seeds();
	api_seeds();
	pci_seeds();
	snapshot_seeds();
	snapshot_config_seeds();
	return 0;
}
