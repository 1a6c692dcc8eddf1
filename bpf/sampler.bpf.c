// The BPF sampler: a perf_event program attached to a cpu-clock software event on every online
// CPU. Each sample becomes one raw trace record (trace_record.h): pid, tid, cpu, ktime, comm,
// the kernel stack and the frame-pointer user stack, leaf first; when the configuration asks for
// it (stack_bytes > 0), a user task's sample also carries a snapshot for DWARF unwinding in user
// space: its user IP, SP and BP and a window of its user stack from SP upwards. Records go out
// through a perf event array (one buffer per CPU, the default) or a BPF ring buffer, as chosen
// before load. With aggregation configured (kernel.aggregation = bpf), a sample is counted in a
// BPF hash map instead and user space drains the counts every interval; see `aggregate` below.
//
// Built by scripts/build-bpf with the toolchain's `clang -target bpf`; the object is embedded in
// the agent (Sources/CBPFObjects), and CI rebuilds it to prove the two match.
#include <linux/bpf_perf_event.h>
#include <linux/errno.h>

#include "output_maps.h"

struct stack_addresses {
    __u64 ip[TH_MAX_FRAMES];
};

// The whole record, snapshot included, is built in one per-CPU slot and sent with one output
// call: 31 KiB, within the 32 KiB the kernel allows a per-CPU value (trace_record.h). The
// snapshot starts after the used frames, inside `record.frames` when fewer than 128 are used.
// The off-CPU programs use the per-CPU slots too: no two programs of this object run on one CPU
// at once (the kernel skips a perf_event or tracepoint program while another runs there).
struct sample_scratch {
    th_trace_record record;
    __u8 snapshot_room[TH_USER_SNAPSHOT_SIZE(TH_USER_SNAPSHOT_MAX_BYTES)];
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct sample_scratch);
} sample_scratch SEC(".maps");

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

// Appends the current task's kernel stack, less its first `kernel_skip` frames, and frame-pointer
// user stack to `r` (whose header is filled) and sets its frame counts; returns the frames. `s` is
// scratch for the addresses.
static __always_inline __u32 take_stacks(void *ctx, th_trace_record *r, struct stack_addresses *s, __u64 kernel_skip) {
    long bytes = bpf_get_stack(ctx, s->ip, sizeof(s->ip), kernel_skip & BPF_F_SKIP_FIELD_MASK);
    __u32 kernel = bytes > 0 ? bytes / sizeof(__u64) : 0;
    if (bytes < 0) count(TH_COUNTER_KERNEL_STACK_ERRORS);
    __u32 frames = append_frames(r, 0, s, kernel, TH_FRAME_KERNEL);

    bytes = bpf_get_stack(ctx, s->ip, sizeof(s->ip), BPF_F_USER_STACK);
    __u32 user = bytes > 0 ? bytes / sizeof(__u64) : 0;
    if (bytes < 0) count(TH_COUNTER_USER_STACK_ERRORS);
    frames = append_frames(r, frames, s, user, TH_FRAME_NATIVE);

    r->kernel_frame_count = kernel < frames ? kernel : frames;
    r->user_frame_count = frames - r->kernel_frame_count;
    return frames;
}

#define TH_PAGE_SIZE 4096

// Keeps clang from dropping a bound it can prove but the verifier cannot.
#define TH_OPAQUE(x) asm volatile("" : "+r"(x))

// Finds how far the stack is readable above SP: one bpf_loop pass reading one byte per page,
// from SP's page up to and including the page holding the byte just past the window. A copy that
// crosses into an unmapped page fails whole; probing first gives the exact readable length (the
// stack's mapping ends on a page boundary) at the cost of one failed one-byte read, where halving
// a failed copy costs several and loses up to half of what was readable.
struct probe_context {
    __u64 next;   // lowest address not yet known to be readable
    __u64 limit;  // SP + window: the first byte past the window
};

static long probe_page(__u32 i, void *data) {
    struct probe_context *c = data;
    if (c->next > c->limit) return 1;
    __u8 byte;
    if (bpf_probe_read_user(&byte, 1, (const void *)c->next)) return 1;
    c->next = (c->next | (TH_PAGE_SIZE - 1)) + 1;
    return 0;
}

