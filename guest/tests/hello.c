// SPDX-License-Identifier: MIT
/* The smallest test guest: the library boots, prints and reports. */
#include "guest.h"

void guest_main(void)
{
	report(true, "hello from the test guest (cmdline '%s')", cmdline());
}
