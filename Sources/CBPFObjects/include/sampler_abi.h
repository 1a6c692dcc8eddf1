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
};

enum th_program_counter {
    TH_COUNTER_RECORDS = 0,              // records handed to the output map
    TH_COUNTER_OUTPUT_ERRORS = 1,        // the output map refused the record (buffer full)
    TH_COUNTER_KERNEL_STACK_ERRORS = 2,  // bpf_get_stack failed for the kernel stack
    TH_COUNTER_USER_STACK_ERRORS = 3,    // bpf_get_stack failed for the user stack
    TH_COUNTER_COUNT = 4,
};

#endif