// Appends the user snapshot after `frames` frames; returns its size. Only for a task with user
// frames: the frame-pointer walk (get_perf_callchain) finds none for kernel threads and user
// workers (io_uring, vhost), which have no user registers, and always finds the user IP otherwise.
static __always_inline __u32 append_snapshot(struct sample_scratch *scratch, __u32 frames) {
    // The registers saved at the last entry from user mode: the interrupted user instruction, or
    // the system call's return point when the sample hit the kernel. The uapi struct pt_regs has
    // the kernel's layout on x86-64; the verifier checks each load against the kernel's BTF. (Not
    // CO-RE: relocating against vmlinux BTF made libbpf's load take 30-90 ms instead of 3.)
    struct pt_regs *regs = (void *)bpf_task_pt_regs(bpf_get_current_task_btf());
    __u64 ip = regs->rip, sp = regs->rsp, bp = regs->rbp;
    if (sp == 0) return 0;

    if (frames > TH_MAX_FRAMES) frames = TH_MAX_FRAMES;
    th_user_snapshot *snapshot = (void *)((__u8 *)&scratch->record + TH_TRACE_RECORD_SIZE(frames));
    __u8 *stack = (__u8 *)(snapshot + 1);

    __u32 window = config.stack_bytes;
    if (window > TH_USER_SNAPSHOT_MAX_BYTES) window = TH_USER_SNAPSHOT_MAX_BYTES;
    struct probe_context probe = {.next = sp, .limit = sp + window};
    if (probe.limit < sp) probe.limit = ~0ULL;
    bpf_loop(TH_USER_SNAPSHOT_MAX_BYTES / TH_PAGE_SIZE + 2, probe_page, &probe, 0);

    __u32 flags = 0;
    __u64 readable_end = probe.next;
    if (readable_end > probe.limit) {
        readable_end = probe.limit;
        flags |= TH_USER_SNAPSHOT_WINDOW_CUT;  // the byte past the window is readable: the stack goes on
    }
    __u64 n = readable_end - sp;
    TH_OPAQUE(n);
    if (n > TH_USER_SNAPSHOT_MAX_BYTES) n = TH_USER_SNAPSHOT_MAX_BYTES;
    // Every page was readable a moment ago; should the copy fail all the same (the stack was
    // unmapped or paged out meanwhile), take what lies on SP's own page, if that is less.
    if (n > 0 && bpf_probe_read_user(stack, n, (const void *)sp) != 0) {
        flags |= TH_USER_SNAPSHOT_READ_CUT;
        __u64 own_page = ((sp | (TH_PAGE_SIZE - 1)) + 1 - sp) & (TH_PAGE_SIZE * 2 - 1);
        if (own_page < n && bpf_probe_read_user(stack, own_page, (const void *)sp) == 0)
            n = own_page;
        else
            n = 0;
    }

    snapshot->ip = ip;
    snapshot->sp = sp;
    snapshot->bp = bp;
    snapshot->stack_bytes = n;
    snapshot->flags = flags;
    count(TH_COUNTER_SNAPSHOTS);
    count_n(TH_COUNTER_SNAPSHOT_BYTES, n);
    if (flags) count(TH_COUNTER_SNAPSHOT_TRUNCATED);
    if (n == 0) count(TH_COUNTER_SNAPSHOT_ERRORS);
    return TH_USER_SNAPSHOT_SIZE(n);
}

// The aggregation: two sets of a count map and a stack map. The program counts into the set that
// `aggregation_active` names; user space flips it, waits out the programs still running (an RCU
// grace period), then drains and clears the other set, which nothing writes any more. The loader
// sizes the maps (1 entry each when aggregation is off: stack maps preallocate every entry).
#define TH_COUNT_MAP(name)                                  \
    struct {                                                \
        __uint(type, BPF_MAP_TYPE_HASH);                    \
        __uint(max_entries, 1);                             \
        __type(key, struct th_aggregation_key);             \
        __type(value, struct th_aggregation_value);         \
    } name SEC(".maps")
