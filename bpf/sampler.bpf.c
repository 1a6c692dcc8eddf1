// The BPF sampler: a perf_event program attached to a cpu-clock software event on every online
// CPU. Each sample becomes one raw trace record (trace_record.h): pid, tid, cpu, ktime, comm,
// the kernel stack and the frame-pointer user stack, leaf first. Records go out through a perf
// event array (one buffer per CPU, the default) or a BPF ring buffer, as chosen before load.
//
// Built by scripts/build-bpf with the toolchain's `clang -target bpf`; the object is embedded in
// the agent (Sources/CBPFObjects), and CI rebuilds it to prove the two match.
#include <linux/bpf.h>
#include <linux/bpf_perf_event.h>
#include <bpf/bpf_helpers.h>

#include "trace_record.h"
#include "sampler_abi.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";  // bpf_get_stack and the output helpers are GPL-only

// Set by the loader before load; read-only afterwards, so the verifier prunes the unused branch.
const volatile struct th_program_config config = {};

// A 3 KiB record does not fit the 512-byte BPF stack: build it in a per-CPU scratch slot.
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, th_trace_record);
} record_scratch SEC(".maps");

struct stack_addresses {
    __u64 ip[TH_MAX_FRAMES];
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct stack_addresses);
} stack_scratch SEC(".maps");

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

static __always_inline void count(__u32 counter) {
    __u64 *value = bpf_map_lookup_elem(&counters, &counter);
    if (value) *value += 1;
}

// Appends `n` addresses as frames of `kind` from index `first`; returns the new frame count.
static __always_inline __u32 append_frames(th_trace_record *r, __u32 first, const struct stack_addresses *s,
                                           __u32 n, __u8 kind) {
    __u32 count = first;
    for (__u32 i = 0; i < TH_MAX_FRAMES; i++) {
        if (i >= n || count >= TH_MAX_FRAMES) break;
        th_frame *f = &r->frames[count & (TH_MAX_FRAMES - 1)];
        f->file_id = 0;
        f->address_or_line = s->ip[i];
        f->kind = kind;
        f->return_address = i > 0;  // the leaf is the interrupted instruction; callers are return addresses
        __builtin_memset(f->pad, 0, sizeof(f->pad));
        count++;
    }
    return count;
}

SEC("perf_event")
int th_sample(struct bpf_perf_event_data *ctx) {
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    __u32 pid = pid_tgid >> 32;
    if (pid == 0) return 0;  // the idle task has no stack worth a sample
    if (config.target_pid != 0 && pid != config.target_pid) return 0;

    __u32 zero = 0;
    th_trace_record *r = bpf_map_lookup_elem(&record_scratch, &zero);
    struct stack_addresses *s = bpf_map_lookup_elem(&stack_scratch, &zero);
    if (!r || !s) return 0;

    r->pid = pid;
    r->tid = (__u32)pid_tgid;
    r->cpu = bpf_get_smp_processor_id();
    r->ktime = bpf_ktime_get_ns();
    bpf_get_current_comm(r->comm, sizeof(r->comm));
    __builtin_memset(r->apm_trace_id, 0, sizeof(r->apm_trace_id));
    __builtin_memset(r->apm_transaction_id, 0, sizeof(r->apm_transaction_id));

    long bytes = bpf_get_stack(ctx, s->ip, sizeof(s->ip), 0);
    __u32 kernel = bytes > 0 ? bytes / sizeof(__u64) : 0;
    if (bytes < 0) count(TH_COUNTER_KERNEL_STACK_ERRORS);
    __u32 frames = append_frames(r, 0, s, kernel, TH_FRAME_KERNEL);

    bytes = bpf_get_stack(ctx, s->ip, sizeof(s->ip), BPF_F_USER_STACK);
    __u32 user = bytes > 0 ? bytes / sizeof(__u64) : 0;
    if (bytes < 0) count(TH_COUNTER_USER_STACK_ERRORS);
    frames = append_frames(r, frames, s, user, TH_FRAME_NATIVE);

    r->kernel_frame_count = kernel < frames ? kernel : frames;
    r->user_frame_count = frames - r->kernel_frame_count;

    __u64 size = TH_TRACE_RECORD_SIZE(frames);
    if (size > sizeof(*r)) size = sizeof(*r);
    long err;
    if (config.use_ring_buffer)
        err = bpf_ringbuf_output(&trace_ring, r, size, 0);
    else
        err = bpf_perf_event_output(ctx, &trace_events, BPF_F_CURRENT_CPU, r, size);
    count(err ? TH_COUNTER_OUTPUT_ERRORS : TH_COUNTER_RECORDS);
    return 0;
}
