import KernelPath
import LinuxSystem
import ServiceLifecycleTestKit
import Synchronization
import Testing
import TraceServices
import TraceProfiler
import TraceReporters

#if canImport(Glibc)
import Glibc
#endif

/// Counts what a profile reports, per user-mode hash, and the flushes.
final class CountingReporter: TraceReporter {
    private let state = Mutex<(samples: Int, frames: Int, flushes: Int)>((0, 0, 0))
    var samples: Int { state.withLock { $0.samples } }
    var frames: Int { state.withLock { $0.frames } }
    var flushes: Int { state.withLock { $0.flushes } }
    func reportFramesForTrace(_ trace: Trace) { state.withLock { $0.frames += 1 } }
    func reportCountForTrace(_ traceHash: TraceHash, count: UInt16, meta: TraceEventMeta) {
        state.withLock { $0.samples += Int(count) }
    }
    func flush() { state.withLock { $0.flushes += 1 } }
}

/// A thread of this process that spins until stopped: something to sample. Or, given a `step`,
/// one that repeats it until stopped (`usleep`: something that blocks).
final class Spinner: Sendable {
    private final class Flag: Sendable {
        let value = Atomic<Bool>(false)
    }

    private let stop = Flag()
    private let thread: WorkerThread

    init() throws {
        let stop = self.stop
        thread = try WorkerThread.spawn(name: "test-spinner", cpus: nil) {
            var x: UInt64 = 1
            while !stop.value.load(ordering: .relaxed) { x = x &* 6364136223846793005 &+ 1 }
            withExtendedLifetime(x) {}
        }
    }

    init(name: String, step: @escaping @Sendable () -> Void) throws {
        let stop = self.stop
        thread = try WorkerThread.spawn(name: name, cpus: nil) {
            while !stop.value.load(ordering: .relaxed) { step() }
        }
    }

    func finish() {
        stop.value.store(true, ordering: .relaxed)
        thread.join()
    }
}

@Suite(.serialized, .enabled(if: KernelSupport.missingCapability() == nil, "\(KernelSupport.missingCapability() ?? "")"))
struct ProfilerTests {
    static func configuration() -> ProfilerConfiguration {
        var configuration = ProfilerConfiguration()
        configuration.frequency = 999
        configuration.pid = getpid()
        return configuration
    }

    /// A real profile through a custom reporter, ended by cancelling its task: every sample the
    /// sampler sent is received and reported (the stop order loses nothing), the reporter is
    /// flushed once, and live statistics were readable meanwhile.
    @Test func cancellingAProfileLosesNothing() async throws {
        let spinner = try Spinner()
        defer { spinner.finish() }
        let reporter = CountingReporter()
        let profiler = try Profiler(configuration: Self.configuration(), reporter: reporter)
        let run = Task { try await profiler.profile() }
        var live = 0
        for _ in 0..<20_000 where live < 300 {  // 0.3 s of the spinner's CPU, however loaded the machine
            try await Task.sleep(for: .milliseconds(1))
            live = Int(profiler.statistics()?.engine.reported ?? 0)
        }
        run.cancel()
        let statistics = try await run.value
        #expect(statistics.sampler.records >= 300, "\(statistics)")
        #expect(statistics.sampler.records == statistics.received.records)
        #expect(statistics.engine.reported == statistics.received.records)
        #expect(statistics.isConserved)
        #expect(reporter.samples == Int(statistics.engine.reported))
        #expect(reporter.flushes == 1)
        #expect(statistics.duration > .zero && statistics.cpus.count >= 1)
        #expect(profiler.statistics()?.engine.reported == statistics.engine.reported)  // final, kept
    }