#define TH_STACK_MAP(name)                                                \
    struct {                                                              \
        __uint(type, BPF_MAP_TYPE_STACK_TRACE);                           \
        __uint(max_entries, 1);                                           \
        __uint(key_size, sizeof(__u32));                                  \
        __uint(value_size, TH_AGGREGATION_STACK_DEPTH * sizeof(__u64));   \
    } name SEC(".maps")

TH_COUNT_MAP(aggregation_counts_0);
TH_COUNT_MAP(aggregation_counts_1);
TH_STACK_MAP(aggregation_stacks_0);
TH_STACK_MAP(aggregation_stacks_1);

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
} aggregation_active SEC(".maps");

// A stack id, -1 for no stack (bpf_get_stackid says EFAULT both for an empty stack, such as the
// user stack of a kernel thread, and for one it could not walk), or 0 with the reason counted
// when the sample cannot be aggregated.
static __always_inline int stack_id(struct bpf_perf_event_data *ctx, void *stacks, __u64 flags, __s32 *id) {
    long result = bpf_get_stackid(ctx, stacks, flags);
    if (result >= 0 || result == -EFAULT) {
        *id = result >= 0 ? (__s32)result : -1;
        return 1;
    }
    count(result == -EEXIST ? TH_COUNTER_AGGREGATION_COLLISIONS : TH_COUNTER_AGGREGATION_FULL);
    return 0;
}

// Counts the sample in one set; 0 when it could not (the caller sends a record instead).
// Always inlined, so each call site names its maps as constants.
static __always_inline int aggregate_into(struct bpf_perf_event_data *ctx, void *counts, void *stacks, __u64 pid_tgid) {
    struct th_aggregation_key key = {.pid = pid_tgid >> 32, .tid = (__u32)pid_tgid};
    bpf_get_current_comm(key.comm, sizeof(key.comm));
    if (!stack_id(ctx, stacks, 0, &key.kernel_stack_id)) return 0;
    if (!stack_id(ctx, stacks, BPF_F_USER_STACK, &key.user_stack_id)) return 0;

    struct th_aggregation_value *value = bpf_map_lookup_elem(counts, &key);
    if (!value) {
        struct th_aggregation_value first = {
            .count = 1, .first_ktime = bpf_ktime_get_ns(), .first_cpu = bpf_get_smp_processor_id()};
        long err = bpf_map_update_elem(counts, &key, &first, BPF_NOEXIST);
        if (err == 0) {
            count(TH_COUNTER_AGGREGATED);
            return 1;
        }
        // EEXIST: another CPU added the key meanwhile; anything else (E2BIG): the map is full.
        value = err == -EEXIST ? bpf_map_lookup_elem(counts, &key) : 0;
        if (!value) {
            count(TH_COUNTER_AGGREGATION_FULL);
            return 0;
        }
    }
    __sync_fetch_and_add(&value->count, 1);
    count(TH_COUNTER_AGGREGATED);
    return 1;
}

static __always_inline int aggregate(struct bpf_perf_event_data *ctx, __u64 pid_tgid) {
    __u32 zero = 0;
    __u32 *active = bpf_map_lookup_elem(&aggregation_active, &zero);
    if (active && *active)
        return aggregate_into(ctx, &aggregation_counts_1, &aggregation_stacks_1, pid_tgid);
    return aggregate_into(ctx, &aggregation_counts_0, &aggregation_stacks_0, pid_tgid);
}

