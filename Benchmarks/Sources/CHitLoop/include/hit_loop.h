/*
 * The engine's cache-hit path as a plain C loop on one thread, the anchor of EngineBenchmarks'
 * hit path: per record, a copy into a scratch record with the unhashed header fields cleared (as
 * the source's load does), the XXH3-128 of its used bytes (the engine's own function), a lookup in
 * an LRU keyed by the hash (chained buckets, a recency list, move to the front on a hit: the
 * engine's LRUCache), and a count. No threads, no rings, no reporter.
 */
#ifndef TH_HIT_LOOP_H
#define TH_HIT_LOOP_H

#include <stddef.h>
#include <stdint.h>

/* The record layout this loop was written for (the engine's trace_record.h, which this package
 * cannot include): EngineWorkload checks it against RawTrace before the loop runs. */
#define TH_HIT_LOOP_HEADER_SIZE 80
#define TH_HIT_LOOP_CPU_OFFSET 8
#define TH_HIT_LOOP_KERNEL_FRAME_COUNT_OFFSET 12
#define TH_HIT_LOOP_USER_FRAME_COUNT_OFFSET 14
#define TH_HIT_LOOP_RESERVED_OFFSET 20
#define TH_HIT_LOOP_UNHASHED_START 24 /* ktime, comm, the APM ids, the off-CPU time: to the header's end */

typedef struct th_hit_loop th_hit_loop;

/* An empty cache of `capacity` entries (1 ... 2^30; a power of two buckets at least as many).
 * NULL when out of memory or out of range. */
th_hit_loop *th_hit_loop_create(uint32_t capacity);

/* Handles one record (the bytes a sampler sends: a header, then 24 bytes a frame). */
void th_hit_loop_handle(th_hit_loop *loop, const void *record, size_t size);

/* Traces counted so far, hits and misses. */
uint64_t th_hit_loop_counted(const th_hit_loop *loop);
uint64_t th_hit_loop_hits(const th_hit_loop *loop);

void th_hit_loop_destroy(th_hit_loop *loop);

#endif
