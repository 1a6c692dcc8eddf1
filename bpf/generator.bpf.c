// The kernel-path load generator: a tracepoint program on getppid(2) that emits one raw trace
// record per call from the configured process, through the same output maps the sampler uses.
// A thread calling getppid in a loop thus drives millions of records a second through the real
// perf buffers (or ring buffer), with exact counts: every attempt is either handed to the map
// (TH_COUNTER_RECORDS) or refused (TH_COUNTER_OUTPUT_ERRORS; the perf buffer then also sends a
// PERF_RECORD_LOST).
#include "output_maps.h"

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, th_trace_record);
} record_scratch SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int th_generate(void *ctx) {
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    __u32 pid = pid_tgid >> 32;
    if (pid != config.target_pid) return 0;

    __u32 zero = 0;
    th_trace_record *r = bpf_map_lookup_elem(&record_scratch, &zero);
    if (!r) return 0;
    __u32 frames = config.frame_count;
    if (frames > TH_MAX_FRAMES) frames = TH_MAX_FRAMES;
    __u32 distinct = config.distinct_stacks ? config.distinct_stacks : 1;
    __u64 stack = bpf_get_prandom_u32() % distinct;

    fill_header(r, pid_tgid);
    r->kernel_frame_count = 0;
    r->user_frame_count = frames;
    for (__u32 i = 0; i < TH_MAX_FRAMES; i++) {
        if (i >= frames) break;
        th_frame *f = &r->frames[i];
        f->file_id = 0;
        f->address_or_line = 0x400000 + stack * 0x1000 + i * 0x10;
        f->kind = TH_FRAME_NATIVE;
        f->return_address = i > 0;
        __builtin_memset(f->pad, 0, sizeof(f->pad));
    }

    output(ctx, r, frames);
    return 0;
}
