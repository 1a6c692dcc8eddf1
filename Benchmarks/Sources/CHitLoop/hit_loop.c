#include "hit_loop.h"

#include <stdlib.h>
#include <string.h>

/* The engine's XXH3-128 (Sources/CTraceRecord, linked into every program that links TraceModel):
 * the same hash the engine computes, AVX2 where the CPU has it. */
typedef struct {
    uint64_t low;
    uint64_t high;
} hit_hash128;
extern hit_hash128 th_xxh3_128(const void *data, size_t len);

enum {
    HEADER_SIZE = TH_HIT_LOOP_HEADER_SIZE,
    FRAME_SIZE = 24,
    MAX_FRAMES = 128,
    CPU_OFFSET = TH_HIT_LOOP_CPU_OFFSET,
    KERNEL_FRAME_COUNT_OFFSET = TH_HIT_LOOP_KERNEL_FRAME_COUNT_OFFSET,
    USER_FRAME_COUNT_OFFSET = TH_HIT_LOOP_USER_FRAME_COUNT_OFFSET,
    RESERVED_OFFSET = TH_HIT_LOOP_RESERVED_OFFSET,
    UNHASHED_START = TH_HIT_LOOP_UNHASHED_START,
    NONE = -1,
};

typedef struct entry {
    uint64_t low, high;
    uint64_t count;
    int32_t next_in_bucket, older, newer;
} entry;

struct th_hit_loop {
    entry *entries;
    int32_t *buckets;
    uint32_t capacity, used, bucket_mask;
    int32_t newest, oldest;
    uint64_t counted, hits;
    uint8_t scratch[HEADER_SIZE + MAX_FRAMES * FRAME_SIZE];
};

th_hit_loop *th_hit_loop_create(uint32_t capacity) {
    th_hit_loop *loop = calloc(1, sizeof(*loop));
    if (!loop || capacity == 0 || capacity > (1u << 30)) {
        free(loop);
        return NULL;
    }
    uint32_t buckets = 1;
    while (buckets < capacity) buckets <<= 1;
    loop->entries = calloc(capacity, sizeof(entry));
    loop->buckets = malloc(buckets * sizeof(int32_t));
    if (!loop->entries || !loop->buckets) {
        th_hit_loop_destroy(loop);
        return NULL;
    }
    for (uint32_t i = 0; i < buckets; i++) loop->buckets[i] = NONE;
    loop->capacity = capacity;
    loop->bucket_mask = buckets - 1;
    loop->newest = loop->oldest = NONE;
    return loop;
}

static void unlink_entry(th_hit_loop *loop, int32_t i) {
    entry *e = &loop->entries[i];
    if (e->newer != NONE) loop->entries[e->newer].older = e->older;
    else loop->newest = e->older;
    if (e->older != NONE) loop->entries[e->older].newer = e->newer;
    else loop->oldest = e->newer;
}

static void link_newest(th_hit_loop *loop, int32_t i) {
    entry *e = &loop->entries[i];
    e->older = loop->newest;
    e->newer = NONE;
    if (loop->newest != NONE) loop->entries[loop->newest].newer = i;
    loop->newest = i;
    if (loop->oldest == NONE) loop->oldest = i;
}

static void remove_from_bucket(th_hit_loop *loop, int32_t i) {
    int32_t *link = &loop->buckets[loop->entries[i].low & loop->bucket_mask];
    while (*link != i) link = &loop->entries[*link].next_in_bucket;
    *link = loop->entries[i].next_in_bucket;
}

void th_hit_loop_handle(th_hit_loop *loop, const void *record, size_t size) {
    if (size < HEADER_SIZE) return;
    uint16_t kernel, user;
    memcpy(&kernel, (const uint8_t *)record + KERNEL_FRAME_COUNT_OFFSET, sizeof(kernel));
    memcpy(&user, (const uint8_t *)record + USER_FRAME_COUNT_OFFSET, sizeof(user));
    size_t frames = (size_t)kernel + user;
    if (frames > MAX_FRAMES || HEADER_SIZE + frames * FRAME_SIZE > size) return;
    size_t used = HEADER_SIZE + frames * FRAME_SIZE;
    memcpy(loop->scratch, record, used);
    /* What the hash leaves out, as the engine's load clears it: the CPU, the reserved word, and
     * ktime to the header's end. */
    memset(loop->scratch + CPU_OFFSET, 0, 4);
    memset(loop->scratch + RESERVED_OFFSET, 0, 4);
    memset(loop->scratch + UNHASHED_START, 0, HEADER_SIZE - UNHASHED_START);
    hit_hash128 hash = th_xxh3_128(loop->scratch, used);
    loop->counted++;
    int32_t *bucket = &loop->buckets[hash.low & loop->bucket_mask];
    for (int32_t i = *bucket; i != NONE; i = loop->entries[i].next_in_bucket) {
        entry *e = &loop->entries[i];
        if (e->low == hash.low && e->high == hash.high) {
            e->count++;
            loop->hits++;
            if (loop->newest != i) {
                unlink_entry(loop, i);
                link_newest(loop, i);
            }
            return;
        }
    }
    int32_t slot;
    if (loop->used < loop->capacity) {
        slot = (int32_t)loop->used++;
    } else {
        slot = loop->oldest;
        unlink_entry(loop, slot);
        remove_from_bucket(loop, slot);
        bucket = &loop->buckets[hash.low & loop->bucket_mask];
    }
    loop->entries[slot] = (entry){.low = hash.low, .high = hash.high, .count = 1, .next_in_bucket = *bucket};
    *bucket = slot;
    link_newest(loop, slot);
}

uint64_t th_hit_loop_counted(const th_hit_loop *loop) { return loop->counted; }
uint64_t th_hit_loop_hits(const th_hit_loop *loop) { return loop->hits; }

void th_hit_loop_destroy(th_hit_loop *loop) {
    if (!loop) return;
    free(loop->entries);
    free(loop->buckets);
    free(loop);
}
