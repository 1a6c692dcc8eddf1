// XXH_INLINE_ALL makes every xxHash function static, so the hash compiles into this file and no
// xxhash symbol leaks into (or is needed from) the link; Swift calls th_xxh3_128.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "trace_hash.h"

th_hash128 th_xxh3_128(const void *data, size_t len) {
    XXH128_hash_t h = XXH3_128bits(data, len);
    th_hash128 out = {.low = h.low64, .high = h.high64};
    return out;
}

th_hash128 th_xxh3_128_columns(const uint64_t *file_ids, const uint64_t *address_or_lines,
                               const uint8_t *types, size_t count) {
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
