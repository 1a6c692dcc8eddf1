#include "baseline_ring.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define LINE 128

struct th_cring {
    alignas(LINE) _Atomic size_t tail;  // written by the producer
    size_t cached_head;
    alignas(LINE) _Atomic size_t head;  // written by the consumer
    size_t cached_tail;
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
// do in Swift's generic specialisation.
#define TH_DEFINE_LOOPS(WORDS)                                                                   \
    static void produce_##WORDS(th_cring *r, uint64_t count, size_t batch) {                    \
        uint64_t next = 0;                                                                       \
        while (next < count) {                                                                   \
            size_t start;                                                                        \
            size_t n = reserve(r, batch, &start);                                                \
            if (n > count - next) n = (size_t)(count - next);                                    \
            uint64_t *slot = (uint64_t *)r->slots + start * WORDS;                               \
            for (size_t i = 0; i < n; i++, next++)                                               \
                for (size_t w = 0; w < WORDS; w++) slot[i * WORDS + w] = next;                   \
            if (n) {                                                                             \
                size_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);              \
                atomic_store_explicit(&r->tail, tail + n, memory_order_release);                 \
            }                                                                                    \
        }                                                                                        \
    }                                                                                            \
    static uint64_t consume_##WORDS(th_cring *r, uint64_t count, size_t batch) {                \
        uint64_t seen = 0, sum = 0;                                                              \
        uint64_t torn = 0;                                                                            \
        while (seen < count) {                                                                   \
            size_t start;                                                                        \
            size_t n = readable(r, batch, &start);                                               \
            const uint64_t *slot = (const uint64_t *)r->slots + start * WORDS;                   \
            for (size_t i = 0; i < n; i++) {                                                     \
                sum += slot[i * WORDS];                                                          \
                torn |= slot[i * WORDS] ^ slot[i * WORDS + WORDS - 1];                          \
            }                                                                                    \
            if (n) {                                                                             \
                size_t head = atomic_load_explicit(&r->head, memory_order_relaxed);              \
                atomic_store_explicit(&r->head, head + n, memory_order_release);                 \
                seen += n;                                                                       \
            }                                                                                    \
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
