#include "libbpf_fold_consumer.h"

#include "bpf_output_attr.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "trace_record.h"

/* Kernel text symbols, sorted by address; names live in one arena. */
typedef struct kernel_symbol {
    uint64_t address;
    uint32_t name; /* offset into the arena */
} kernel_symbol;

typedef struct kernel_symbols {
    kernel_symbol *symbols;
    size_t count;
    char *names;
} kernel_symbols;

/* One folded stack and its count. */
typedef struct fold_entry {
    uint64_t hash;
    char *key; /* NUL-terminated; NULL: an empty slot */
    uint64_t count;
} fold_entry;

typedef struct fold_table {
    fold_entry *entries;
    size_t capacity; /* a power of two */
    size_t used;
} fold_table;

struct th_fold_consumer {
    struct perf_buffer *buffers;
    kernel_symbols kernel;
    fold_table table;
    th_fold_consumer_result result;
    char line[TH_MAX_FRAMES * 80 + TH_COMM_LEN];
};

static int by_address(const void *a, const void *b) {
    uint64_t x = ((const kernel_symbol *)a)->address, y = ((const kernel_symbol *)b)->address;
    return x < y ? -1 : x > y;
}

static int read_kallsyms(kernel_symbols *k) {
    FILE *file = fopen("/proc/kallsyms", "r");
    if (!file) return -errno;
    size_t capacity = 1 << 16, arena_capacity = 1 << 22, arena_used = 0;
    k->symbols = malloc(capacity * sizeof(*k->symbols));
    k->names = malloc(arena_capacity);
    char text[512];
    while (k->symbols && k->names && fgets(text, sizeof(text), file)) {
        char *end;
        uint64_t address = strtoull(text, &end, 16);
        if (end[0] != ' ' || (end[1] != 't' && end[1] != 'T') || end[2] != ' ') continue;
        char *name = end + 3;
        size_t length = strcspn(name, " \t\n");
        if (k->count == capacity) {
            kernel_symbol *grown = realloc(k->symbols, 2 * capacity * sizeof(*k->symbols));
            if (!grown) break;
            k->symbols = grown;
            capacity *= 2;
        }
        if (arena_used + length + 1 > arena_capacity) {
            char *grown = realloc(k->names, 2 * arena_capacity);
            if (!grown) break;
            k->names = grown;
            arena_capacity *= 2;
        }
        memcpy(k->names + arena_used, name, length);
        k->names[arena_used + length] = 0;
        k->symbols[k->count++] = (kernel_symbol){address, (uint32_t)arena_used};
        arena_used += length + 1;
    }
    int failed = !feof(file);  /* stopped early: out of memory (or a read error) */
    fclose(file);
    if (!k->symbols || !k->names || failed) return -ENOMEM;
    qsort(k->symbols, k->count, sizeof(*k->symbols), by_address);
    return 0;
}

/* The name of the symbol containing `address`, or NULL below the first. */
static const char *kernel_name(const kernel_symbols *k, uint64_t address) {
    size_t low = 0, high = k->count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (k->symbols[middle].address <= address) low = middle + 1;
        else high = middle;
    }
    return low ? k->names + k->symbols[low - 1].name : NULL;
}

static uint64_t fnv1a(const char *text, size_t length) {
    uint64_t hash = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < length; i++) hash = (hash ^ (uint8_t)text[i]) * 0x100000001b3ULL;
    return hash;
}

static int grow(fold_table *t) {
    size_t capacity = t->capacity ? t->capacity * 2 : 1024;
    fold_entry *entries = calloc(capacity, sizeof(*entries));
    if (!entries) return -ENOMEM;
    for (size_t i = 0; i < t->capacity; i++) {
        if (!t->entries[i].key) continue;
        size_t slot = t->entries[i].hash & (capacity - 1);
        while (entries[slot].key) slot = (slot + 1) & (capacity - 1);
        entries[slot] = t->entries[i];
    }
    free(t->entries);
    t->entries = entries;
    t->capacity = capacity;
    return 0;
}

static int count_stack(fold_table *t, const char *key, size_t length) {
    if ((t->used + 1) * 10 > t->capacity * 7 && grow(t)) return -ENOMEM;
    uint64_t hash = fnv1a(key, length);
    size_t slot = hash & (t->capacity - 1);
    for (;; slot = (slot + 1) & (t->capacity - 1)) {
        fold_entry *e = &t->entries[slot];
        if (!e->key) {
            e->key = strndup(key, length);
            if (!e->key) return -ENOMEM;
            e->hash = hash;
            e->count = 1;
            t->used++;
            return 0;
        }
        if (e->hash == hash && strcmp(e->key, key) == 0) {
            e->count++;
            return 0;
        }
    }
}

/* Appends to the line at *out, truncating at `end` (a kernel name can be 512 bytes long). */
static void append(char **out, char *end, const char *format, ...) {
    va_list arguments;
    va_start(arguments, format);
    int n = vsnprintf(*out, (size_t)(end - *out), format, arguments);
    va_end(arguments);
    if (n > 0) *out += n < end - *out ? n : end - *out - 1;
}

/* Folds one raw trace record: comm, then user frames as addresses, then kernel frames by name,
 * outermost first, separated by ';'. */
