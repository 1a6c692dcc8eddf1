/*
 * What Swift cannot call directly: variadic syscall(2) (futex has no libc wrapper) and the
 * CPU_SET macros behind pthread_setaffinity_np (a _GNU_SOURCE extension). Each function is a thin
 * wrapper; errors come back as -errno so the Swift side reads errno nowhere.
 */
#ifndef TH_LINUX_SHIMS_H
#define TH_LINUX_SHIMS_H

#include <stddef.h>
#include <stdint.h>

/* FUTEX_WAIT_PRIVATE on `word` while it equals `expected`, for at most `timeout_ns` (< 0: forever).
 * Returns 0 when woken, -EAGAIN when the word differed, -ETIMEDOUT, -EINTR. */
int th_futex_wait(uint32_t *word, uint32_t expected, int64_t timeout_ns);

/* FUTEX_WAKE_PRIVATE: wakes up to `count` waiters. Returns the number woken or -errno. */
int th_futex_wake(uint32_t *word, int count);

/* Pins the calling thread to the `count` CPUs in `cpus`. Returns 0 or -errno (-EINVAL for a CPU
 * that does not exist or is offline). */
int th_pin_current_thread(const int *cpus, int count);

/* The CPUs the calling thread may run on, written to `cpus` (up to `capacity`); returns how many. */
int th_current_thread_cpus(int *cpus, int capacity);

/* Names the calling thread (at most 15 bytes are kept), as top -H and perf show it. */
void th_set_current_thread_name(const char *name);

/* The kernel's id of the calling thread. */
int32_t th_gettid(void);

/* Where the kernel mapped this process's vDSO (getauxval(AT_SYSINFO_EHDR)); 0 when it did not. */
uintptr_t th_vdso_base(void);

/* An anonymous file in memory, closed on exec (memfd_create, a _GNU_SOURCE extension). Returns
 * the descriptor or -errno. */
int th_memfd_create(const char *name);

/* glibc's allocator (malloc.h is no part of Swift's Glibc module): fixes the mmap threshold at
 * `bytes`, which also stops glibc from raising it (mallopt M_MMAP_THRESHOLD); returns 1 when set. */
int th_malloc_map_large_blocks(int bytes);

/* Returns the free pages of every malloc arena to the kernel (malloc_trim(0)); 1 when any was. */
int th_malloc_release_free_pages(void);

/* Asks the CPU to start loading `bytes` from `p` into its caches (a hint; never faults): a stage
 * calls it for the next items of a batch while it works on the current one. Swift has no prefetch. */
static inline void th_prefetch_read(const void *p, size_t bytes) {
    for (size_t offset = 0; offset < bytes; offset += 64) __builtin_prefetch((const char *)p + offset, 0, 3);
}

#endif
