import CAllocationCounter
import CommandLineSupport
import LinuxSystem
import Synchronization
import SyntheticTraces
import TraceEngine
import TraceHandler
import TraceModel

#if canImport(Glibc)
import Glibc
#endif

/// What one synthetic run is asked to do.
struct SyntheticWorkload: Sendable {
    var duration: Double
    /// Offered traces a second; 0: as fast as the source can.
    var rate: Int
    /// Offer in bursts: every 500 ms, 50 ms at 10× the rate, then nothing (same mean).
    var bursty: Bool
    var distinct: Int
    var zipf: Double
    var depth: Int
    var processes: Int
    /// CPU time each conversion (each miss) spends, in microseconds.
    var symbolizeCostMicroseconds: Double
    /// Traces the kernel buffers could hold: when the source falls further behind the offered
    /// schedule than this, the excess is lost as the kernel would lose it.
    var kernelBufferTraces: Int
}

/// One run's measurements; `--json` prints these.
struct SyntheticResult: Codable {
    /// "release" or "debug": unoptimised code allocates where optimised code does not.
    var build = SyntheticResult.buildConfiguration
    var topology: String
    /// Which round of `--rounds` (from 1).
    var round = 1
    var seconds: Double
    var offeredPerSecond: Double
    var achievedPerSecond: Double
    var offered: UInt64
    var kernelLost: UInt64
    var produced: UInt64
    var reported: UInt64
    var drops: [String: UInt64]
    var stageThroughputPerSecond: [String: Double]
    var ringHighWaterMarks: [String: Int]
    var latencyMicroseconds: LatencyPercentiles
    var threadCPUSeconds: [String: Double]
    var peakRSSMebibytes: Double
    /// Heap allocations by the whole process while the run lasted, per trace produced. It
    /// includes the staged engine's warm-up: each converted-trace slot reserves its frames at its
    /// first use (seven allocations, once), so a short run with a deep backlog shows them here.
    var allocationsPerTrace: Double
    /// The same over the run's second half only, once the slots in use are warm: the engine's
    /// per-trace paths allocate nothing, so this stays near 0 for the staged topology.
    var steadyAllocationsPerTrace: Double
    var conserved: Bool
}

extension SyntheticResult {
    #if DEBUG
    static let buildConfiguration = "debug"
    #else
    static let buildConfiguration = "release"
    #endif
}

/// A processor that converts like the trivial one after spending `cost` of CPU time: a stand-in
/// for a symbolizer of known speed.
struct CostlyProcessor: TraceProcessor {
    var cost: Duration

    func convertTrace(_ rawTrace: borrowing RawTrace, into trace: inout Trace) {
        withUnsafePointer(to: rawTrace) { convertTrace(inPlace: UnsafeBufferPointer(start: $0, count: 1).span, into: &trace) }
    }

    func convertTrace(inPlace rawTrace: Span<RawTrace>, into trace: inout Trace) {
        if cost > .zero {
            let end = ContinuousClock.now + cost
            while ContinuousClock.now < end {}
        }
        trace.assignUnsymbolized(inPlace: rawTrace)
        trace.isSymbolized = true
    }
}

/// The process's allocation count and the traces handed on when a run passed its halfway point:
/// the steady-state measure starts there. Written once by the source thread.
final class HalfwayMark: Sendable {
    private let due: UInt64
    private let mark = Mutex<(allocations: UInt64, handled: UInt64)?>(nil)

    init(_ plan: OfferSchedule) {
        due = plan.start + UInt64(plan.workload.duration * 5e8)
    }

    /// Called by the source after each batch; records the first call at or past halfway.
    func passed(now: UInt64, handled: UInt64) {
        guard now >= due else { return }
        mark.withLock { if $0 == nil { $0 = (th_allocation_count(), handled) } }
    }

    /// Allocations since the mark per trace produced since (the whole run when never passed).
    func allocationsPerTrace(since allocationsBefore: UInt64, produced: UInt64) -> Double {
        let (allocations, handled) = mark.withLock { $0 } ?? (allocationsBefore, 0)
        let traces = produced > handled ? produced - handled : 0
        return Double(th_allocation_count() - allocations) / Double(max(traces, 1))
    }
}

/// The offered-load schedule and the simulated kernel buffer in front of a source.
struct OfferSchedule {
    let workload: SyntheticWorkload
    let start: UInt64
    /// Traces handed to the source so far (the schedule's, not yet necessarily emitted).
    var handedOn: UInt64 = 0
    /// Traces that overflowed the simulated kernel buffer.
    var lost: UInt64 = 0
    /// Everything the schedule offered: handed on or lost.
    var offered: UInt64 { handedOn + lost }

