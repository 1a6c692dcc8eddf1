#include "libbpf_baseline.h"

#include "bpf_output_attr.h"

#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <string.h>
#include <time.h>

static int on_event(void *ctx, int cpu, struct perf_event_header *event) {
    th_libbpf_consumer_result *r = ctx;
    (void)cpu;
    if (event->type == PERF_RECORD_SAMPLE) {
        uint32_t size;
        memcpy(&size, (const char *)event + sizeof(*event), sizeof(size));
        r->records += 1;
        r->bytes += size;
    } else if (event->type == PERF_RECORD_LOST) {
        uint64_t lost;
        memcpy(&lost, (const char *)event + sizeof(*event) + sizeof(uint64_t), sizeof(lost));
        r->lost += lost;
    }
    return LIBBPF_PERF_EVENT_CONT;
}

static double thread_cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

th_libbpf_consumer_result th_libbpf_consume(int map_fd, size_t pages_per_cpu, uint32_t watermark_bytes,
                                            const volatile int *stop) {
    th_libbpf_consumer_result r = {0};
    struct perf_event_attr attr = th_bpf_output_attr(watermark_bytes);
    double start = thread_cpu_seconds();
    struct perf_buffer *pb = perf_buffer__new_raw(map_fd, pages_per_cpu, &attr, on_event, &r, NULL);
    long err = libbpf_get_error(pb);
    if (err) {
        r.error = (int)err;
        return r;
    }
    while (!*stop) {
        int n = perf_buffer__poll(pb, 100);
        if (n < 0 && n != -4 /* EINTR */) {
            r.error = n;
            break;
        }
    }
    perf_buffer__consume(pb);
    r.cpu_seconds = thread_cpu_seconds() - start;
    perf_buffer__free(pb);
    return r;
}
