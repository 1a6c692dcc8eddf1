/* The perf attributes both libbpf consumers give their buffers: BPF output events, raw samples,
 * woken every `watermark_bytes` (0: every record), as the agent's own reader sets them. */
#ifndef TH_BPF_OUTPUT_ATTR_H
#define TH_BPF_OUTPUT_ATTR_H

#include <linux/perf_event.h>
#include <stdint.h>

static inline struct perf_event_attr th_bpf_output_attr(uint32_t watermark_bytes) {
    struct perf_event_attr attr = {0};
    attr.size = sizeof(attr);
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_BPF_OUTPUT;
    attr.sample_type = PERF_SAMPLE_RAW;
    attr.sample_period = 1;
    if (watermark_bytes) {
        attr.watermark = 1;
        attr.wakeup_watermark = watermark_bytes;
    } else {
        attr.wakeup_events = 1;
    }
    return attr;
}

#endif
