/*
 * Shims for the kernel path: perf_event_open(2) has no libc wrapper (and syscall(2) is variadic),
 * and memory shared with the kernel (perf's data_head/data_tail, the BPF ring buffer's producer
 * and consumer positions) is plain memory that Swift's Atomic cannot be laid over; these static
 * inline loads and stores give it the acquire/release orderings the kernel's side pairs with
 * (smp_load_acquire / smp_store_release, as libbpf does).
 */
#ifndef TH_KERNEL_SHIMS_H
#define TH_KERNEL_SHIMS_H

#include <stdint.h>
#include <linux/perf_event.h>
#include <sys/eventfd.h>

/* perf_event_open(2). Returns the fd or -errno. */
int th_perf_event_open(struct perf_event_attr *attr, int pid, int cpu, int group_fd, unsigned long flags);

/* ioctl(fd, PERF_EVENT_IOC_ENABLE / DISABLE, 0). Returns 0 or -errno. */
int th_perf_event_enable(int fd);
int th_perf_event_disable(int fd);

/* membarrier(MEMBARRIER_CMD_GLOBAL): returns once every CPU has passed an RCU grace period, so
 * every BPF program that was running when it was called has finished. 0 or -errno (EINVAL on
 * nohz_full kernels). */
int th_membarrier_global(void);

/* io_uring_register(ring_fd, IORING_REGISTER_ENABLE_RINGS): enables a ring made with
 * IORING_SETUP_R_DISABLED, making the calling thread its single issuer (liburing 2.3 declares
 * io_uring_enable_rings but does not export it). Returns 0 or -errno. */
int th_io_uring_enable_rings(int ring_fd);

static inline uint64_t th_load_acquire_u64(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void th_store_release_u64(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline uint32_t th_load_acquire_u32(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
/* A full barrier (the ring buffer consumer's smp_mb between publishing its position and
 * re-checking the producer's). */
static inline void th_full_fence(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

/* Offsets of the fields of struct perf_event_mmap_page the reader uses. */
enum {
    TH_PERF_MMAP_DATA_HEAD = __builtin_offsetof(struct perf_event_mmap_page, data_head),
    TH_PERF_MMAP_DATA_TAIL = __builtin_offsetof(struct perf_event_mmap_page, data_tail),
};

#endif
