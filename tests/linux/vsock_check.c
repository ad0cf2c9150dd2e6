// SPDX-License-Identifier: MIT
/*
 * The Linux guest's side of the vsock end-to-end test, linked statically
 * into the small kernel's test initramfs (busybox has no vsock client):
 *
 *   vsock-check connect CID PORT BYTES [fast]  connect, send BYTES of a pattern, close
 *   vsock-check listen PORT BYTES [fast]       accept one stream, read it to its end
 *
 * Each prints "kiln-guest: vsock sent|received N crc32 HEX", the CRC-32
 * (zlib's) of the bytes it moved, for the host side to compare. With fast
 * (bench/vsock_bench.py) the bytes are neither made nor checked one by one,
 * so the guest's CPU measures the transport, not the checksum.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define CHUNK (64 * 1024)

static uint32_t crc_table[256];
static int fast;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t len)
{
	crc = ~crc;
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static int die(const char *what)
{
	printf("kiln-guest: vsock error %s: %s\n", what, strerror(errno));
	return 1;
}

static int send_pattern(int fd, unsigned long long total)
{
	static uint8_t buf[CHUNK];
	unsigned long long sent = 0;
	uint32_t crc = 0;

	while (sent < total) {
		size_t n = total - sent < CHUNK ? (size_t)(total - sent) : CHUNK;
		size_t off = 0;

		for (size_t i = 0; i < n && !fast; i++)
			buf[i] = (uint8_t)(((sent + i) * 2654435761ULL) >> 13);
		if (!fast)
			crc = crc32_update(crc, buf, n);
		while (off < n) {
			ssize_t w = write(fd, buf + off, n - off);

			if (w < 0)
				return die("write");
			off += (size_t)w;
		}
		sent += n;
	}
	printf("kiln-guest: vsock sent %llu crc32 %08x\n", sent, crc);
	return 0;
}

static int receive_all(int fd)
{
	static uint8_t buf[CHUNK];
	unsigned long long got = 0;
	uint32_t crc = 0;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (!fast)
			crc = crc32_update(crc, buf, (size_t)n);
		got += (unsigned long long)n;
	}
	if (n < 0)
		return die("read");
	printf("kiln-guest: vsock received %llu crc32 %08x\n", got, crc);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_vm addr = { .svm_family = AF_VSOCK };
	int fd, ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	crc_init();
	fd = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (fd < 0)
		return die("socket");
	fast = !strcmp(argv[argc - 1], "fast");
	argc -= fast;
	if (argc == 5 && !strcmp(argv[1], "connect")) {
		addr.svm_cid = (unsigned int)strtoul(argv[2], NULL, 0);
		addr.svm_port = (unsigned int)strtoul(argv[3], NULL, 0);
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)))
			return die("connect");
		ret = send_pattern(fd, strtoull(argv[4], NULL, 0));
		close(fd);
		return ret;
	}
	if (argc == 4 && !strcmp(argv[1], "listen")) {
		int conn;

		addr.svm_cid = VMADDR_CID_ANY;
		addr.svm_port = (unsigned int)strtoul(argv[2], NULL, 0);
		if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) || listen(fd, 1))
			return die("listen");
		printf("kiln-guest: vsock listening on %u\n", addr.svm_port);
		conn = accept(fd, NULL, NULL);
		if (conn < 0)
			return die("accept");
		ret = receive_all(conn);
		close(conn);
		return ret;
	}
	fprintf(stderr, "usage: vsock-check connect CID PORT BYTES | listen PORT BYTES\n");
	return 2;
}
