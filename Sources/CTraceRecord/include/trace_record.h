/*
 * The raw trace record: the one layout shared by the BPF sampler (which writes it into a perf buffer
 * or BPF ring buffer) and the user-mode engine (which reads it). Keep this header includable from BPF
 * C (vmlinux.h provides the __uN types there) and from user space (linux/types.h).
 *
 * Frame order follows the upstream profiler: kernel frames first, then user frames, each leaf first.
 * Upstream: go.opentelemetry.io/ebpf-profiler support/ebpf/types.h `Trace`, reduced to the fields a
 * frame-pointer sampler produces, plus `cpu` (which upstream takes from the perf buffer instead).
 */
#ifndef TH_TRACE_RECORD_H
#define TH_TRACE_RECORD_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define TH_COMM_LEN 16
#define TH_APM_TRACE_ID_LEN 16
#define TH_APM_TRANSACTION_ID_LEN 8
/* Upstream MaxFrameUnwinds. Kernel and user frames together never exceed it. */
#define TH_MAX_FRAMES 128

/* Frame kinds: the values of upstream's FRAME_MARKER_* (support/ebpf/frametypes.h). */
#define TH_FRAME_UNKNOWN 0x00
#define TH_FRAME_PYTHON 0x01
#define TH_FRAME_PHP 0x02
#define TH_FRAME_NATIVE 0x03
#define TH_FRAME_KERNEL 0x04
#define TH_FRAME_HOTSPOT 0x05
#define TH_FRAME_RUBY 0x06
#define TH_FRAME_PERL 0x07
#define TH_FRAME_V8 0x08
#define TH_FRAME_PHP_JIT 0x09
#define TH_FRAME_DOTNET 0x0a
#define TH_FRAME_LUAJIT 0x0b
#define TH_FRAME_ERROR_BIT 0x80
#define TH_FRAME_ABORT 0xff

/* One frame; 24 bytes. `pad` must be zero: it is part of the hashed bytes. */
typedef struct th_frame {
    __u64 file_id;         /* host file id; 0 when the BPF side cannot know it (frame-pointer walk) */
    __u64 address_or_line; /* virtual address for native/kernel frames, line for interpreters */
    __u8 kind;             /* TH_FRAME_* */
    __u8 return_address;   /* 1 when address_or_line is a return address (caller frames) */
    __u8 pad[6];
} th_frame;

/*
 * One raw trace; a 64-byte header followed by `kernel_frame_count + user_frame_count` frames. The
 * BPF side sends only the used prefix: TH_TRACE_RECORD_SIZE(n) bytes.
 */
typedef struct th_trace_record {
    __u32 pid;
    __u32 tid;
    __u32 cpu;
    __u16 kernel_frame_count;
    __u16 user_frame_count;
    __u64 ktime; /* CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns) */
    char comm[TH_COMM_LEN];
    __u8 apm_trace_id[TH_APM_TRACE_ID_LEN];
    __u8 apm_transaction_id[TH_APM_TRANSACTION_ID_LEN];
    th_frame frames[TH_MAX_FRAMES];
} th_trace_record;

#define TH_TRACE_RECORD_HEADER_SIZE 64
#define TH_TRACE_RECORD_SIZE(frame_count) (TH_TRACE_RECORD_HEADER_SIZE + (frame_count) * sizeof(th_frame))

/* Header field offsets as constants Swift imports directly (`MemoryLayout.offset(of:)` there is
 * evaluated at run time, behind a lazy-initialization check on every use). */
enum {
    TH_OFFSET_CPU = __builtin_offsetof(th_trace_record, cpu),
    TH_OFFSET_KERNEL_FRAME_COUNT = __builtin_offsetof(th_trace_record, kernel_frame_count),
    TH_OFFSET_USER_FRAME_COUNT = __builtin_offsetof(th_trace_record, user_frame_count),
    TH_OFFSET_KTIME = __builtin_offsetof(th_trace_record, ktime),
    TH_OFFSET_COMM = __builtin_offsetof(th_trace_record, comm),
    TH_OFFSET_APM_TRACE_ID = __builtin_offsetof(th_trace_record, apm_trace_id),
    TH_OFFSET_APM_TRANSACTION_ID = __builtin_offsetof(th_trace_record, apm_transaction_id),
};

_Static_assert(sizeof(th_frame) == 24, "th_frame is 24 bytes");
_Static_assert(__builtin_offsetof(th_trace_record, frames) == TH_TRACE_RECORD_HEADER_SIZE,
               "the header is 64 bytes");

#endif /* TH_TRACE_RECORD_H */