    init(_ workload: SyntheticWorkload) {
        self.workload = workload
        start = MonotonicClock.nanoseconds()
    }

    var finished: Bool { MonotonicClock.nanoseconds() - start >= UInt64(workload.duration * 1e9) }

    /// Traces offered by now (the schedule), given `now`.
    func due(at now: UInt64) -> UInt64 {
        let elapsed = Double(now - start) / 1e9
        guard workload.bursty else { return UInt64(elapsed * Double(workload.rate)) }
        let periods = (elapsed / 0.5).rounded(.down)
        let inPeriod = min(elapsed - periods * 0.5, 0.05)
        return UInt64((periods * 0.05 + inPeriod) * 10 * Double(workload.rate))
    }

    /// How many traces to hand on now (0: wait), after counting as lost what overflowed the
    /// simulated kernel buffer. Flat out (rate 0): always a batch.
    mutating func next(handled: UInt64) -> Int {
        guard workload.rate > 0 else {
            handedOn += 64
            return 64
        }
        let due = self.due(at: MonotonicClock.nanoseconds())
        guard due > offered else { return 0 }
        // Offered but neither handled nor lost: what the kernel buffer would hold now.
        let backlog = due - handled - lost
        if backlog > UInt64(workload.kernelBufferTraces) { lost += backlog - UInt64(workload.kernelBufferTraces) }
        guard due > offered else { return 0 }
        let available = Int(min(due - offered, 64))
        handedOn += UInt64(available)
        return available
    }
}

enum SyntheticBench {
    /// Traces pre-encoded from the workload's distribution, cycled by the source.
    static func traces(_ workload: SyntheticWorkload) throws -> EncodedTraces {
        var configuration = SyntheticTraceConfiguration()
        configuration.distinctStacks = workload.distinct
        configuration.userDepth = workload.depth
        configuration.zipfSkew = workload.zipf
        configuration.processes = workload.processes
        var generator = try SyntheticTraceGenerator(configuration)
        let count = min(max(workload.distinct * 4, 16_384), 262_144)
        return EncodedTraces((0..<count).lazy.map { _ in generator.next(ktime: KTime(rawValue: 0)) })
    }

    static func runStaged(
        _ workload: SyntheticWorkload, traces: EncodedTraces, engine configuration: EngineConfiguration, progress: Duration
    ) throws -> SyntheticResult {
        let reporter = LatencyRecordingReporter()
        let processor = CostlyProcessor(cost: .nanoseconds(Int64(workload.symbolizeCostMicroseconds * 1000)))
        let engine = try StagedEngine(configuration: configuration, processor: processor, reporter: reporter)
        try engine.start()
        let schedule = Mutex(OfferSchedule(workload))
        let halfway = HalfwayMark(schedule.withLock { $0 })
        let sourceFinished = Atomic<Bool>(false)
        let allocationsBefore = th_allocation_count()
        let began = MonotonicClock.nanoseconds()
        try engine.runSource(name: "th-source") { source, _ in
            defer { sourceFinished.store(true, ordering: .releasing) }
            var plan = schedule.withLock { $0 }
            var handled: UInt64 = 0
            traces.withRecords { records in
                var next = 0
                while !plan.finished {
                    let count = plan.next(handled: handled)
                    if count == 0 { continue }
                    // One capture time a batch, as records that arrive together from a kernel
                    // buffer carry theirs: a clock read a trace was a tenth of the source's time.
                    let now = MonotonicClock.nanoseconds()
                    for _ in 0..<count {
                        source.emit { (trace) throws(RawTraceError) in
                            try trace.loadDeferringHash(records[next])
                            trace.ktime = KTime(rawValue: now)
                        }
                        next = next + 1 == records.count ? 0 : next + 1
                    }
                    source.flush()  // as the poll stage does after each batch it reads
                    handled += UInt64(count)
                    halfway.passed(now: now, handled: handled)
                }
            }
            schedule.withLock { $0 = plan }
        }
        var line = ProgressLine("staged", every: progress)
        line.run(until: { sourceFinished.load(ordering: .acquiring) }) {
            let statistics = engine.statistics()
            return "\(statistics.reported) reported, \(statistics.produced - statistics.reported) in flight or dropped"
        }
        engine.stopAndWait()
        let allocations = th_allocation_count() - allocationsBefore
        let steadyAllocations = halfway.allocationsPerTrace(since: allocationsBefore, produced: engine.statistics().produced)
        let cpu = engine.threadCPUSeconds()
        let seconds = Double(MonotonicClock.nanoseconds() - began) / 1e9
        let plan = schedule.withLock { $0 }
        let statistics = engine.statistics()
        var drops: [String: UInt64] = [:]
        var throughput: [String: Double] = [:]
        var highWater: [String: Int] = [:]
        for stage in statistics.stages {
            throughput["\(stage.stage)"] = Double(stage[.received]) / seconds
            highWater["\(stage.stage)"] = stage.outputHighWaterMark
            for reason in EngineCounter.drops + [.malformed, .degraded] where stage[reason] > 0 {
                drops["\(stage.stage).\(reason)"] = stage[reason]
            }
        }
        return SyntheticResult(
            topology: "staged", seconds: seconds, offeredPerSecond: Double(plan.offered) / seconds,
            achievedPerSecond: Double(statistics.reported) / seconds, offered: plan.offered, kernelLost: plan.lost,
            produced: statistics.produced, reported: statistics.reported, drops: drops, stageThroughputPerSecond: throughput,
            ringHighWaterMarks: highWater, latencyMicroseconds: reporter.percentiles(), threadCPUSeconds: cpu,
            peakRSSMebibytes: peakRSSMebibytes(), allocationsPerTrace: Double(allocations) / Double(max(statistics.produced, 1)),
            steadyAllocationsPerTrace: steadyAllocations,
            conserved: statistics.isConserved && reporter.sampleCount == statistics.reported
                && plan.handedOn == statistics.produced)
    }

