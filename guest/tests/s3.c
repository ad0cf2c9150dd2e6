// SPDX-License-Identifier: MIT
/*
 * ACPI S3 as an OS uses it: the FACS found through the FADT, a real-mode
 * waking vector written into it, the \_S3 sleep type from the DSDT, and
 * SLP_TYP|SLP_EN in PM1a control. Before sleeping it leaves a marker in
 * RAM and arms its wake source: wake=rtc (the default) an RTC alarm two
 * seconds ahead with RTC_EN set; wake=button nothing (the harness presses
 * the power button, kiln's SendCtrlAltDel, once it reads "entering S3").
 * The wake lands in a real-mode stub copied below 1 MiB, which checks it
 * runs in real mode at CS:IP = vector >> 4 : vector & 0xf, that the marker
 * survived, and that PM1 status shows WAK_STS and the wake source's bit,
 * then prints its PASS/FAIL lines and the SUMMARY for the whole run and
 * exits through isa-debug-exit. vector=0 sleeps with no waking vector (a
 * VMM has nowhere to resume it).
 */
#include "guest.h"

#define STUB_ADDR    0x3000u      /* the waking vector: CS 0x300, IP 0 */
#define MARKER_ADDR  0x3800u
#define MARKER       0x3353454bu  /* "KES3" */
#define SLP_EN       (1u << 13)
#define PM1_PWRBTN   (1u << 8)
#define PM1_RTC      (1u << 10)
#define RTC_INDEX    0x70
#define RTC_DATA     0x71
#define REG_B        0x0b
#define REG_C        0x0c
#define B_AIE        0x20
#define B_BINARY     0x04
#define ALARM_ANY    0xc0
#define SLEEP_WAIT_S 10

/* The stub's parameters, patched in its copy (offsets from its start). */
struct stub_params {
	uint16_t pm1_status_port;
	uint16_t expected_status;  /* besides WAK_STS */
	uint8_t tests, failures;   /* reported before the sleep */
} __attribute__((packed));

extern const uint8_t wake_stub[], wake_stub_params[], wake_stub_end[];

