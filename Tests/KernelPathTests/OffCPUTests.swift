import Foundation
import KernelPath
import Symbolization
import Testing
import TraceEngine
import TraceModel
import TraceReporters

/// The off-CPU sampler on this kernel (sched:sched_switch): children that block in known places
/// for known times are seen waiting there, for that long.
@Suite(.serialized, .enabled(if: KernelSupport.missingCapability() == nil, "\(KernelSupport.missingCapability() ?? "")"))
struct OffCPUTests {
    /// Waits for a byte on its standard input (a block begun before the sampler attached, so not
    /// tracked), then sleeps `argv[1]` times 100 ms in `nap`, which makes the system call itself:
    /// glibc's wrappers have no frame pointers, and a frame-pointer walk from inside one skips its
    /// caller.
    static let sleeper = """
        #include <stdlib.h>
        #include <time.h>
        #include <unistd.h>
        __attribute__((noinline)) void nap(long ns) {
            struct timespec t = {ns / 1000000000, ns % 1000000000};
            long ret;
            __asm__ volatile("syscall" : "=a"(ret) : "a"(35), "D"(&t), "S"(0) : "rcx", "r11", "memory");  // nanosleep
        }
        int main(int argc, char **argv) {
            char go;
            if (read(0, &go, 1) != 1) return 1;
            for (int i = 0; i < atoi(argv[1]); i++) nap(100000000);
            return 0;
        }
        """

    /// Two threads and one mutex: `holder` keeps it 20 ms at a time (sleeping in `nap`), `waiter`
    /// waits for it in `wait_for_lock`, `argv[1]` rounds each.
    static let contention = """
        #include <pthread.h>
        #include <stdlib.h>
        #include <time.h>
        #include <unistd.h>
        static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
        static int rounds;
        __attribute__((noinline)) void nap(long ns) {
            struct timespec t = {0, ns};
            long ret;
            __asm__ volatile("syscall" : "=a"(ret) : "a"(35), "D"(&t), "S"(0) : "rcx", "r11", "memory");
        }
        __attribute__((noinline)) void lock_it(void) { pthread_mutex_lock(&lock); }
        __attribute__((noinline)) void wait_for_lock(void) { lock_it(); pthread_mutex_unlock(&lock); }
        void *holder(void *arg) {
            for (int i = 0; i < rounds; i++) { pthread_mutex_lock(&lock); nap(20000000); pthread_mutex_unlock(&lock); nap(1000000); }
            return 0;
        }
        void *waiter(void *arg) {
            for (int i = 0; i < rounds; i++) { nap(2000000); wait_for_lock(); }
            return 0;
        }
        int main(int argc, char **argv) {
            char go;
            if (read(0, &go, 1) != 1) return 1;
            rounds = atoi(argv[1]);
            pthread_t a, b;
            pthread_create(&a, 0, holder, 0);
            pthread_create(&b, 0, waiter, 0);
            pthread_join(a, 0);
            pthread_join(b, 0);
            return 0;
        }
        """

    /// Off-CPU time of a child that sleeps 30 × 100 ms: ≈ all of it under `main;nap`, in the
    /// nanosleep path of the kernel, summing to 3 s within 5 %, every record conserved.
    @Test func aSleeperWaitsWhereItSleeps() async throws {
        let child = try BusyChild.start(source: Self.sleeper, named: "th-sleeper", arguments: ["30"], withInput: true)
        defer { child.terminate() }
        let (reporter, counters, statistics) = try await profileOffCPU(child)

        let lines = reporter.foldedStacks(origin: .offCPU).filter { $0.stack.hasPrefix("th-sleeper;") }
        let total = lines.reduce(0) { $0 + $1.count }
        let napping = lines.filter { $0.stack.contains(";main;nap;") && $0.stack.contains("nanosleep") }.reduce(0) { $0 + $1.count }
        #expect(napping * 100 >= total * 95, "\(napping) of \(total) µs in nap: \(lines.prefix(3))")
        #expect(abs(Double(napping) - 3_000_000) <= 0.05 * 3_000_000, "\(napping) µs asleep in nap, 3 s slept; \(counters)")
        #expect(reporter.foldedStacks(origin: .sampling).isEmpty, "no CPU samples were taken")
        #expect(counters.offCPUResumed == counters.records + counters.outputErrors + counters.offCPUShort, "\(counters)")
        #expect(statistics.isConserved && statistics.reported == counters.records, "\(statistics)")
    }

    /// The thread that waits for a held mutex is seen waiting in the futex path of the kernel under
    /// `waiter` (glibc's lock has no frame pointer: the walk from inside it skips the frame it
    /// was called from, `wait_for_lock`), about as long as the holder held the lock while it
    /// waited; blocks shorter than `offcpu.min-duration-us` are counted, not sent.
    @Test func aContendedLockShowsTheWaitingStack() async throws {
        let child = try BusyChild.start(source: Self.contention, named: "th-contention", arguments: ["40"], withInput: true)
        defer { child.terminate() }
        var configuration = OffCPUConfiguration()
        configuration.minimumDuration = .milliseconds(5)  // the 1-ms and 2-ms naps between rounds fall below
        let (reporter, counters, statistics) = try await profileOffCPU(child, configuration)

        let lines = reporter.foldedStacks(origin: .offCPU).filter { $0.stack.hasPrefix("th-contention;") }
        let waiting = lines.filter { $0.stack.contains(";waiter;") && $0.stack.contains("futex_wait") }.reduce(0) { $0 + $1.count }
        let holding = lines.filter { $0.stack.contains(";holder;nap;") }.reduce(0) { $0 + $1.count }
        // 40 rounds of a 20-ms hold: the waiter, arriving 2 ms into each, waits about 18 of them.
        #expect(waiting >= 40 * 12_000, "\(waiting) µs waiting for the lock: \(lines.prefix(4))")
        #expect(holding >= 40 * 19_000, "\(holding) µs holding it asleep: \(lines.prefix(4))")
        // 80 naps of 1 or 2 ms: even on a loaded machine, most wake within 5 ms.
        #expect(counters.offCPUShort >= 40, "the naps between rounds are short: \(counters)")
        #expect(statistics.isConserved && statistics.reported == counters.records, "\(statistics)")
    }

    /// Loads the off-CPU program for `child`, starts it (a byte on its input), waits for it to
    /// exit, and drains what was sent into an engine with the real symbolizer.
    private func profileOffCPU(
        _ child: BusyChild, _ configuration: OffCPUConfiguration = OffCPUConfiguration()
    ) async throws -> (FoldedStacksReporter, ProgramCounters, EngineStatistics) {
        var output = KernelOutputConfiguration()
        output.wakeupWatermarkBytes = 0
        output.pollInterval = .milliseconds(20)
        let sampler = try Sampler(frequency: nil, offCPU: configuration, pid: child.processIdentifier, output: output)
        defer { sampler.close() }
        let reporter = FoldedStacksReporter()
        let engine = try StagedEngine(configuration: EngineConfiguration(), processor: try NativeSymbolizer(), reporter: reporter)
        try engine.start()
        let poll = try KernelPollStage(buffers: sampler.buffers, configuration: output)
        try engine.runSource(name: "th-poll") { source, isStopRequested in poll.run(into: source, isStopRequested: isStopRequested) }
        try child.input?.fileHandleForWriting.write(contentsOf: Data([1]))
        while child.process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        sampler.close()
        poll.wake()
        await engine.stop()
        #expect(child.process.terminationStatus == 0)
        return (reporter, sampler.counters(), engine.statistics())
    }
}
