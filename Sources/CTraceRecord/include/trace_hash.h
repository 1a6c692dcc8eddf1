/*
 * The reference XXH3-128 (xxhash.h), exported under our own prefix. The implementation is compiled
 * inline into trace_hash.c so that the hot path does not cross into a shared library, and so that
 * the exact upstream algorithm (the one Go's zeebo/xxh3 implements) is used bit for bit.
 */
#ifndef TH_TRACE_HASH_H
#define TH_TRACE_HASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct th_hash128 {
    uint64_t low;
    uint64_t high;
} th_hash128;

/* XXH3-128 of `len` bytes at `data` (seed 0, default secret): the AVX2 build on CPUs that have
 * it, else the portable (SSE2 on x86-64) one. Both give the same hash. */
th_hash128 th_xxh3_128(const void *data, size_t len);

/* The two builds, for tests that check they agree. Call th_xxh3_128_avx2 only when
 * th_xxh3_uses_avx2() is 1 (it exists on x86-64 only). */
th_hash128 th_xxh3_128_portable(const void *data, size_t len);
th_hash128 th_xxh3_128_avx2(const void *data, size_t len);
int th_xxh3_uses_avx2(void);

/*
 * XXH3-128 of a columnar trace, frame by frame: for each frame the 16 bytes of its file id (high
 * word, then low word), its 8-byte address-or-line and its 1-byte type, little endian, concatenated.
 * Streams, so the caller needs no scratch buffer.
 */
th_hash128 th_xxh3_128_columns(const uint64_t *file_ids /* 2 words a frame: high, low */,
                               const uint64_t *address_or_lines, const uint8_t *types, size_t count);

#endif /* TH_TRACE_HASH_H */
