// XXH3 compiled a second time, for AVX2, in a file of its own: every function here (xxhash.h's
// inlined ones included) carries target("avx2"), so none of it may run on a CPU without AVX2.
// trace_hash.c calls into it only after asking the CPU. XXH3's output does not depend on the
// vector width; TraceModelTests checks both builds agree for every length up to 4 KiB.
#if defined(__x86_64__)
#include <immintrin.h>  // before the pragma: the intrinsics carry their own target attributes

#include "trace_hash.h"

#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#define XXH_INLINE_ALL
#define XXH_VECTOR XXH_AVX2
#include <xxhash.h>

th_hash128 th_xxh3_128_avx2(const void *data, size_t len) {
    XXH128_hash_t h = XXH3_128bits(data, len);
    th_hash128 out = {.low = h.low64, .high = h.high64};
    return out;
}
#pragma clang attribute pop
#endif