SEC("perf_event")
int th_sample(struct bpf_perf_event_data *ctx) {
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    __u32 pid = pid_tgid >> 32;
    if (pid == 0) return 0;  // the idle task has no stack worth a sample
    if (config.target_pid != 0 && pid != config.target_pid) return 0;
    if (config.aggregate && aggregate(ctx, pid_tgid)) return 0;

    __u32 zero = 0;
    struct sample_scratch *scratch = bpf_map_lookup_elem(&sample_scratch, &zero);
    struct stack_addresses *s = bpf_map_lookup_elem(&stack_scratch, &zero);
    if (!scratch || !s) return 0;
    th_trace_record *r = &scratch->record;

    fill_header(r, pid_tgid);
    __u32 frames = take_stacks(ctx, r, s, 0);

    if (config.stack_bytes == 0) {
        output(ctx, r, frames);
        return 0;
    }
    __u64 size = TH_TRACE_RECORD_SIZE(frames);
    if (r->user_frame_count > 0) size += append_snapshot(scratch, frames);  // a user task (see append_snapshot)
    if (size > sizeof(*scratch)) size = sizeof(*scratch);
    output_sized(ctx, scratch, size);
    return 0;
}

// ---- Off-CPU: where tasks wait, and for how long ----
//
// `th_off_cpu`, on the sched_switch raw tracepoint, runs in the context of the task leaving the
// CPU. That task's stacks are taken there (the kernel stack shows why it blocked, the user stack
// where), into a record kept in `blocked_tasks` under its task (the address of its task_struct,
// which the tracepoint passes for both tasks: no field of it is read). When the same task is
// switched in later, the record goes out with the time it stayed off the CPU. So a record costs
// two stack walks at the switch away, and the switch back only a lookup; what is filtered out
// (idle, other pids, preemptions when voluntary_only, sampled out) costs no walk. A raw
// tracepoint hands the program the scheduler's own arguments: the classic sched:sched_switch
// first formats a record of both tasks' names and states for it, which cost about as much as
// the program's filters.
//
// `blocked_tasks` is an LRU map sized by offcpu.tasks: when it is full, the longest-untouched
// entry is dropped to make room (on kernels before 6.16 also earlier, when a CPU's share of the
// free entries runs out: about 128 a CPU). The program counts what it tracks and what resumes;
// user space counts what is left after detaching, and the difference is what was dropped. A
// resumed entry is copied before it is sent, and the copy sent only if the entry still was this
// task's block after the copy (an entry dropped is reused at once for another task). A task that
// exits is not tracked at its last switch; a task_struct freed and reused for a new task while an
// entry of the old one waits can only come from a task that died blocked, and the entry then
// goes out (or ages out of the LRU) as the old task's.

// A raw tracepoint program's kernel stack starts in the tracing machinery: the program itself
// (bpf_get_stack takes its caller's registers), then `bpf_trace_run4`, which ran it from the
// tracepoint; the scheduler's frames (`__schedule`, …) follow, as they start a classic
// tracepoint's stack and bpftrace's. (When other programs are on the tracepoint too, the kernel
// calls them all from `__traceiter_sched_switch`, which then comes first, for a classic
// tracepoint's as well.) OffCPUTests checks what the first frame kept is.
#define TH_RAW_TRACEPOINT_FRAMES 2

// The scheduler's task states (include/linux/sched.h), as sched_switch's prev_state passes them.
#define TH_TASK_RUNNING 0x0000  // still runnable: it yielded, or was preempted
#define TH_TASK_DEAD 0x0080     // its last switch: it will not run again

// An entry's state: blocked, or (with snapshots) ran again and awaiting its snapshot.
#define TH_BLOCKED 0
#define TH_AWAITING_SNAPSHOT 1

struct th_blocked_task {
    __u64 task;        // the key, kept to tell a reused entry from this task's
    __u64 blocked_at;  // bpf_ktime_get_ns() at the switch away
    __u64 user_ip;     // the user registers when it blocked: a snapshot taken later is taken only
    __u64 user_sp;     // while they still hold (the task is still in the same system call)
    __u32 frames;      // frames used in `record`
    __u32 state;       // TH_BLOCKED or TH_AWAITING_SNAPSHOT
    th_trace_record record;
};

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 1);  // sized by the loader (offcpu.tasks); one entry when off-CPU is off
    __type(key, __u64);      // the task_struct's address
    __type(value, struct th_blocked_task);
} blocked_tasks SEC(".maps");

