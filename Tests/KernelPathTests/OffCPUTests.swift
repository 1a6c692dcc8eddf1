import Foundation
import KernelPath
import Symbolization
import Testing
import TraceEngine
import TraceModel
import TraceReporters

/// The off-CPU sampler on this kernel (the sched_switch raw tracepoint): children that block in known places
/// for known times are seen waiting there, for that long.
@Suite(.serialized, .enabled(if: KernelSupport.missingCapability() == nil, "\(KernelSupport.missingCapability() ?? "")"))
struct OffCPUTests {
    /// A C program of scripts/fixtures, read from this checkout.
    static func fixture(_ name: String) throws -> String {
        let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        return try String(contentsOf: tests.deletingLastPathComponent().appendingPathComponent("scripts/fixtures/\(name)"), encoding: .utf8)
    }

    /// Off-CPU time of a child that sleeps 30 × 100 ms: ≈ all of it under `main;nap`, in the
    /// nanosleep path of the kernel, summing within 5 % to the time its naps took by its own clock
    /// (3 s and its wake-ups' delays), every record conserved.
    @Test func aSleeperWaitsWhereItSleeps() async throws {
        let child = try BusyChild.start(source: try Self.fixture("sleeper.c"), named: "th-sleeper", arguments: ["30"], withInput: true)
        defer { child.terminate() }
        let (reporter, counters, statistics, output) = try await profileOffCPU(child)

        let lines = reporter.foldedStacks(origin: .offCPU).filter { $0.stack.hasPrefix("th-sleeper;") }
        let total = lines.reduce(0) { $0 + $1.count }
        let napping = lines.filter { $0.stack.contains(";main;nap;") && $0.stack.contains("nanosleep") }.reduce(0) { $0 + $1.count }
        #expect(napping * 100 >= total * 95, "\(napping) of \(total) µs in nap: \(lines.prefix(3))")
        // The kernel stack starts where the scheduler switched, as a classic tracepoint's does: the
        // raw tracepoint's own frames (the program, bpf_trace_run4) are skipped. (With another
        // program on the tracepoint at once, such as a concurrent test's, the kernel calls the
        // programs through `__traceiter_sched_switch`, which then starts it, as it does a classic
        // tracepoint's.)
        for line in lines {
            let frames = line.stack.split(separator: ";")
            let leaf = frames.last == "__traceiter_sched_switch_[k]" ? frames.dropLast().last : frames.last
            #expect(leaf == "__schedule_[k]", "\(line.stack)")
        }
        let slept = try #require(output.split(separator: " ").dropFirst().first.flatMap { Double($0) }, "\(output)") / 1000
        #expect(slept >= 3_000_000, "\(output)")
        #expect(abs(Double(napping) - slept) <= 0.05 * slept, "\(napping) µs asleep in nap, \(slept) µs by the child's clock; \(counters)")
        #expect(reporter.foldedStacks(origin: .sampling).isEmpty, "no CPU samples were taken")
        #expect(counters.offCPUResumed == counters.offCPUSent + counters.offCPURefused + counters.offCPUShort + counters.offCPUTorn, "\(counters)")
        #expect(counters.offCPUSent == counters.records && counters.offCPUBlocked != nil && counters.offCPUDropped != nil, "\(counters)")
        #expect(statistics.isConserved && statistics.reported == counters.records, "\(statistics)")
    }

    /// scripts/fixtures/lock-contention.c: the thread that waits for a held mutex is seen waiting in
    /// the futex path of the kernel under `waiter` (glibc's lock has no frame pointer: the walk from
    /// inside it skips the frame it was called from, `wait_for_lock`), about as long as the holder
    /// held the lock while it waited; blocks shorter than `offcpu.min-duration-us` are counted, not
    /// sent.
    @Test func aContendedLockShowsTheWaitingStack() async throws {
        let child = try BusyChild.start(source: try Self.fixture("lock-contention.c"), named: "th-contention", arguments: ["40"], withInput: true)
        defer { child.terminate() }
        var configuration = OffCPUConfiguration()
        configuration.minimumDuration = .milliseconds(5)  // the 1-ms and 2-ms naps between rounds fall below
        let (reporter, counters, statistics, _) = try await profileOffCPU(child, configuration)

        let lines = reporter.foldedStacks(origin: .offCPU).filter { $0.stack.hasPrefix("th-contention;") }
        let waiting = lines.filter { $0.stack.contains(";waiter;") && $0.stack.contains("futex_wait") }.reduce(0) { $0 + $1.count }
        let holding = lines.filter { $0.stack.contains(";holder;nap;") }.reduce(0) { $0 + $1.count }
        // 40 rounds of a 20-ms hold: the waiter, arriving 2 ms into each, waits about 18 of them
        // (on a loaded machine under a sanitizer its naps stretch and it arrives later: 10.5).
        #expect(waiting >= 40 * 5_000, "\(waiting) µs waiting for the lock: \(lines.prefix(4))")
        #expect(holding >= 40 * 19_000, "\(holding) µs holding it asleep: \(lines.prefix(4))")
        // 80 naps of 1 or 2 ms: even on a loaded machine, most wake within 5 ms.
        #expect(counters.offCPUShort >= 40, "the naps between rounds are short: \(counters)")
        #expect(statistics.isConserved && statistics.reported == counters.records, "\(statistics)")
    }

