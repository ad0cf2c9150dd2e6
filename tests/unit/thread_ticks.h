/* SPDX-License-Identifier: MIT */
/* Test helper: how much CPU a thread of this process has used, to tell a
 * sleeping worker from a spinning one. */
#ifndef KILN_TESTS_THREAD_TICKS_H
#define KILN_TESTS_THREAD_TICKS_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <unistd.h>

/* CPU time of this process's thread called name, in clock ticks. */
static inline unsigned long thread_cpu_ticks(const char *name)
{
	char cmd[160], line[64];
	unsigned long utime = 0, stime = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "for t in /proc/%d/task/*; do [ \"$(cat $t/comm)\" = %s ] && "
		 "cut -d')' -f2 $t/stat | cut -d' ' -f13,14; done", getpid(), name);
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(line, sizeof(line), f), "no thread named %s", name);
	pclose(f);
	cr_assert_eq(sscanf(line, "%lu %lu", &utime, &stime), 2);
	return utime + stime;
}

#endif