// Where an entry is built before it is copied into `blocked_tasks` (3 KiB: not on the BPF stack).
// sched_switch runs with interrupts off, so no sample program on this CPU shares `stack_scratch`
// with it meanwhile.
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct th_blocked_task);
} blocked_scratch SEC(".maps");

// Copies entry `b` of `task` (its header and used frames) into `scratch` and returns the size
// copied, or 0 when the entry changed under the copy: a full LRU map reuses an entry at once, so
// another CPU may have made it another task's meanwhile (counted as torn; nothing is sent).
static __always_inline __u64 copy_entry(struct th_blocked_task *b, __u64 task, struct sample_scratch *scratch) {
    __u64 blocked_at = b->blocked_at;
    __u32 frames = b->frames;
    if (frames > TH_MAX_FRAMES) frames = TH_MAX_FRAMES;
    __u64 size = TH_TRACE_RECORD_SIZE(frames);
    if (size > sizeof(th_trace_record)) size = sizeof(th_trace_record);
    if (bpf_probe_read_kernel(&scratch->record, size, &b->record) != 0 || b->task != task ||
        b->blocked_at != blocked_at || scratch->record.kernel_frame_count + scratch->record.user_frame_count != frames) {
        count(TH_COUNTER_OFF_CPU_TORN);
        return 0;
    }
    return size;
}

// Sends an off-CPU record built in `scratch` and counts it apart from CPU samples.
static __always_inline void send_off_cpu(void *ctx, struct sample_scratch *scratch, __u64 size) {
    if (size > sizeof(*scratch)) size = sizeof(*scratch);
    count(output_sized(ctx, scratch, size) ? TH_COUNTER_OFF_CPU_REFUSED : TH_COUNTER_OFF_CPU_SENT);
}

// Sends the record of a task that ran again, in its own context (at the exit of the system call it
// blocked in, or when it leaves the CPU again first), with a user stack snapshot when its user
// registers are still those it blocked with: then its user stack is too, as it has not run user
// code since. Otherwise (it blocked outside a system call, was preempted in user code, and has
// run on) the record goes with its frame-pointer stack, counted. Deletes the entry.
static __always_inline void send_awaited(void *ctx, struct th_blocked_task *b, __u64 task) {
    __u32 zero = 0;
    struct sample_scratch *scratch = bpf_map_lookup_elem(&sample_scratch, &zero);
    if (!scratch) return;
    __u64 user_ip = b->user_ip, user_sp = b->user_sp;
    __u64 size = copy_entry(b, task, scratch);
    count(TH_COUNTER_OFF_CPU_AWAITED_SENT);
    if (size > 0) {
        __u32 frames = scratch->record.kernel_frame_count + scratch->record.user_frame_count;
        struct pt_regs *regs = (void *)bpf_task_pt_regs(bpf_get_current_task_btf());
        if (scratch->record.user_frame_count > 0 && regs->rip == user_ip && regs->rsp == user_sp)
            size += append_snapshot(scratch, frames);
        else
            count(TH_COUNTER_OFF_CPU_MOVED);
        send_off_cpu(ctx, scratch, size);
    }
    bpf_map_delete_elem(&blocked_tasks, &task);
}

