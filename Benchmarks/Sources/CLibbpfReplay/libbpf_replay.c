#include "libbpf_replay.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

struct th_libbpf_replay {
    struct perf_buffer *pb;
    th_libbpf_replay_result result;
};

static void on_sample(void *ctx, int cpu, void *data, __u32 size) {
    th_libbpf_replay_result *r = ctx;
    (void)cpu;
    (void)data;
    r->records += 1;
    r->bytes += size;
}

static void on_lost(void *ctx, int cpu, __u64 count) {
    th_libbpf_replay_result *r = ctx;
    (void)cpu;
    r->lost += count;
}

th_libbpf_replay *th_libbpf_replay_create(int map_fd, size_t pages, int *error) {
    th_libbpf_replay *replay = calloc(1, sizeof(*replay));
    if (!replay) {
        *error = -ENOMEM;
        return NULL;
    }
    replay->pb = perf_buffer__new(map_fd, pages, on_sample, on_lost, &replay->result, NULL);
    long err = libbpf_get_error(replay->pb);
    if (err) {
        *error = (int)err;
        free(replay);
        return NULL;
    }
    *error = 0;
    return replay;
}

void th_libbpf_replay_destroy(th_libbpf_replay *replay) {
    if (!replay) return;
    perf_buffer__free(replay->pb);
    free(replay);
}

void *th_libbpf_replay_mapping(th_libbpf_replay *replay, size_t index, size_t *data_offset, size_t *data_size) {
    void *base = NULL;
    if (index >= perf_buffer__buffer_cnt(replay->pb) || perf_buffer__buffer(replay->pb, (int)index, &base, data_size) != 0) return NULL;
    *data_offset = (size_t)sysconf(_SC_PAGESIZE);
    return base;
}

th_libbpf_replay_result th_libbpf_replay_consume(th_libbpf_replay *replay, size_t index) {
    replay->result = (th_libbpf_replay_result){0};
    int err = perf_buffer__consume_buffer(replay->pb, index);
    if (err < 0) replay->result.error = err;
    return replay->result;
}
