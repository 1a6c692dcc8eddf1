// A stack snapshot of the calling thread, as the sampler takes one of a sampled task: for the
// unwind benchmarks, which walk a real stack of their own process.
#ifndef TH_STACK_CAPTURE_H
#define TH_STACK_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

// Recurses `depth` times, then writes the registers at the deepest call (regs: IP, SP, BP) and up
// to `capacity` bytes of the stack from SP upwards (clamped to the thread's stack) into `stack`.
// Returns the bytes copied.
size_t th_capture_stack(int depth, uint64_t regs[3], void *stack, size_t capacity);

// The same on a new thread, whose stack holds nothing but the thread's start and the recursion:
// a deep stack of small frames (C recursion), a few KiB for a hundred frames. Returns 0 when the
// thread cannot be made.
size_t th_capture_stack_on_new_thread(int depth, uint64_t regs[3], void *stack, size_t capacity);

#endif
