// SPDX-License-Identifier: MIT
/* API error replies always carry Firecracker's {"fault_message": ...}, even
 * when the message quotes bytes from the client that are not UTF-8 (found
 * by fuzz/fuzz_api.c: such a reply had no body at all). */
#include <criterion/criterion.h>
#include <string.h>

#include "api/server.h"

static const char *fault_message(struct api_reply *reply)
{
	cr_assert_not_null(reply->body, "status %u came without a body", reply->status);
	return json_string_value(json_object_get(reply->body, "fault_message"));
}

Test(api_errors, client_bytes_that_are_not_utf8_become_question_marks)
{
	struct api_reply reply = api_error(400, "Invalid path %s.", "/\xff\xfe" "drives");

	cr_assert_eq(reply.status, 400);
	cr_assert_str_eq(fault_message(&reply), "Invalid path /??drives.");
	json_decref(reply.body);
}

Test(api_errors, a_character_cut_by_a_precision_is_replaced)
{
	/* "é" is two bytes: a precision of 2 keeps only its first. */
	struct api_reply reply = api_error(400, "id `%.2s`", "a\xc3\xa9");

	cr_assert_str_eq(fault_message(&reply), "id `a?`");
	json_decref(reply.body);
}

Test(api_errors, valid_utf8_is_kept)
{
	struct api_reply reply = api_error(400, "%s", "drive \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");

	cr_assert_str_eq(fault_message(&reply), "drive \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
	json_decref(reply.body);
}

Test(api_errors, overlong_forms_and_surrogates_are_not_utf8)
{
	/* C0 AF: an overlong '/'; ED A0 80: a surrogate; F4 90: past U+10FFFF. */
	struct api_reply reply = api_error(400, "%s", "\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80");

	cr_assert_str_eq(fault_message(&reply), "??|???|????");
	json_decref(reply.body);
}
