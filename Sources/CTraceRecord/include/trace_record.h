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

/* What made a record (upstream's TRACE_* origins, numbered from 0 here so that a zeroed header is
 * a CPU sample): the CPU sampler, or the off-CPU sampler at a blocked task's return to a CPU. */
#define TH_ORIGIN_SAMPLING 0
#define TH_ORIGIN_OFF_CPU 1

/*
 * One raw trace; an 80-byte header followed by `kernel_frame_count + user_frame_count` frames. The
 * BPF side sends only the used prefix: TH_TRACE_RECORD_SIZE(n) bytes.
 *
 * The hash covers pid, tid, the frame counts, origin and the frames; user space zeroes `cpu`,
 * `reserved` and everything from `ktime` to the frames before hashing (one range: it relies on
 * the unhashed fields after `reserved` being contiguous).
 */
typedef struct th_trace_record {
    __u32 pid;
    __u32 tid;
    __u32 cpu; /* not hashed */
    __u16 kernel_frame_count;
    __u16 user_frame_count;
    __u32 origin;   /* TH_ORIGIN_*: hashed, so that one stack on and off the CPU are two traces */
    __u32 reserved; /* zero; not hashed */
    __u64 ktime; /* CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns); off-CPU: when the task blocked */
    char comm[TH_COMM_LEN];
    __u8 apm_trace_id[TH_APM_TRACE_ID_LEN];
    __u8 apm_transaction_id[TH_APM_TRANSACTION_ID_LEN];
    __u64 off_time; /* off-CPU records: nanoseconds the task was off the CPU; 0 for CPU samples */
    th_frame frames[TH_MAX_FRAMES];
} th_trace_record;

#define TH_TRACE_RECORD_HEADER_SIZE 80
#define TH_TRACE_RECORD_SIZE(frame_count) (TH_TRACE_RECORD_HEADER_SIZE + (frame_count) * sizeof(th_frame))

/* Header field offsets as constants Swift imports directly (`MemoryLayout.offset(of:)` there is
 * evaluated at run time, behind a lazy-initialization check on every use). */
enum {
    TH_OFFSET_CPU = __builtin_offsetof(th_trace_record, cpu),
    TH_OFFSET_KERNEL_FRAME_COUNT = __builtin_offsetof(th_trace_record, kernel_frame_count),
    TH_OFFSET_USER_FRAME_COUNT = __builtin_offsetof(th_trace_record, user_frame_count),
    TH_OFFSET_ORIGIN = __builtin_offsetof(th_trace_record, origin),
    TH_OFFSET_KTIME = __builtin_offsetof(th_trace_record, ktime),
    TH_OFFSET_COMM = __builtin_offsetof(th_trace_record, comm),
    TH_OFFSET_APM_TRACE_ID = __builtin_offsetof(th_trace_record, apm_trace_id),
    TH_OFFSET_APM_TRANSACTION_ID = __builtin_offsetof(th_trace_record, apm_transaction_id),
    TH_OFFSET_OFF_TIME = __builtin_offsetof(th_trace_record, off_time),
};

/*
 * The user stack snapshot: what a user-space DWARF unwinder needs (perf's `--call-graph dwarf`
 * method; see UNWINDING.md). When the sampler's configuration asks for one
 * (th_program_config.stack_bytes > 0) and the sampled task is a user task, the record goes on
 * right after its used frames, at TH_TRACE_RECORD_SIZE(frames), with this 32-byte header and then
 * `stack_bytes` bytes of the user stack copied from `sp` upwards. Kernel threads take none.
 *
 * The rule: a record carries a snapshot iff its byte count is at least
 * TH_TRACE_RECORD_SIZE(frames) + TH_USER_SNAPSHOT_HEADER_SIZE, frames being kernel + user frame
 * count (TH_RECORD_HAS_SNAPSHOT). "Larger than TH_TRACE_RECORD_SIZE(frames)" alone is not enough:
 * a perf buffer pads its raw records to 4 mod 8 bytes, so a record without a snapshot arrives
 * 4 bytes longer than it was sent. The stack bytes are exactly `stack_bytes`; a reader checks that
 * they fit in what it received (anything after them is padding).
 *
 * The registers are the user registers even when the sample interrupted the kernel (then `ip` is
 * the system call's return point in user space). The copy ends at the window
 * (th_program_config.stack_bytes) or at the first page above `sp` that is not readable without a
 * fault, whichever comes first: the end of the stack's mapping, or on the main thread the
 * never-touched random gap exec leaves below the argument strings (frames all lie below it).
 * It may run on past a thread stack's mapping into an adjacent readable one; an unwinder stops
 * at the outermost frame anyway. A task sampled inside execve after its memory was replaced has
 * registers but no readable stack: stack_bytes 0.
 */
