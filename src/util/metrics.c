// SPDX-License-Identifier: MIT
#include "util/metrics.h"

struct kiln_metrics kiln_metrics;
