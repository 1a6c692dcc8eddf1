#define _GNU_SOURCE
#include <sys/auxv.h>
#include <sys/mman.h>
#include "linux_shims.h"

#include <errno.h>
#include <linux/futex.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int th_futex_wait(uint32_t *word, uint32_t expected, int64_t timeout_ns) {
    struct timespec ts, *tsp = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000;
        ts.tv_nsec = timeout_ns % 1000000000;
        tsp = &ts;
    }
    long r = syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, tsp, NULL, 0);
    return r == 0 ? 0 : -errno;
}

int th_futex_wake(uint32_t *word, int count) {
    long r = syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
    return r >= 0 ? (int)r : -errno;
}

int th_pin_current_thread(const int *cpus, int count) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int i = 0; i < count; i++) {
        if (cpus[i] < 0 || cpus[i] >= CPU_SETSIZE) return -EINVAL;
        CPU_SET(cpus[i], &set);
    }
    return -pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

int th_current_thread_cpus(int *cpus, int capacity) {
    cpu_set_t set;
    if (pthread_getaffinity_np(pthread_self(), sizeof(set), &set) != 0) return 0;
    int n = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && n < capacity; cpu++) {
        if (CPU_ISSET(cpu, &set)) cpus[n++] = cpu;
    }
    return n;
}

void th_set_current_thread_name(const char *name) {
    char shortened[16];
    int i = 0;
    for (; i < 15 && name[i]; i++) shortened[i] = name[i];
    shortened[i] = 0;
    pthread_setname_np(pthread_self(), shortened);
}

int32_t th_gettid(void) { return (int32_t)syscall(SYS_gettid); }

/* ---- kernel path ---- */

#include "kernel_shims.h"
#include <linux/io_uring.h>
#include <linux/membarrier.h>
#include <sys/ioctl.h>

int th_perf_event_open(struct perf_event_attr *attr, int pid, int cpu, int group_fd, unsigned long flags) {
    long fd = syscall(SYS_perf_event_open, attr, pid, cpu, group_fd, flags);
    return fd < 0 ? -errno : (int)fd;
}

int th_perf_event_enable(int fd) { return ioctl(fd, PERF_EVENT_IOC_ENABLE, 0) < 0 ? -errno : 0; }

int th_perf_event_disable(int fd) { return ioctl(fd, PERF_EVENT_IOC_DISABLE, 0) < 0 ? -errno : 0; }

int th_membarrier_global(void) {
    return syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) < 0 ? -errno : 0;
}

int th_io_uring_enable_rings(int ring_fd) {
    return syscall(__NR_io_uring_register, ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0 ? -errno : 0;
}

uintptr_t th_vdso_base(void) { return (uintptr_t)getauxval(AT_SYSINFO_EHDR); }

int th_memfd_create(const char *name) {
    int fd = memfd_create(name, MFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int th_malloc_map_large_blocks(int bytes) { return mallopt(M_MMAP_THRESHOLD, bytes); }

int th_malloc_release_free_pages(void) { return malloc_trim(0); }
