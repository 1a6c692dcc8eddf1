// What the BPF programs (bpf/) and their loader (Sources/KernelPath/BPF) share: the configuration
// each program reads from .rodata (set before load) and the indices of its per-CPU counters.
#ifndef TH_SAMPLER_ABI_H
#define TH_SAMPLER_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

// The one variable in each program's .rodata, so the loader finds it at offset 0.
struct th_program_config {
    __u32 target_pid;       // 0: every process
    __u32 use_ring_buffer;  // 0: perf event array, 1: BPF ring buffer
    __u32 frame_count;      // generator only: frames per record
    __u32 distinct_stacks;  // generator only: stacks to choose from
    // Sampler only: the user stack window, in bytes, copied from the user SP with each sample of
    // a user task for DWARF unwinding (trace_record.h th_user_snapshot). 0: no snapshot (the
    // frame-pointer stack only, as before); clamped to TH_USER_SNAPSHOT_MAX_BYTES (28 KiB).
    // perf's default is 8192.
    __u32 stack_bytes;
    // Sampler only: 1 to count samples in the kernel (kernel.aggregation = bpf) instead of sending
    // a record per sample: (pid, tid, comm, kernel stack id, user stack id) → count, in the
    // aggregation set `th_aggregation_active` names; user space drains the other set. A sample
    // that cannot be counted there (a stack id collision, a full map) is sent as a record.
    __u32 aggregate;
    // Sampler only, the off-CPU program (th_off_cpu on the sched_switch raw tracepoint): 1 to
    // count only voluntary switches (the task blocked), 0 for preemptions too.
    __u32 off_cpu_voluntary_only;
    // A switch is tracked when bpf_get_prandom_u32() < off_cpu_threshold, or always when
    // off_cpu_sample_all is set (offcpu.probability = 1).
    __u32 off_cpu_threshold;
    __u32 off_cpu_sample_all;
    // Blocks shorter than this are counted (TH_COUNTER_OFF_CPU_SHORT), not sent.
    __u64 off_cpu_min_ns;
};


// The deepest stack one stack id holds: the kernel's default perf_event_max_stack, which bounds
// a stack map's value size.
#define TH_AGGREGATION_STACK_DEPTH 127

// A key of the aggregation's count maps. Stack ids are -1 for an empty stack.
struct th_aggregation_key {
    __u32 pid;
    __u32 tid;
    __s32 kernel_stack_id;
    __s32 user_stack_id;
    char comm[16];
};

// The value: how many samples, and the first one's time and CPU (the trace's ktime and cpu).
struct th_aggregation_value {
    __u64 count;
    __u64 first_ktime;
    __u32 first_cpu;
    __u32 pad;
};

enum th_program_counter {
    TH_COUNTER_RECORDS = 0,              // records handed to the output map
    TH_COUNTER_OUTPUT_ERRORS = 1,        // the output map refused the record (buffer full)
    TH_COUNTER_KERNEL_STACK_ERRORS = 2,  // bpf_get_stack failed for the kernel stack
    TH_COUNTER_USER_STACK_ERRORS = 3,    // bpf_get_stack failed for the user stack
    // Only with th_program_config.stack_bytes > 0:
    TH_COUNTER_SNAPSHOTS = 4,            // records built with a user stack snapshot (sent or refused)
    TH_COUNTER_SNAPSHOT_BYTES = 5,       // stack bytes those snapshots carry, summed
    TH_COUNTER_SNAPSHOT_TRUNCATED = 6,   // snapshots cut short (a TH_USER_SNAPSHOT_*_CUT flag set)
    TH_COUNTER_SNAPSHOT_ERRORS = 7,      // snapshots with no stack bytes: SP's page unreadable (e.g. mid-execve)
    // Only with th_program_config.aggregate:
    TH_COUNTER_AGGREGATED = 8,           // samples counted in an aggregation map (no record sent)
    TH_COUNTER_AGGREGATION_COLLISIONS = 9,  // samples sent as records: a stack id's bucket held another stack
    TH_COUNTER_AGGREGATION_FULL = 10,    // samples sent as records: the stack or count map was full (or busy)
    // Only with the off-CPU program attached (the sched_switch raw tracepoint):
    TH_COUNTER_OFF_CPU_SWITCHES = 11,    // switches away from a task the filters admit (pid, voluntary)
    TH_COUNTER_OFF_CPU_UNSAMPLED = 12,   // of those, not tracked: the sampling probability said no
    TH_COUNTER_OFF_CPU_TRACKED = 13,     // of those, stacks taken and the task kept in blocked_tasks
    TH_COUNTER_OFF_CPU_TRACK_ERRORS = 14,  // of those, the map refused the entry (no memory)
    TH_COUNTER_OFF_CPU_RESUMED = 15,     // tracked tasks that ran again: sent, refused, short, torn or awaiting
    TH_COUNTER_OFF_CPU_SHORT = 16,       // of those, off the CPU for less than off_cpu_min_ns: not sent
    // Only with snapshots (stack_bytes > 0): a block that ended waits for the task's own context.
    TH_COUNTER_OFF_CPU_AWAITING = 17,    // resumed blocks left to await their snapshot
    TH_COUNTER_OFF_CPU_AWAITED_SENT = 18,  // of those, no longer awaiting: sent, refused or torn
    TH_COUNTER_OFF_CPU_MOVED = 19,       // of those, sent without a snapshot: the user registers had moved
    // Off-CPU records apart from CPU samples' (TH_COUNTER_RECORDS and OUTPUT_ERRORS count both):
    TH_COUNTER_OFF_CPU_SENT = 20,        // handed to the output map
    TH_COUNTER_OFF_CPU_REFUSED = 21,     // refused by it (buffer full)
    TH_COUNTER_OFF_CPU_TORN = 22,        // not sent: the entry was reused for another task while read
    TH_COUNTER_COUNT = 23,
};

#endif
