// libbpf's perf-buffer reader, driven one buffer at a time, for RingComparison's `replay`.
#ifndef TH_LIBBPF_REPLAY_H
#define TH_LIBBPF_REPLAY_H

#include <stddef.h>
#include <stdint.h>

/* What the sample and lost callbacks counted in one consume. */
typedef struct th_libbpf_replay_result {
    uint64_t records;  /* samples */
    uint64_t bytes;    /* their raw bytes */
    uint64_t lost;     /* the sum of PERF_RECORD_LOST counts */
    int error;         /* 0, or -errno from perf_buffer__consume_buffer */
} th_libbpf_replay_result;

/*
 * libbpf's reader, one buffer at a time: perf_buffer__new on the perf event array `map_fd`, with
 * the sample callback most tools pass (it sums records and bytes). A caller that makes records
 * land in one CPU's buffer (a BPF program it triggers on that CPU) can have them read by libbpf
 * (th_libbpf_replay_consume) or by another reader of the same mapping, in turn, and count the
 * readers' instructions per record under callgrind: only user space is counted.
 */
typedef struct th_libbpf_replay th_libbpf_replay;

/* NULL with *error = -errno when the buffers cannot be made. */
th_libbpf_replay *th_libbpf_replay_create(int map_fd, size_t pages, int *error);
void th_libbpf_replay_destroy(th_libbpf_replay *replay);

/* Buffer `index`'s mapping: the metadata page (struct perf_event_mmap_page), then *data_size
 * bytes of data at *data_offset. NULL when there is no such buffer. Reading it is allowed; the
 * kernel refuses writes to the data pages, not to data_tail. */
void *th_libbpf_replay_mapping(th_libbpf_replay *replay, size_t index, size_t *data_offset, size_t *data_size);

/* perf_buffer__consume_buffer on buffer `index`. */
th_libbpf_replay_result th_libbpf_replay_consume(th_libbpf_replay *replay, size_t index);

#endif