    /// The Go shape: one thread takes a trace and handles it to the end before the next.
    static func runSerial(_ workload: SyntheticWorkload, traces: EncodedTraces, cacheSize: Int, progress: Duration) throws -> SyntheticResult {
        let reporter = LatencyRecordingReporter()
        let processor = CostlyProcessor(cost: .nanoseconds(Int64(workload.symbolizeCostMicroseconds * 1000)))
        let result = Mutex<(OfferSchedule, UInt64, Double, UInt64, Double)?>(nil)
        let finished = Atomic<Bool>(false)
        let allocationsBefore = th_allocation_count()
        let thread = try WorkerThread.spawn(name: "th-serial", cpus: nil) {
            defer { finished.store(true, ordering: .releasing) }
            var handler = SerialTraceHandler(processor: processor, reporter: reporter, cacheSize: cacheSize)
            var plan = OfferSchedule(workload)
            let halfway = HalfwayMark(plan)
            let cpuStart = ThreadCPUTime.seconds()
            var handled: UInt64 = 0
            var trace = RawTrace()
            traces.withRecords { records in
                var next = 0
                while !plan.finished {
                    let count = plan.next(handled: handled)
                    let now = MonotonicClock.nanoseconds()  // one capture time a batch, as for staged
                    for _ in 0..<count {
                        try! trace.load(records[next])
                        trace.ktime = KTime(rawValue: now)
                        handler.handleTrace(trace)
                        next = next + 1 == records.count ? 0 : next + 1
                    }
                    handled += UInt64(count)
                    halfway.passed(now: now, handled: handled)
                }
            }
            let steadyAllocations = halfway.allocationsPerTrace(since: allocationsBefore, produced: handled)
            let finished = MonotonicClock.nanoseconds()
            result.withLock { $0 = (plan, handled, ThreadCPUTime.seconds() - cpuStart, finished, steadyAllocations) }
        }
        var line = ProgressLine("serial", every: progress)
        line.run(until: { finished.load(ordering: .acquiring) }) { "\(reporter.sampleCount) reported" }
        thread.join()
        let allocations = th_allocation_count() - allocationsBefore
        let (plan, handled, cpu, finishedAt, steadyAllocations) = result.withLock { $0! }
        let seconds = Double(finishedAt - plan.start) / 1e9
        return SyntheticResult(
            topology: "serial", seconds: seconds, offeredPerSecond: Double(plan.offered) / seconds,
            achievedPerSecond: Double(reporter.sampleCount) / seconds, offered: plan.offered, kernelLost: plan.lost,
            produced: handled, reported: reporter.sampleCount, drops: [:],
            stageThroughputPerSecond: ["serial": Double(handled) / seconds], ringHighWaterMarks: [:],
            latencyMicroseconds: reporter.percentiles(), threadCPUSeconds: ["th-serial": cpu], peakRSSMebibytes: peakRSSMebibytes(),
            allocationsPerTrace: Double(allocations) / Double(max(handled, 1)), steadyAllocationsPerTrace: steadyAllocations,
            conserved: reporter.sampleCount == handled && plan.handedOn == handled)
    }
}
