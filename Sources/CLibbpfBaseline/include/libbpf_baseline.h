/*
 * The anchor of the kernel-path benchmark: the consumer most BPF tools use, libbpf's
 * perf_buffer__poll, reading the same program's perf event array with the same perf attributes
 * (watermark wakeups) as ours, so `tracehandler-bench kernel` prints ours ÷ libbpf from one run.
 */
#ifndef TH_LIBBPF_BASELINE_H
#define TH_LIBBPF_BASELINE_H

#include <stdint.h>
#include <stddef.h>

typedef struct th_libbpf_consumer_result {
    uint64_t records;      /* PERF_RECORD_SAMPLE records */
    uint64_t lost;         /* the sum of PERF_RECORD_LOST counts */
    uint64_t bytes;        /* raw sample bytes */
    double cpu_seconds;    /* the consumer thread's CPU time */
    int error;             /* 0, or -errno from perf_buffer__new_raw / perf_buffer__poll */
} th_libbpf_consumer_result;

/*
 * Reads the perf event array `map_fd` (pages_per_cpu data pages per CPU, woken every
 * watermark_bytes; 0 = every record) with perf_buffer__poll until *stop becomes nonzero, then
 * consumes what is left. Runs on the calling thread.
 */
th_libbpf_consumer_result th_libbpf_consume(int map_fd, size_t pages_per_cpu, uint32_t watermark_bytes,
                                            const volatile int *stop);

#endif