/* Real mode, DS = CS = the stub's segment, SS:SP below the marker. */
__asm__(
	".pushsection .rodata.wake_stub, \"a\"\n"
	".code16\n"
	".globl wake_stub, wake_stub_params, wake_stub_end\n"
	"wake_stub:\n"
	"	cli\n"
	"	movw %cs, %bx\n"
	"	movw %bx, %ds\n"
	"	xorw %ax, %ax\n"
	"	movw %ax, %ss\n"
	"	movw $0x37f0, %sp\n"
	"	call 9f\n"
	"9:	popw %cx\n"                          /* IP of label 9 */
	"	smsw %ax\n"
	"	testw $1, %ax\n"                      /* CR0.PE clear: real mode */
	"	jnz 1f\n"
	"	cmpw $0x300, %bx\n"
	"	jne 1f\n"
	"	cmpw $(9b - wake_stub), %cx\n"        /* so IP started at 0 */
	"	jne 1f\n"
	"	movb $1, %al\n"
	"	jmp 2f\n"
	"1:	movb $0, %al\n"
	"2:	movw $(msg_vector - wake_stub), %si\n"
	"	call check\n"
	"	xorw %ax, %ax\n"
	"	movw %ax, %es\n"
	"	cmpl $0x3353454b, %es:0x3800\n"
	"	sete %al\n"
	"	movw $(msg_memory - wake_stub), %si\n"
	"	call check\n"
	"	movw wake_stub_params - wake_stub, %dx\n"
	"	inw %dx, %ax\n"
	"	movw wake_stub_params + 2 - wake_stub, %cx\n"
	"	orw $0x8000, %cx\n"                   /* WAK_STS */
	"	andw %cx, %ax\n"
	"	cmpw %cx, %ax\n"
	"	sete %al\n"
	"	movw $(msg_status - wake_stub), %si\n"
	"	call check\n"
	"	movw $(msg_summary - wake_stub), %si\n"
	"	call puts\n"
	"	movb wake_stub_params + 4 - wake_stub, %al\n"
	"	call putdec\n"
	"	movw $(msg_tests - wake_stub), %si\n"
	"	call puts\n"
	"	movb wake_stub_params + 5 - wake_stub, %al\n"
	"	testb %al, %al\n"
	"	jz 3f\n"
	"	movw $(msg_comma - wake_stub), %si\n"
	"	call puts\n"
	"	call putdec\n"
	"	movw $(msg_failures - wake_stub), %si\n"
	"	call puts\n"
	"3:	movb $10, %al\n"
	"	call putc\n"
	"	movb wake_stub_params + 5 - wake_stub, %al\n"
	"	testb %al, %al\n"
	"	setnz %al\n"
	"	movzbl %al, %eax\n"
	"	outl %eax, $0xf4\n"
	"4:	cli\n"
	"	hlt\n"
	"	jmp 4b\n"
	/* AL: the check passed; SI: its text. */
	"check:\n"
	"	incb wake_stub_params + 4 - wake_stub\n"
	"	pushw %si\n"
	"	movw $(msg_pass - wake_stub), %si\n"
	"	testb %al, %al\n"
	"	jnz 1f\n"
	"	incb wake_stub_params + 5 - wake_stub\n"
	"	movw $(msg_fail - wake_stub), %si\n"
	"1:	call puts\n"
	"	popw %si\n"
	"	call puts\n"
	"	movb $10, %al\n"
	"	jmp putc\n"
	"puts:\n"
	"	lodsb\n"
	"	testb %al, %al\n"
	"	jz 1f\n"
	"	call putc\n"
	"	jmp puts\n"
	"1:	ret\n"
	"putc:\n"
	"	pushw %dx\n"
	"	pushw %ax\n"
	"	movw $0x3fd, %dx\n"
	"1:	inb %dx, %al\n"
	"	testb $0x20, %al\n"
	"	jz 1b\n"
	"	popw %ax\n"
	"	movw $0x3f8, %dx\n"
	"	outb %al, %dx\n"
	"	popw %dx\n"
	"	ret\n"
	/* AL (0-99) in decimal. */
	"putdec:\n"
	"	xorb %ah, %ah\n"
	"	movb $10, %cl\n"
	"	divb %cl\n"
	"	testb %al, %al\n"
	"	jz 1f\n"
	"	addb $0x30, %al\n"
	"	call putc\n"
	"1:	movb %ah, %al\n"
	"	addb $0x30, %al\n"
	"	jmp putc\n"
	"msg_pass:	.asciz \"PASS: \"\n"
	"msg_fail:	.asciz \"FAIL: \"\n"
	"msg_vector:	.asciz \"woke in real mode at the FACS waking vector (CS 0x300, IP 0)\"\n"
	"msg_memory:	.asciz \"RAM kept across S3 (marker intact)\"\n"
	"msg_status:	.asciz \"PM1 status shows WAK_STS and the wake source\"\n"
	"msg_summary:	.asciz \"SUMMARY: \"\n"
	"msg_tests:	.asciz \" tests\"\n"
	"msg_comma:	.asciz \", \"\n"
	"msg_failures:	.asciz \" unexpected failures\"\n"
	"wake_stub_params:\n"
	"	.skip 6\n"
	"wake_stub_end:\n"
	".code64\n"
	".popsection\n");

static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static uint8_t cmos_read(uint8_t index)
{
	outb(RTC_INDEX, index);
	return inb(RTC_DATA);
}

static void cmos_write(uint8_t index, uint8_t value)
{
	outb(RTC_INDEX, index);
	outb(RTC_DATA, value);
}