// Takes the stacks of the task leaving the CPU (`prev`, the current task) and keeps them until it
// runs again.
static __always_inline void track_blocked(void *ctx, __u64 prev, __u64 preempt, __u64 prev_state) {
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    __u32 pid = pid_tgid >> 32;
    __u32 tid = (__u32)pid_tgid;
    if (tid == 0) return;  // the idle task
    if (config.target_pid != 0 && pid != config.target_pid) return;
    if (config.stack_bytes) {
        // It ran again and is leaving before its system call returned (it blocks again inside
        // it), or without one: its previous block goes out first, from here.
        struct th_blocked_task *awaiting = bpf_map_lookup_elem(&blocked_tasks, &prev);
        if (awaiting && awaiting->state == TH_AWAITING_SNAPSHOT) send_awaited(ctx, awaiting, prev);
    }
    if (prev_state & TH_TASK_DEAD) return;  // it will not run again: nothing to wait for
    // Involuntary: preempted, or it yielded still runnable.
    if (config.off_cpu_voluntary_only && (preempt || prev_state == TH_TASK_RUNNING)) return;
    count(TH_COUNTER_OFF_CPU_SWITCHES);
    if (!config.off_cpu_sample_all && bpf_get_prandom_u32() >= config.off_cpu_threshold) {
        count(TH_COUNTER_OFF_CPU_UNSAMPLED);
        return;
    }

    __u32 zero = 0;
    struct th_blocked_task *b = bpf_map_lookup_elem(&blocked_scratch, &zero);
    struct stack_addresses *s = bpf_map_lookup_elem(&stack_scratch, &zero);
    if (!b || !s) return;
    th_trace_record *r = &b->record;
    fill_header(r, pid_tgid);
    r->origin = TH_ORIGIN_OFF_CPU;
    b->task = prev;
    b->frames = take_stacks(ctx, r, s, TH_RAW_TRACEPOINT_FRAMES);
    b->blocked_at = r->ktime;
    b->state = TH_BLOCKED;
    struct pt_regs *regs = (void *)bpf_task_pt_regs(bpf_get_current_task_btf());
    b->user_ip = regs->rip;
    b->user_sp = regs->rsp;
    if (bpf_map_update_elem(&blocked_tasks, &prev, b, BPF_ANY) == 0)
        count(TH_COUNTER_OFF_CPU_TRACKED);
    else
        count(TH_COUNTER_OFF_CPU_TRACK_ERRORS);
}

// Sends the record of a tracked task that runs again (`next`), with the time it was off the CPU
// (with snapshots: marks it to await its snapshot).
static __always_inline void send_resumed(void *ctx, __u64 next) {
    struct th_blocked_task *b = bpf_map_lookup_elem(&blocked_tasks, &next);
    if (!b || b->state != TH_BLOCKED) return;
    __u64 now = bpf_ktime_get_ns();
    __u64 off = now > b->blocked_at ? now - b->blocked_at : 0;
    count(TH_COUNTER_OFF_CPU_RESUMED);
    if (off < config.off_cpu_min_ns) {
        count(TH_COUNTER_OFF_CPU_SHORT);
    } else if (config.stack_bytes) {
        // This runs in another task's context: the snapshot waits for the task's own
        // (th_off_cpu_return, or its next switch away).
        b->record.off_time = off;
        b->state = TH_AWAITING_SNAPSHOT;
        count(TH_COUNTER_OFF_CPU_AWAITING);
        return;
    } else {
        __u32 zero = 0;
        struct sample_scratch *scratch = bpf_map_lookup_elem(&sample_scratch, &zero);
        __u64 size = scratch ? copy_entry(b, next, scratch) : 0;
        if (size > 0) {
            scratch->record.off_time = off;
            send_off_cpu(ctx, scratch, size);
        }
    }
    bpf_map_delete_elem(&blocked_tasks, &next);
}

// sched_switch's arguments: bool preempt, struct task_struct *prev, *next, unsigned int prev_state.
SEC("raw_tp/sched_switch")
int th_off_cpu(struct bpf_raw_tracepoint_args *ctx) {
    track_blocked(ctx, ctx->args[1], ctx->args[0], ctx->args[3]);
    send_resumed(ctx, ctx->args[2]);
    return 0;
}

// With snapshots (unwind.mode = dwarf): at the exit of a system call, in the task's own context,
// the record of a block that ended goes out with a snapshot of the user stack it blocked on.
SEC("raw_tp/sys_exit")
int th_off_cpu_return(struct bpf_raw_tracepoint_args *ctx) {
    __u64 pid_tgid = bpf_get_current_pid_tgid();
    if (config.target_pid != 0 && (pid_tgid >> 32) != config.target_pid) return 0;
    __u64 task = bpf_get_current_task();
    struct th_blocked_task *b = bpf_map_lookup_elem(&blocked_tasks, &task);
    if (b && b->state == TH_AWAITING_SNAPSHOT) send_awaited(ctx, b, task);
    return 0;
}
