// What both BPF programs declare alike: their configuration, the two output maps (one of which
// the configuration selects) and the counters. Each program has its own scratch slot to build a
// record in (a 3 KiB record does not fit the 512-byte BPF stack).
#ifndef TH_OUTPUT_MAPS_H
#define TH_OUTPUT_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "sampler_abi.h"
#include "trace_record.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";  // bpf_get_stack and the output helpers are GPL-only

// Set by the loader before load; read-only afterwards, so the verifier prunes the unused branch.
const volatile struct th_program_config config = {};

struct {
    __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, sizeof(__u32));
} trace_events SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 1 << 20);  // resized by the loader
} trace_ring SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, TH_COUNTER_COUNT);
    __type(key, __u32);
    __type(value, __u64);
} counters SEC(".maps");

static __always_inline void count_n(__u32 counter, __u64 n) {
    __u64 *value = bpf_map_lookup_elem(&counters, &counter);
    if (value) *value += n;
}

static __always_inline void count(__u32 counter) { count_n(counter, 1); }

// The header fields every record carries, for the current task.
static __always_inline void fill_header(th_trace_record *r, __u64 pid_tgid) {
    r->pid = pid_tgid >> 32;
    r->tid = (__u32)pid_tgid;
    r->cpu = bpf_get_smp_processor_id();
    r->ktime = bpf_ktime_get_ns();
    bpf_get_current_comm(r->comm, sizeof(r->comm));
    __builtin_memset(r->apm_trace_id, 0, sizeof(r->apm_trace_id));
    __builtin_memset(r->apm_transaction_id, 0, sizeof(r->apm_transaction_id));
    r->origin = TH_ORIGIN_SAMPLING;
    r->reserved = 0;
    r->off_time = 0;
}

// Hands the first `size` bytes at `data` to the configured output map and counts the outcome,
// which it returns (0: sent). The caller bounds `size` by the object `data` points into, visibly
// to the verifier.
static __always_inline long output_sized(void *ctx, const void *data, __u64 size) {
    long err;
    if (config.use_ring_buffer)
        err = bpf_ringbuf_output(&trace_ring, (void *)data, size, 0);
    else
        err = bpf_perf_event_output(ctx, &trace_events, BPF_F_CURRENT_CPU, (void *)data, size);
    count(err ? TH_COUNTER_OUTPUT_ERRORS : TH_COUNTER_RECORDS);
    return err;
}

// Hands the used prefix of the record (header and `frames` frames) to the configured output map.
static __always_inline long output(void *ctx, th_trace_record *r, __u32 frames) {
    __u64 size = TH_TRACE_RECORD_SIZE(frames);
    if (size > sizeof(*r)) size = sizeof(*r);
    return output_sized(ctx, r, size);
}

#endif