static void fold(th_fold_consumer *c, const uint8_t *raw, uint32_t size) {
    th_trace_record header;
    if (size < TH_TRACE_RECORD_HEADER_SIZE) {
        c->result.malformed++;
        return;
    }
    memcpy(&header, raw, TH_TRACE_RECORD_HEADER_SIZE);
    uint32_t kernel = header.kernel_frame_count, user = header.user_frame_count;
    if (kernel + user > TH_MAX_FRAMES || TH_TRACE_RECORD_SIZE(kernel + user) > size) {
        c->result.malformed++;
        return;
    }
    /* A perf buffer's raw sample starts 4 bytes past an 8-byte boundary: frames are read with memcpy. */
    const uint8_t *frames = raw + TH_TRACE_RECORD_HEADER_SIZE;
    const size_t address_offset = __builtin_offsetof(th_frame, address_or_line);
    char *out = c->line, *end = c->line + sizeof(c->line);
    append(&out, end, "%.*s", TH_COMM_LEN, header.comm);
    for (uint32_t i = kernel + user; i-- > kernel;) {
        uint64_t address;
        memcpy(&address, frames + i * sizeof(th_frame) + address_offset, sizeof(address));
        append(&out, end, ";0x%llx", (unsigned long long)address);
    }
    for (uint32_t i = kernel; i-- > 0;) {
        uint64_t address;
        memcpy(&address, frames + i * sizeof(th_frame) + address_offset, sizeof(address));
        const char *name = kernel_name(&c->kernel, address);
        if (name) append(&out, end, ";%s_[k]", name);
        else append(&out, end, ";0x%llx_[k]", (unsigned long long)address);
    }
    if (count_stack(&c->table, c->line, (size_t)(out - c->line)) && !c->result.error) c->result.error = -ENOMEM;
}

static int on_event(void *ctx, int cpu, struct perf_event_header *event) {
    th_fold_consumer *c = ctx;
    (void)cpu;
    const uint8_t *body = (const uint8_t *)event + sizeof(*event);
    if (event->type == PERF_RECORD_SAMPLE) {
        uint32_t size;
        if (event->size < sizeof(*event) + sizeof(size)) {
            c->result.records++;
            c->result.malformed++;
            return LIBBPF_PERF_EVENT_CONT;
        }
        memcpy(&size, body, sizeof(size));
        c->result.records++;
        if (sizeof(*event) + sizeof(size) + (size_t)size > event->size) c->result.malformed++;
        else fold(c, body + sizeof(size), size);
    } else if (event->type == PERF_RECORD_LOST) {
        uint64_t lost;
        memcpy(&lost, body + sizeof(uint64_t), sizeof(lost));
        c->result.lost += lost;
    }
    return LIBBPF_PERF_EVENT_CONT;
}

static uint64_t now_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void th_fold_consumer_close(th_fold_consumer *c) {
    if (!c) return;
    perf_buffer__free(c->buffers);
    for (size_t i = 0; i < c->table.capacity; i++) free(c->table.entries[i].key);
    free(c->table.entries);
    free(c->kernel.symbols);
    free(c->kernel.names);
    free(c);
}

int th_fold_consumer_open(int map_fd, size_t pages_per_cpu, uint32_t watermark_bytes, th_fold_consumer **consumer) {
    th_fold_consumer *c = calloc(1, sizeof(*c));
    if (!c) return -ENOMEM;
    int err = read_kallsyms(&c->kernel);
    if (!err) err = grow(&c->table);
    if (err) {
        th_fold_consumer_close(c);
        return err;
    }
    c->result.kernel_symbols = c->kernel.count;
    struct perf_event_attr attr = th_bpf_output_attr(watermark_bytes);
    struct perf_buffer *buffers = perf_buffer__new_raw(map_fd, pages_per_cpu, &attr, on_event, c, NULL);
    long buffers_err = libbpf_get_error(buffers);
    if (buffers_err) {
        th_fold_consumer_close(c);
        return (int)buffers_err;
    }
    c->buffers = buffers;
    *consumer = c;
    return 0;
}

th_fold_consumer_result th_fold_consumer_run(th_fold_consumer *c, uint64_t window_start_ns, uint64_t window_end_ns,
                                             const volatile int *stop) {
    int started = 0;
    uint64_t start_records = 0, start_cpu = 0;
    while (!*stop) {
        int n = perf_buffer__poll(c->buffers, 100);
        if (n < 0 && n != -EINTR) {
            c->result.error = n;
            break;
        }
        uint64_t now = now_ns(CLOCK_MONOTONIC);
        if (!started && now >= window_start_ns) {
            started = 1;
            start_records = c->result.records;
            start_cpu = now_ns(CLOCK_THREAD_CPUTIME_ID);
        } else if (started && !c->result.window_complete && now >= window_end_ns) {
            c->result.window_complete = 1;
            c->result.window_records = c->result.records - start_records;
            c->result.window_cpu_seconds = (double)(now_ns(CLOCK_THREAD_CPUTIME_ID) - start_cpu) * 1e-9;
        }
    }
    perf_buffer__consume(c->buffers);
    c->result.stacks = c->table.used;
    return c->result;
}
