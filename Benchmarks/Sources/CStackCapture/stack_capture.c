#define _GNU_SOURCE
#include "stack_capture.h"

#include <pthread.h>
#include <string.h>

// Not inlined into the recursion: its locals would make every level's frame 128 bytes.
__attribute__((noinline)) static size_t capture_here(uint64_t regs[3], void *stack, size_t capacity) {
    uint64_t ip, sp, bp;
    __asm__ volatile("lea 0(%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2" : "=r"(ip), "=r"(sp), "=r"(bp));
    regs[0] = ip;
    regs[1] = sp;
    regs[2] = bp;
    // Clamp to the thread's stack: past its top lies nothing we may read.
    pthread_attr_t attributes;
    void *low = 0;
    size_t size = 0;
    size_t bytes = capacity;
    if (pthread_getattr_np(pthread_self(), &attributes) == 0) {
        pthread_attr_getstack(&attributes, &low, &size);
        pthread_attr_destroy(&attributes);
        uint64_t top = (uint64_t)low + size;
        if (sp + bytes > top) bytes = top > sp ? top - sp : 0;
    }
    memcpy(stack, (const void *)sp, bytes);
    return bytes;
}

__attribute__((noinline)) size_t th_capture_stack(int depth, uint64_t regs[3], void *stack, size_t capacity) {
    size_t bytes = depth > 0 ? th_capture_stack(depth - 1, regs, stack, capacity) : capture_here(regs, stack, capacity);
    __asm__ volatile("" ::: "memory");  // not a tail call: each level keeps its frame
    return bytes;
}

struct capture_request {
    int depth;
    uint64_t *regs;
    void *stack;
    size_t capacity;
    size_t copied;
};

static void *capture_on_thread(void *argument) {
    struct capture_request *request = argument;
    request->copied = th_capture_stack(request->depth, request->regs, request->stack, request->capacity);
    return NULL;
}

size_t th_capture_stack_on_new_thread(int depth, uint64_t regs[3], void *stack, size_t capacity) {
    struct capture_request request = {depth, regs, stack, capacity, 0};
    pthread_t thread;
    if (pthread_create(&thread, NULL, capture_on_thread, &request) != 0) return 0;
    pthread_join(thread, NULL);
    return request.copied;
}
