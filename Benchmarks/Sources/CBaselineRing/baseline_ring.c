#include "baseline_ring.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define LINE 128

// As rigtorp/SPSCQueue lays it out: each index, and each side's cached copy of the other's,
// on a line pair of its own, so that a side's private writes never take a line the other reads.
struct th_cring {
    alignas(LINE) _Atomic size_t tail;  // written by the producer
    alignas(LINE) size_t cached_head;   // the producer's
    alignas(LINE) _Atomic size_t head;  // written by the consumer
    alignas(LINE) size_t cached_tail;   // the consumer's
    alignas(LINE) size_t capacity;
    size_t mask;
    size_t element_size;
    unsigned char *slots;
};

th_cring *th_cring_create(size_t capacity, size_t element_size) {
    th_cring *ring = aligned_alloc(LINE, sizeof(th_cring));
    if (!ring) return NULL;
    memset(ring, 0, sizeof(*ring));
    ring->capacity = capacity;
    ring->mask = capacity - 1;
    ring->element_size = element_size;
    ring->slots = aligned_alloc(64, capacity * element_size);
    if (!ring->slots) { free(ring); return NULL; }
    return ring;
}

void th_cring_destroy(th_cring *ring) {
    if (!ring) return;
    free(ring->slots);
    free(ring);
}

// Free contiguous slots at the tail, at most max; refreshes the cached head only when short.
static inline size_t reserve(th_cring *r, size_t max, size_t *start) {
    size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    size_t free_slots = r->capacity - (tail - r->cached_head);
    if (free_slots < max) {
        r->cached_head = atomic_load_explicit(&r->head, memory_order_acquire);
        free_slots = r->capacity - (tail - r->cached_head);
    }
    *start = tail & r->mask;
    size_t n = max < free_slots ? max : free_slots;
    size_t to_end = r->capacity - *start;
    return n < to_end ? n : to_end;
}

static inline size_t readable(th_cring *r, size_t max, size_t *start) {
    size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    size_t available = r->cached_tail - head;
    if (available < max) {
        r->cached_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        available = r->cached_tail - head;
    }
    *start = head & r->mask;
    size_t n = max < available ? max : available;
    size_t to_end = r->capacity - *start;
    return n < to_end ? n : to_end;
}

// One specialisation per element size, so that element copies have a constant size as they
// do in Swift's generic specialisation. A step moves at most `batch` elements (1: a push or a
// pop); the threaded loops repeat steps until done, the round trip alternates them.
#define TH_DEFINE_LOOPS(WORDS)                                                                   \
    static inline size_t produce_step_##WORDS(th_cring *r, uint64_t *next, uint64_t count, size_t batch) { \
        size_t start;                                                                            \
        size_t n = reserve(r, batch, &start);                                                    \
        if (n > count - *next) n = (size_t)(count - *next);                                      \
        uint64_t *slot = (uint64_t *)r->slots + start * WORDS;                                   \
        for (size_t i = 0; i < n; i++, (*next)++)                                                \
            for (size_t w = 0; w < WORDS; w++) slot[i * WORDS + w] = *next;                      \
        if (n) {                                                                                 \
            size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);                  \
            atomic_store_explicit(&r->tail, tail + n, memory_order_release);                     \
        }                                                                                        \
        return n;                                                                                \
    }                                                                                            \
    static inline size_t consume_step_##WORDS(th_cring *r, size_t batch, uint64_t *sum, uint64_t *torn) { \
        size_t start;                                                                            \
        size_t n = readable(r, batch, &start);                                                   \
        const uint64_t *slot = (const uint64_t *)r->slots + start * WORDS;                       \
        for (size_t i = 0; i < n; i++) {                                                         \
            *sum += slot[i * WORDS];                                                             \
            *torn |= slot[i * WORDS] ^ slot[i * WORDS + WORDS - 1];                              \
        }                                                                                        \
        if (n) {                                                                                 \
            size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);                  \
            atomic_store_explicit(&r->head, head + n, memory_order_release);                     \
        }                                                                                        \
        return n;                                                                                \
    }                                                                                            \
    /* One element, as a push: the caller's loop bounds `next`, as Swift's `pushOne`'s does. */  \
    static inline size_t push_step_##WORDS(th_cring *r, uint64_t *next) {                       \
        size_t start;                                                                            \
        if (!reserve(r, 1, &start)) return 0;                                                    \
        uint64_t *slot = (uint64_t *)r->slots + start * WORDS;                                   \
        for (size_t w = 0; w < WORDS; w++) slot[w] = *next;                                      \
        (*next)++;                                                                               \
        size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);                      \
        atomic_store_explicit(&r->tail, tail + 1, memory_order_release);                         \
        return 1;                                                                                \
    }                                                                                            \
    static void produce_##WORDS(th_cring *r, uint64_t count, size_t batch) {                    \
        uint64_t next = 0;                                                                       \
        if (batch == 1) {                                                                        \
            while (next < count) push_step_##WORDS(r, &next);                                    \
            return;                                                                              \
        }                                                                                        \
        while (next < count) produce_step_##WORDS(r, &next, count, batch);                       \
    }                                                                                            \
    static uint64_t consume_##WORDS(th_cring *r, uint64_t count, size_t batch) {                \
        uint64_t seen = 0, sum = 0, torn = 0;                                                    \
        while (seen < count) seen += consume_step_##WORDS(r, batch, &sum, &torn);                \
        return torn ? UINT64_MAX : sum;                                                          \
    }                                                                                            \
    static uint64_t round_trip_##WORDS(th_cring *r, uint64_t count, size_t batch) {             \
        uint64_t next = 0, sum = 0, torn = 0;                                                    \
        if (batch == 1) {                                                                        \
            while (next < count) {                                                               \
                while (!push_step_##WORDS(r, &next)) {}                                          \
                while (!consume_step_##WORDS(r, 1, &sum, &torn)) {}                              \
            }                                                                                    \
            return torn ? UINT64_MAX : sum;                                                      \
        }                                                                                        \
        while (next < count) {                                                                   \
            size_t n = 0;                                                                        \
            while (n < batch && next < count) n += produce_step_##WORDS(r, &next, count, batch - n); \
            for (size_t seen = 0; seen < n;) seen += consume_step_##WORDS(r, n - seen, &sum, &torn); \
        }                                                                                        \
        return torn ? UINT64_MAX : sum;                                                          \
    }

TH_DEFINE_LOOPS(1)
TH_DEFINE_LOOPS(8)
TH_DEFINE_LOOPS(32)

void th_cring_produce(th_cring *ring, uint64_t count, size_t batch) {
    switch (ring->element_size) {
    case 8: produce_1(ring, count, batch); break;
    case 64: produce_8(ring, count, batch); break;
    case 256: produce_32(ring, count, batch); break;
    default: abort();
    }
}

uint64_t th_cring_consume(th_cring *ring, uint64_t count, size_t batch) {
    switch (ring->element_size) {
    case 8: return consume_1(ring, count, batch);
    case 64: return consume_8(ring, count, batch);
    case 256: return consume_32(ring, count, batch);
    default: abort();
    }
}

uint64_t th_cring_round_trip(th_cring *ring, uint64_t count, size_t batch) {
    switch (ring->element_size) {
    case 8: return round_trip_1(ring, count, batch);
    case 64: return round_trip_8(ring, count, batch);
    case 256: return round_trip_32(ring, count, batch);
    default: abort();
    }
}