    /// `kernel.aggregation = bpf`: the profile's stop detaches the sampler, then drains both sets,
    /// so every sample the program counted reaches the reporter, as counts of far fewer traces.
    @Test func aProfileCountedInTheKernelLosesNothing() async throws {
        let spinner = try Spinner()
        defer { spinner.finish() }
        let reporter = CountingReporter()
        var configuration = Self.configuration()
        configuration.unwindMode = .framePointers
        configuration.kernel.aggregation = .bpf
        configuration.kernel.aggregationInterval = .milliseconds(100)
        let profiler = try Profiler(configuration: configuration, reporter: reporter)
        let run = Task { try await profiler.profile() }
        var counted: UInt64 = 0
        for _ in 0..<20_000 where counted < 300 {  // 0.3 s of the spinner's CPU, however loaded the machine
            try await Task.sleep(for: .milliseconds(1))
            counted = profiler.statistics()?.sampler.aggregated ?? 0
        }
        run.cancel()
        let statistics = try await run.value
        let drained = try #require(statistics.aggregation)
        #expect(statistics.sampler.aggregated >= 300, "\(statistics)")
        #expect(drained.samples == statistics.sampler.aggregated && statistics.undrainedSamples == 0)
        #expect(statistics.receivedSamples == statistics.sampler.aggregated + statistics.received.records)
        #expect(statistics.engine.reportedSamples == statistics.receivedSamples)
        #expect(statistics.isConserved, "\(statistics)")
        #expect(reporter.samples == Int(statistics.engine.reportedSamples))
        #expect(statistics.engine.reported < statistics.engine.reportedSamples)
    }

    /// `modes = [.cpu, .offCPU]`: one profile holds both origins, a spinning thread's CPU samples
    /// and a napping thread's blocks with their time, every record conserved.
    @Test func aProfileOfBothOriginsHoldsCPUSamplesAndBlocks() async throws {
        let spinner = try Spinner()
        defer { spinner.finish() }
        let napper = try Spinner(name: "test-napper") { usleep(5_000) }
        defer { napper.finish() }
        let reporter = ProfileReporter(samplingPeriod: .milliseconds(1), origins: [.cpu, .offCPU])
        var configuration = Self.configuration()
        configuration.modes = [.cpu, .offCPU]
        configuration.unwindMode = .framePointers
        let profiler = try Profiler(configuration: configuration, reporter: reporter)
        let run = Task { try await profiler.profile() }
        for _ in 0..<20_000 {
            let sampler = profiler.statistics()?.sampler
            if let sampler, sampler.offCPUResumed >= 50, sampler.records >= 300 { break }
            try await Task.sleep(for: .milliseconds(1))
        }
        run.cancel()
        let statistics = try await run.value
        #expect(statistics.sampler.offCPUResumed >= 50, "\(statistics.sampler)")
        #expect(statistics.isConserved, "\(statistics)")
        #expect(reporter.offCPUTotals.samples >= 50, "\(reporter.offCPUTotals)")
        #expect(reporter.foldedStacks(origin: .sampling).contains { $0.stack.hasPrefix("test-spinner;") })
        // Other threads of this process block too (the test's own sleeps): the napper's 5-ms naps
        // are what must be there, weighed in microseconds.
        let napping = reporter.foldedStacks(origin: .offCPU).filter { $0.stack.hasPrefix("test-napper;") }.reduce(0) { $0 + $1.count }
        #expect(napping >= 40 * 4_000, "\(napping) µs napping")
        #expect(reporter.sampleCount == statistics.engine.reportedSamples)
    }

