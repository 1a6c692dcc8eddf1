// XXH_INLINE_ALL makes every xxHash function static, so the hash compiles into this file and no
// xxhash symbol leaks into (or is needed from) the link; Swift calls th_xxh3_128.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "trace_hash.h"
#include "trace_record.h"

#include <string.h>

th_hash128 th_xxh3_128_portable(const void *data, size_t len) {
    XXH128_hash_t h = XXH3_128bits(data, len);
    th_hash128 out = {.low = h.low64, .high = h.high64};
    return out;
}

#if defined(__x86_64__)
// Set once before main (a constructor), read-only after: no thread sees it change.
static int use_avx2;

__attribute__((constructor)) static void choose_xxh3_build(void) {
    __builtin_cpu_init();
    use_avx2 = __builtin_cpu_supports("avx2");
}

int th_xxh3_uses_avx2(void) { return use_avx2; }

// Past 240 bytes XXH3 runs its vector loop: there the AVX2 build takes 25 ns for an 18-frame
// record (464 bytes) where the SSE2 one takes 39 (this machine, hot cache).
th_hash128 th_xxh3_128(const void *data, size_t len) {
    return use_avx2 ? th_xxh3_128_avx2(data, len) : th_xxh3_128_portable(data, len);
}
#else
int th_xxh3_uses_avx2(void) { return 0; }

th_hash128 th_xxh3_128(const void *data, size_t len) { return th_xxh3_128_portable(data, len); }
#endif

th_hash128 th_xxh3_128_columns(const uint64_t *file_ids, const uint64_t *address_or_lines,
                               const uint8_t *types, size_t count) {
    enum { FRAME_BYTES = 16 + 8 + 1 };
    if (count <= TH_MAX_FRAMES) {
        // The bytes the streaming form below feeds, laid end to end: one-shot XXH3 over them gives
        // the same hash at a fraction of the cost (no per-update bookkeeping).
        unsigned char bytes[TH_MAX_FRAMES * FRAME_BYTES];
        unsigned char *p = bytes;
        for (size_t i = 0; i < count; i++) {
            memcpy(p, &file_ids[2 * i], 16);
            memcpy(p + 16, &address_or_lines[i], 8);
            p[24] = types[i];
            p += FRAME_BYTES;
        }
        return th_xxh3_128(bytes, count * FRAME_BYTES);
    }
    XXH3_state_t state;
    XXH3_128bits_reset(&state);
    for (size_t i = 0; i < count; i++) {
        XXH3_128bits_update(&state, &file_ids[2 * i], 16);
        XXH3_128bits_update(&state, &address_or_lines[i], 8);
        XXH3_128bits_update(&state, &types[i], 1);
    }
    XXH128_hash_t h = XXH3_128bits_digest(&state);
    th_hash128 out = {.low = h.low64, .high = h.high64};
    return out;
}
