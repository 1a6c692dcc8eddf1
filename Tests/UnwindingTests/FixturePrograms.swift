import Foundation

/// C programs compiled by the tests with gcc -O2 -fomit-frame-pointer.
enum FixturePrograms {
    /// A known chain main → uw_a → uw_b → uw_c. `uw_b` has a variable-length array, so gcc gives it
    /// an RBP-based CFA even without frame pointers. `uw_c` captures its own registers and up to
    /// 16 KiB (clamped to the stack mapping's end) of stack from RSP up, the way the sampler
    /// would, into the file named by argv[1] — or, given a second argument, raises SIGUSR1 and
    /// the handler `uw_on_signal` captures instead, so the walk must cross glibc's signal
    /// trampoline. It prints the registers and the load bases of the executable and libc.
    static let capture = #"""
        #define _GNU_SOURCE
        #include <dlfcn.h>
        #include <signal.h>
        #include <stdint.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>

        static unsigned char snapshot[16384];
        static volatile int sink;
        static const char *output;
        static int use_signal;
        static uint64_t stack_top;

        static uint64_t stack_end(void) {
            FILE *maps = fopen("/proc/self/maps", "r");
            char line[512];
            uint64_t start = 0, end = 0;
            while (maps && fgets(line, sizeof line, maps))
                if (strstr(line, "[stack]")) sscanf(line, "%lx-%lx", &start, &end);
            if (maps) fclose(maps);
            return end;
        }

        static void save(uint64_t ip, uint64_t sp, uint64_t bp, size_t length) {
            FILE *file = fopen(output, "wb");
            fwrite(snapshot, 1, length, file);
            fclose(file);
            Dl_info self, libc;
            dladdr((void *)save, &self);
            dladdr((void *)fopen, &libc);
            printf("%lx %lx %lx %lx %lx %s\n", ip, sp, bp, (unsigned long)self.dli_fbase, (unsigned long)libc.dli_fbase, libc.dli_fname);
        }

        /* Registers first, then the copy at once: nothing below this frame's SP is read. */
        #define CAPTURE() do { \
            uint64_t ip, sp, bp; \
            __asm__ volatile("lea 1f(%%rip), %0\n1:\n\tmov %%rsp, %1\n\tmov %%rbp, %2" : "=r"(ip), "=r"(sp), "=r"(bp) :: "memory"); \
            size_t length = stack_top - sp < sizeof snapshot ? stack_top - sp : sizeof snapshot; \
            memcpy(snapshot, (void *)sp, length); \
            save(ip, sp, bp, length); \
        } while (0)

        __attribute__((noinline)) void uw_on_signal(int signal) { CAPTURE(); sink += signal; }

        __attribute__((noinline)) int uw_c(int n) {
            stack_top = stack_end();
            if (use_signal) raise(SIGUSR1); else CAPTURE();
            return n + sink;
        }

        __attribute__((noinline)) int uw_b(int n) {
            volatile char buffer[n];
            buffer[0] = (char)n;
            return uw_c(n + buffer[0]) + 2;
        }

        __attribute__((noinline)) int uw_a(int n) { return uw_b(n * 2) * 3 + sink; }

        int main(int argc, char **argv) {
            output = argv[1];
            use_signal = argc > 2;
            signal(SIGUSR1, uw_on_signal);
            /* The test runner's threads may have SIGUSR1 blocked, and a child inherits the mask. */
            sigset_t set;
            sigemptyset(&set);
            sigaddset(&set, SIGUSR1);
            sigprocmask(SIG_UNBLOCK, &set, NULL);
            return uw_a(argc + 40) == 7 ? 1 : 0;
        }
        """#

    static let captureFlags = ["-O2", "-fomit-frame-pointer", "-fno-optimize-sibling-calls"]

    /// A binary whose functions' CFI comes only from `.debug_frame` (no unwind tables for them).
    static let debugFrameFlags = ["-O2", "-g", "-fomit-frame-pointer", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables"]
}