    /// A second profile while one runs is refused before it loads a sampler; the first goes on.
    @Test func oneProfileAtATime() async throws {
        let profiler = try Profiler(configuration: Self.configuration(), reporter: CountingReporter())
        let first = Task { try await profiler.profile() }
        for _ in 0..<20_000 where profiler.statistics() == nil { try await Task.sleep(for: .milliseconds(1)) }
        await #expect {
            try await profiler.profile()
        } throws: { error in
            guard case ProfilerError.alreadyProfiling = error else { return false }
            return true
        }
        first.cancel()
        #expect(try await first.value.isConserved)
    }

    /// Continuous mode: with an `IntervalReporter` the profiler ends an interval every
    /// `report.interval` while sampling and the last after the engine drained, so the intervals
    /// hold every reported sample, each once.
    @Test func aContinuousProfileHandsOnEveryReportedSampleInIntervals() async throws {
        let spinner = try Spinner()
        defer { spinner.finish() }
        var configuration = Self.configuration()
        configuration.reportInterval = .seconds(1)
        configuration.reportJitter = 0.1
        let intervals = Mutex<[IntervalProfile]>([])
        let reporter = IntervalProfileReporter(samplingPeriod: .milliseconds(1), retainedTraces: 1024) { interval in
            intervals.withLock { $0.append(interval) }
        }
        let profiler = try Profiler(configuration: configuration, reporter: reporter)
        let run = Task { try await profiler.profile() }
        // Two whole intervals, however loaded the machine.
        for _ in 0..<30_000 where intervals.withLock({ $0.count }) < 2 { try await Task.sleep(for: .milliseconds(1)) }
        run.cancel()
        let statistics = try await run.value
        let ended = intervals.withLock { $0 }
        #expect(ended.count >= 3, "two while sampling and the last")
        #expect(ended.map(\.number) == Array(1...ended.count))
        #expect(zip(ended, ended.dropFirst()).allSatisfy { $0.end == $1.start }, "intervals follow one another")
        #expect(ended.reduce(0) { $0 + $1.sampleCount } == statistics.engine.reported, "\(statistics)")
        #expect(statistics.engine.reported > 0 && statistics.isConserved)
        #expect(reporter.totals.samples == statistics.engine.reported && reporter.totals.intervals == ended.count)
        // The spinner's samples are named in the intervals' profiles.
        let stacks = ended.flatMap { $0.foldedStacks() }
        #expect(stacks.contains { $0.stack.hasPrefix("test-spinner;") }, "\(stacks.prefix(5))")
    }

    /// As a `Service`: graceful shutdown ends `run()` the same way.
    @Test func gracefulShutdownEndsTheServiceRun() async throws {
        let spinner = try Spinner()
        defer { spinner.finish() }
        let reporter = CountingReporter()
        let profiler = try Profiler(configuration: Self.configuration(), reporter: reporter)
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await profiler.run() }
                for _ in 0..<20_000 where (profiler.statistics()?.engine.reported ?? 0) < 100 {
                    try await Task.sleep(for: .milliseconds(1))
                }
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
        let statistics = try #require(profiler.statistics())
        #expect(statistics.engine.reported >= 100 && statistics.isConserved, "\(statistics)")
        #expect(reporter.samples == Int(statistics.engine.reported) && reporter.flushes == 1)
    }
}

/// Without privileges or sampling at all: bad configuration is refused before anything loads.
@Suite struct ProfilerConfigurationTests {
    @Test func badConfigurationNamesTheKey() {
        var configuration = ProfilerConfiguration()
        configuration.frequency = 0
        #expect {
            try Profiler(configuration: configuration, reporter: CountingReporter())
        } throws: { error in
            guard case ProfilerError.configuration(let problem) = error else { return false }
            return problem.key == "sampling.frequency" && "\(error)".contains("1 ... 100000 Hz")
        }
    }

    @Test func aReportIntervalOutOfRangeNamesTheKey() {
        for (interval, jitter, key) in [(Duration.milliseconds(999), 0.2, "report.interval"), (.seconds(5), 0.6, "report.jitter")] {
            var configuration = ProfilerConfiguration()
            configuration.reportInterval = interval
            configuration.reportJitter = jitter
            #expect {
                try Profiler(configuration: configuration, reporter: CountingReporter())
            } throws: { error in
                guard case ProfilerError.configuration(let problem) = error else { return false }
                return problem.key == key
            }
        }
    }
}