/* The FACS as the FADT gives it: X_FIRMWARE_CTRL first, then FIRMWARE_CTRL. */
static uint8_t *find_facs(const uint8_t *fadt)
{
	uint64_t x = rd32(fadt + 4) >= 140 ? rd64(fadt + 132) : 0;

	return (uint8_t *)(uintptr_t)(x ? x : rd32(fadt + 36));
}

/* An alarm when the seconds next show now + 2 (hours and minutes "don't
 * care"), in the registers' BCD or binary format. */
static void arm_rtc_alarm(void)
{
	uint8_t b = cmos_read(REG_B), sec = cmos_read(0x00);
	unsigned int s = (b & B_BINARY) ? sec : (unsigned int)((sec >> 4) * 10 + (sec & 0xf));

	s = (s + 2) % 60;
	cmos_write(0x01, (b & B_BINARY) ? (uint8_t)s : (uint8_t)(((s / 10) << 4) | (s % 10)));
	cmos_write(0x03, ALARM_ANY);
	cmos_write(0x05, ALARM_ANY);
	cmos_write(REG_B, b | B_AIE);
	cmos_read(REG_C);
}

void guest_main(void)
{
	const uint8_t *fadt = acpi_find_table("FACP");
	const char *wake = cmdline_get("wake");
	bool button = wake && !memcmp(wake, "button", 6);
	struct stub_params params = { 0 };
	size_t params_at = (size_t)(wake_stub_params - wake_stub);
	unsigned int tests, failures;
	uint16_t pm1_evt, pm1_cnt;
	struct pm_clock clock;
	uint8_t *facs;
	int s3;

	if (!fadt) {
		report(false, "the FADT is in the XSDT");
		report_summary_and_exit();
	}
	facs = find_facs(fadt);
	report(!memcmp(facs, "FACS", 4) && rd32(facs + 4) == 64 && !((uintptr_t)facs & 63),
	       "the FADT points at a 64-byte-aligned FACS of length 64");
	s3 = acpi_sleep_type("_S3_");
	report(s3 >= 0, "the DSDT has \\_S3 (SLP_TYP %d)", s3);
	pm1_evt = (uint16_t)rd32(fadt + 56);
	pm1_cnt = (uint16_t)rd32(fadt + 64);
	report_counts(&tests, &failures);
	if (failures)
		report_summary_and_exit();

	__asm__ volatile("cli");
	params = (struct stub_params){ pm1_evt, button ? PM1_PWRBTN : PM1_RTC,
				       (uint8_t)tests, (uint8_t)failures };
	memcpy((void *)(uintptr_t)STUB_ADDR, wake_stub, (size_t)(wake_stub_end - wake_stub));
	memcpy((void *)(uintptr_t)(STUB_ADDR + params_at), &params, sizeof(params));
	*(volatile uint32_t *)(uintptr_t)MARKER_ADDR = MARKER;
	/* Firmware_Waking_Vector */
	*(volatile uint32_t *)(facs + 12) = (uint32_t)cmdline_get_u64("vector", STUB_ADDR);
	*(volatile uint64_t *)(facs + 24) = 0;              /* no X_ vector: real mode */

	outw(pm1_evt, 0xffff);                              /* clear every status bit */
	if (!button) {
		arm_rtc_alarm();
		outw((uint16_t)(pm1_evt + 2), PM1_RTC);          /* RTC_EN */
	}
	printf("INFO: entering S3, woken by the %s\n", button ? "power button" : "RTC alarm");
	outw(pm1_cnt, (uint16_t)((s3 << 10) | SLP_EN));

	/* Some VMMs (QEMU) sleep a little after the write: give them time. */
	pm_clock_start(&clock, (uint16_t)rd32(fadt + 76));
	while (pm_clock_ticks(&clock) < SLEEP_WAIT_S * PM_TIMER_HZ)
		cpu_relax();
	report(false, "the machine slept on SLP_TYP %d | SLP_EN", s3);
	report_summary_and_exit();
}
