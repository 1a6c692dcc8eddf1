// Counts the process's heap allocations, for `tracehandler-bench` (allocations per trace).
#pragma once
#include <stdint.h>

/// Allocations (malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign) made by any
/// thread of this process since it started.
uint64_t th_allocation_count(void);
