// The C11 baseline for SPSCRing: the same algorithm (rigtorp/SPSCQueue's cached indices,
// producer and consumer lines 128 bytes apart, batch reserve/commit and readable/release),
// written the way a C programmer would, so that the benchmark can print Swift/C as a ratio
// measured in one run.
//
// The transfer loops themselves are in C too (baseline_ring.c): the comparison is "the whole
// producer and consumer in C" against "the whole producer and consumer in Swift".
#ifndef TH_BASELINE_RING_H
#define TH_BASELINE_RING_H

#include <stddef.h>
#include <stdint.h>

typedef struct th_cring th_cring;

/// A ring of `capacity` (a power of two) elements of `element_size` bytes (8, 64 or 256).
th_cring *th_cring_create(size_t capacity, size_t element_size);
void th_cring_destroy(th_cring *ring);

/// Produces `count` elements (element i holds i in every 8-byte word), `batch` at a time
/// (1: one push per element). Spins when the ring is full.
void th_cring_produce(th_cring *ring, uint64_t count, size_t batch);

/// Consumes `count` elements, `batch` at a time; returns the sum of their first words, or
/// UINT64_MAX when an element's last word differs from its first (a torn element).
uint64_t th_cring_consume(th_cring *ring, uint64_t count, size_t batch);

/// One thread: `count` elements through the ring, `batch` pushed (produce steps) then the same
/// number popped (consume steps), so the ring never fills and nothing waits — each side's own
/// instructions per element, for callgrind. Returns the checksum `th_cring_consume` would.
uint64_t th_cring_round_trip(th_cring *ring, uint64_t count, size_t batch);

#endif