typedef struct th_user_snapshot {
    __u64 ip;
    __u64 sp;
    __u64 bp;
    __u32 stack_bytes; /* bytes of stack that follow, from sp upwards; at most TH_USER_SNAPSHOT_MAX_BYTES */
    __u32 flags;       /* TH_USER_SNAPSHOT_* */
    /* then stack_bytes bytes */
} th_user_snapshot;

/* The copy filled the window and the stack goes on above it (the byte after the window is
 * readable): return addresses above sp + stack_bytes are missing ("snapshot too short"). */
#define TH_USER_SNAPSHOT_WINDOW_CUT 0x1u
/* A read failed (the stack changed under the copy) and a shorter copy was taken. */
#define TH_USER_SNAPSHOT_READ_CUT 0x2u

#define TH_USER_SNAPSHOT_HEADER_SIZE 32
/*
 * The largest window: 28 KiB. The sampler assembles the whole record (header, 128 frames, the
 * snapshot) in one per-CPU array value, and the kernel refuses per-CPU values over 32 KiB
 * (PCPU_MIN_UNIT_SIZE): 3152 + 32 + 28672 = 31856 bytes. (A perf record's size is 16 bits, so
 * 64 KiB would be the next limit.) A larger configured window is clamped to this.
 */
#define TH_USER_SNAPSHOT_MAX_BYTES 28672
#define TH_USER_SNAPSHOT_SIZE(stack_bytes) (TH_USER_SNAPSHOT_HEADER_SIZE + (stack_bytes))
#define TH_TRACE_RECORD_WITH_SNAPSHOT_SIZE(frame_count, stack_bytes) \
    (TH_TRACE_RECORD_SIZE(frame_count) + TH_USER_SNAPSHOT_SIZE(stack_bytes))
/* The largest record the sampler sends. */
#define TH_TRACE_RECORD_MAX_SIZE TH_TRACE_RECORD_WITH_SNAPSHOT_SIZE(TH_MAX_FRAMES, TH_USER_SNAPSHOT_MAX_BYTES)
/* Whether a record of `byte_count` bytes with `frame_count` frames carries a snapshot. */
#define TH_RECORD_HAS_SNAPSHOT(byte_count, frame_count) \
    ((byte_count) >= TH_TRACE_RECORD_SIZE(frame_count) + TH_USER_SNAPSHOT_HEADER_SIZE)

/* Snapshot field offsets, from the snapshot's start (TH_TRACE_RECORD_SIZE(frames) in the record). */
enum {
    TH_OFFSET_SNAPSHOT_IP = __builtin_offsetof(th_user_snapshot, ip),
    TH_OFFSET_SNAPSHOT_SP = __builtin_offsetof(th_user_snapshot, sp),
    TH_OFFSET_SNAPSHOT_BP = __builtin_offsetof(th_user_snapshot, bp),
    TH_OFFSET_SNAPSHOT_STACK_BYTES = __builtin_offsetof(th_user_snapshot, stack_bytes),
    TH_OFFSET_SNAPSHOT_FLAGS = __builtin_offsetof(th_user_snapshot, flags),
};

_Static_assert(sizeof(th_frame) == 24, "th_frame is 24 bytes");
_Static_assert(__builtin_offsetof(th_trace_record, frames) == TH_TRACE_RECORD_HEADER_SIZE,
               "the header is 80 bytes");
_Static_assert(sizeof(th_user_snapshot) == TH_USER_SNAPSHOT_HEADER_SIZE, "the snapshot header is 32 bytes");
_Static_assert(TH_TRACE_RECORD_SIZE(0) % 8 == 0 && sizeof(th_frame) % 8 == 0,
               "a snapshot starts 8-byte aligned after any number of frames");
_Static_assert(TH_TRACE_RECORD_MAX_SIZE <= 32768, "a whole record fits one per-CPU array value (32 KiB)");

#endif /* TH_TRACE_RECORD_H */
