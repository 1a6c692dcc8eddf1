/*
 * The anchor of the agent-overhead benchmark (`tracehandler-bench agent`): the plain C program a
 * user would write against the same sampler — libbpf's perf_buffer__poll over its per-CPU perf
 * buffers, kernel frames named from /proc/kallsyms, user frames as addresses, every sample folded
 * into a string-keyed count table. No cache, no user-space symbolization, no output: the least a
 * consumer that keeps whole stacks can do per sample.
 */
#ifndef TH_LIBBPF_FOLD_CONSUMER_H
#define TH_LIBBPF_FOLD_CONSUMER_H

#include <stdint.h>
#include <stddef.h>

typedef struct th_fold_consumer_result {
    uint64_t records;        /* sample records read */
    uint64_t malformed;      /* records shorter than their frame counts say: counted, not folded */
    uint64_t lost;           /* the sum of PERF_RECORD_LOST counts */
    uint64_t stacks;         /* distinct folded stacks in the table at the end */
    uint64_t kernel_symbols; /* text symbols read from /proc/kallsyms */
    /* The measurement window [window_start_ns, window_end_ns) of CLOCK_MONOTONIC: the records read
     * and the consumer thread's CPU time between the first poll at or after each bound. */
    uint64_t window_records;
    double window_cpu_seconds;
    int window_complete;     /* 1 when the consumer ran past the window's end */
    int error;               /* 0, or -errno from reading kallsyms, perf_buffer__new_raw or poll */
} th_fold_consumer_result;

typedef struct th_fold_consumer th_fold_consumer;

/*
 * Reads /proc/kallsyms and puts perf buffers of pages_per_cpu data pages per CPU (woken every
 * watermark_bytes; 0 = every record) in the perf event array `map_fd`. Returns 0 and the
 * consumer in *consumer, or -errno.
 */
int th_fold_consumer_open(int map_fd, size_t pages_per_cpu, uint32_t watermark_bytes, th_fold_consumer **consumer);

/*
 * Polls and folds every sample until *stop becomes nonzero, then consumes what is left. Runs on
 * the calling thread (one at a time).
 */
th_fold_consumer_result th_fold_consumer_run(th_fold_consumer *consumer, uint64_t window_start_ns,
                                             uint64_t window_end_ns, const volatile int *stop);

/* Frees the consumer and its buffers (which leave the map). */
void th_fold_consumer_close(th_fold_consumer *consumer);

#endif
