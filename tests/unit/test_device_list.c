// SPDX-License-Identifier: MIT
/* The board's device list: the order it pauses, resumes and tears devices
 * down in, and what it does when a device cannot pause. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "devices/device.h"

static char trace[256];

struct recorder {
	char tag;
	int pause_result;
};

static void note(struct device *dev, char what)
{
	struct recorder *r = dev->priv;
	size_t n = strlen(trace);

	if (n + 2 < sizeof(trace)) {
		trace[n] = what;
		trace[n + 1] = r->tag;
		trace[n + 2] = 0;
	}
}

static int rec_pause(struct device *dev)
{
	note(dev, 'p');
	return ((struct recorder *)dev->priv)->pause_result;
}

static int rec_resume(struct device *dev)
{
	note(dev, 'r');
	return 0;
}

static void rec_reset(struct device *dev) { note(dev, 'x'); }
static void rec_destroy(struct device *dev) { note(dev, 'd'); }

static const struct device_ops rec_ops = {
	.reset = rec_reset, .pause = rec_pause, .resume = rec_resume, .destroy = rec_destroy,
};
static const struct device_ops bare_ops = { 0 };

static struct recorder devs[3] = { { 'a', 0 }, { 'b', 0 }, { 'c', 0 } };

static void build(struct device_list *list)
{
	memset(list, 0, sizeof(*list));
	trace[0] = 0;
	cr_assert_eq(device_list_add(list, "a", &rec_ops, &devs[0]), 0);
	cr_assert_eq(device_list_add(list, "b", &rec_ops, &devs[1]), 0);
	cr_assert_eq(device_list_add(list, "quiet", &bare_ops, NULL), 0);
	cr_assert_eq(device_list_add(list, "c", &rec_ops, &devs[2]), 0);
}

Test(device_list, pauses_in_order_and_resumes_in_reverse)
{
	struct device_list list;
	struct kiln_err err = { 0 };

	build(&list);
	cr_assert_eq(list.count, 4);
	cr_assert_eq(device_list_pause(&list, &err), 0);
	device_list_resume(&list);
	cr_assert_str_eq(trace, "papbpcrcrbra");
	trace[0] = 0;
	device_list_reset(&list);
	cr_assert_str_eq(trace, "xaxbxc", "a device without ops is skipped");
	trace[0] = 0;
	device_list_destroy(&list);
	cr_assert_str_eq(trace, "dcdbda", "newest first");
	cr_assert_null(list.head);
	cr_assert_eq(list.count, 0);
}

Test(device_list, a_failed_pause_resumes_the_ones_already_paused)
{
	struct device_list list;
	struct kiln_err err = { 0 };

	build(&list);
	devs[2].pause_result = -EIO;
	cr_assert_eq(device_list_pause(&list, &err), -EIO);
	devs[2].pause_result = 0;
	cr_assert_str_eq(trace, "papbpcrbra", "c failed: b and a resumed, c not");
	cr_assert(strstr(err.msg, "cannot pause c"), "%s", err.msg);
	device_list_destroy(&list);
}

Test(device_list, finds_by_name_and_has_a_bound)
{
	struct device_list list;
	char name[16];

	build(&list);
	cr_assert_eq(device_list_find(&list, "b")->priv, &devs[1]);
	cr_assert_null(device_list_find(&list, "nothing"));
	for (unsigned int i = list.count; i < DEVICE_LIST_MAX; i++) {
		snprintf(name, sizeof(name), "d%u", i);
		cr_assert_eq(device_list_add(&list, name, &bare_ops, NULL), 0);
	}
	cr_assert_eq(device_list_add(&list, "one-too-many", &bare_ops, NULL), -ENOSPC);
	trace[0] = 0;
	device_list_destroy(&list);
	cr_assert_str_eq(trace, "dcdbda");
}