    /// `offcpu.probability = 0.5` and `offcpu.switches = all`: about half the switches are taken,
    /// the rest counted, and every switch is one or the other.
    @Test func sampledSwitchesAreCountedBothWays() async throws {
        let child = try BusyChild.start(source: try Self.fixture("sleeper.c"), named: "th-sleeper", arguments: ["40"], withInput: true)
        defer { child.terminate() }
        var configuration = OffCPUConfiguration()
        configuration.probability = 0.5
        configuration.switches = .all
        let (reporter, counters, statistics, _) = try await profileOffCPU(child, configuration)
        #expect(counters.offCPUSwitches >= 40, "\(counters)")
        #expect(counters.offCPUSwitches == counters.offCPUUnsampled + counters.offCPUTracked + counters.offCPUTrackErrors, "\(counters)")
        // 40 or more switches at even odds: fewer than 5 either way has odds below 1 in 10^6.
        #expect(counters.offCPUUnsampled >= 5 && counters.offCPUTracked >= 5, "\(counters)")
        #expect(reporter.offCPUTime > 0 && statistics.isConserved, "\(statistics)")
    }

    /// With snapshots (`unwind.mode = dwarf`): each block's user stack is copied at the exit of the
    /// system call it blocked in, and unwound with CFI through glibc's lock, so the waiting stack is
    /// whole: `waiter;wait_for_lock;…;__lll_lock_wait` (the frame-pointer walk loses
    /// `wait_for_lock`).
    @Test func withSnapshotsTheWaitingStackIsWhole() async throws {
        let child = try BusyChild.start(source: try Self.fixture("lock-contention.c"), named: "th-contention", arguments: ["40"], withInput: true)
        defer { child.terminate() }
        let (reporter, counters, statistics, _) = try await profileOffCPU(child, snapshots: true)

        let lines = reporter.foldedStacks(origin: .offCPU).filter { $0.stack.hasPrefix("th-contention;") }
        let waiting = lines.filter { $0.stack.contains(";waiter;wait_for_lock;") && $0.stack.contains("lll_lock_wait") }
            .reduce(0) { $0 + $1.count }
        #expect(waiting >= 40 * 5_000, "\(waiting) µs waiting for the lock, whole: \(lines.prefix(4))")
        #expect(counters.offCPUAwaiting > 0 && counters.offCPUAwaitedSent == counters.offCPUAwaiting, "\(counters)")
        #expect(counters.offCPUMoved * 10 <= counters.offCPUAwaitedSent, "blocks in system calls keep their registers: \(counters)")
        #expect(counters.snapshots >= counters.offCPUAwaitedSent - counters.offCPUMoved, "\(counters)")
        #expect(statistics.isConserved && statistics.reported == counters.records, "\(statistics)")
    }

    /// Loads the off-CPU program for `child`, starts it (a byte on its input), waits for the line
    /// it prints when its work is done, and drains what was sent into an engine with the real
    /// symbolizer, before a second byte lets the child exit: its frames are named while it runs
    /// (on a loaded machine symbolization can lag the child by seconds). Returns the child's line.
    private func profileOffCPU(
        _ child: BusyChild, _ configuration: OffCPUConfiguration = OffCPUConfiguration(), snapshots: Bool = false
    ) async throws -> (FoldedStacksReporter, ProgramCounters, EngineStatistics, String) {
        var output = KernelOutputConfiguration()
        output.wakeupWatermarkBytes = 0
        output.pollInterval = .milliseconds(20)
        let sampler = try Sampler(
            frequency: nil, offCPU: configuration, pid: child.processIdentifier, output: output, stackBytes: snapshots ? 8192 : 0)
        defer { sampler.close() }
        let reporter = FoldedStacksReporter()
        var engineConfiguration = EngineConfiguration()
        engineConfiguration.unwind.workers = snapshots ? 1 : 0
        let engine = try StagedEngine(
            configuration: engineConfiguration, processor: try NativeSymbolizer(), reporter: reporter,
            unwinder: snapshots ? try DWARFUnwinder() : nil)
        try engine.start()
        let poll = try KernelPollStage(buffers: sampler.buffers, configuration: output)
        try engine.runSource(name: "th-poll") { source, isStopRequested in poll.run(into: source, isStopRequested: isStopRequested) }
        let input = try #require(child.input), childOutput = try #require(child.output)
        try input.fileHandleForWriting.write(contentsOf: Data([1]))
        // One short write when its work is done (or nothing: it failed).
        let line = await Task.detached { String(decoding: childOutput.fileHandleForReading.availableData, as: UTF8.self) }.value
        sampler.close()
        poll.wake()
        await engine.stop()
        try input.fileHandleForWriting.write(contentsOf: Data([1]))
        child.process.waitUntilExit()
        #expect(child.process.terminationStatus == 0, "\(line)")
        return (reporter, sampler.counters(), engine.statistics(), line)
    }
}
