// The BPF programs of bpf/, compiled and embedded by scripts/build-bpf.
#ifndef TH_BPF_OBJECTS_H
#define TH_BPF_OBJECTS_H

/// The stack sampler (perf_event program on cpu-clock).
extern const unsigned char th_sampler_bpf_object[];
extern const unsigned long th_sampler_bpf_object_size;

/// The kernel-path load generator (tracepoint program on sys_enter_getppid).
extern const unsigned char th_generator_bpf_object[];
extern const unsigned long th_generator_bpf_object_size;

/* The program configuration and counter indices the loader shares with the programs. */
#include "sampler_abi.h"

/* Swift imports C arrays of unknown size poorly; these return their addresses. */
static inline const unsigned char *th_sampler_bpf_object_ptr(void) { return th_sampler_bpf_object; }
static inline const unsigned char *th_generator_bpf_object_ptr(void) { return th_generator_bpf_object; }

#endif
