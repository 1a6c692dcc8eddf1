// The BPF sampler: a perf_event program attached to a cpu-clock software event on every online
// CPU. Each sample becomes one raw trace record (trace_record.h): pid, tid, cpu, ktime, comm,
// the kernel stack and the frame-pointer user stack, leaf first. Records go out through a perf
// event array (one buffer per CPU, the default) or a BPF ring buffer, as chosen before load.
//
// Built by scripts/build-bpf with the toolchain's `clang -target bpf`; the object is embedded in
// the agent (Sources/CBPFObjects), and CI rebuilds it to prove the two match.
#include <linux/bpf_perf_event.h>

#include "output_maps.h"

struct stack_addresses {
    __u64 ip[TH_MAX_FRAMES];
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct stack_addresses);
} stack_scratch SEC(".maps");

// One bpf_loop pass appending stack addresses as frames: the verifier checks the callback once,
// where a bounded loop of TH_MAX_FRAMES iterations was simulated iteration by iteration (two of
// them made loading the sampler take most of a second of CPU).
struct append_context {
    th_trace_record *record;
    const struct stack_addresses *stack;
    __u32 first;  // frame index of the first address
    __u32 count;  // addresses to append
    __u8 kind;
};

static long append_frame(__u32 i, void *data) {
    struct append_context *c = data;
    __u32 total = c->first + i;
    if (i >= c->count || total >= TH_MAX_FRAMES) return 1;
    th_frame *f = &c->record->frames[total & (TH_MAX_FRAMES - 1)];
    f->file_id = 0;
    f->address_or_line = c->stack->ip[i & (TH_MAX_FRAMES - 1)];
    f->kind = c->kind;
    f->return_address = i > 0;  // the leaf is the interrupted instruction; callers are return addresses
    __builtin_memset(f->pad, 0, sizeof(f->pad));
    return 0;
}

// Appends `n` addresses as frames of `kind` from index `first`; returns the new frame count.
static __always_inline __u32 append_frames(th_trace_record *r, __u32 first, const struct stack_addresses *s,
                                           __u32 n, __u8 kind) {
    if (first >= TH_MAX_FRAMES) return first;
    __u32 room = TH_MAX_FRAMES - first;
    __u32 count = n < room ? n : room;
    struct append_context c = {.record = r, .stack = s, .first = first, .count = count, .kind = kind};
    bpf_loop(count, append_frame, &c, 0);
    return first + count;
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

    fill_header(r, pid_tgid);

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

    output(ctx, r, frames);
    return 0;
}
