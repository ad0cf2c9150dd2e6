// SPDX-License-Identifier: MIT
/* kvm-unit-tests-style results: PASS/FAIL/SKIP lines, then a SUMMARY line,
 * then isa-debug-exit. */
#include "guest.h"

#define DEBUG_EXIT_PORT 0xf4

static volatile unsigned int tests, failures, skips;

static void vreport(const char *tag, const char *fmt, va_list ap)
{
	char msg[400];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	printf("%s: %s\n", tag, msg);
}

void report(bool ok, const char *fmt, ...)
{
	va_list ap;

	__atomic_add_fetch(&tests, 1, __ATOMIC_RELAXED);
	if (!ok)
		__atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
	va_start(ap, fmt);
	vreport(ok ? "PASS" : "FAIL", fmt, ap);
	va_end(ap);
}

void report_skip(const char *fmt, ...)
{
	va_list ap;

	__atomic_add_fetch(&tests, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&skips, 1, __ATOMIC_RELAXED);
	va_start(ap, fmt);
	vreport("SKIP", fmt, ap);
	va_end(ap);
}

void report_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport("INFO", fmt, ap);
	va_end(ap);
}

void report_counts(unsigned int *tests_out, unsigned int *failures_out)
{
	*tests_out = tests;
	*failures_out = failures;
}

void debug_exit(uint32_t code)
{
	outl(DEBUG_EXIT_PORT, code);
	/* Without the device (a VMM run without --debug-exit) stop here. */
	for (;;)
		__asm__ volatile("cli; hlt");
}

void report_summary_and_exit(void)
{
	printf("SUMMARY: %u tests", tests);
	if (failures)
		printf(", %u unexpected failures", failures);
	if (skips)
		printf(", %u skipped", skips);
	printf("\n");
	debug_exit(failures ? 1 : 0);
}
