import LinuxSystem
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import SyntheticTraces
import TraceEngine
import TraceHandler
import TraceModel

/// What a reporter received, reduced to what Go semantics fix: samples counted per user-mode hash,
/// frame reports per hash, trace events per hash, and unsymbolized traces seen.
struct ReportTally: Equatable, Sendable {
    var counts: [TraceHash: Int] = [:]
    var frames: [TraceHash: Int] = [:]
    var events: [TraceHash: Int] = [:]
    var unsymbolized = 0
    var samples: Int { counts.values.reduce(0, +) + events.values.reduce(0, +) }
}

final class TallyReporter: TraceReporter {
    let supportsReportTraceEvent: Bool
    let delay: Duration?
    private let tally = Mutex(ReportTally())
    private let flushes = Atomic<Int>(0)

    init(supportsReportTraceEvent: Bool = false, delay: Duration? = nil) {
        self.supportsReportTraceEvent = supportsReportTraceEvent
        self.delay = delay
    }

    var result: ReportTally { tally.withLock { $0 } }
    var flushCount: Int { flushes.load(ordering: .relaxed) }

    func reportFramesForTrace(_ trace: Trace) {
        tally.withLock {
            $0.frames[trace.hash, default: 0] += 1
            if !trace.isSymbolized { $0.unsymbolized += 1 }
        }
    }

    func reportCountForTrace(_ traceHash: TraceHash, count: UInt16, meta: TraceEventMeta) {
        if let delay { spin(delay) }
        tally.withLock { $0.counts[traceHash, default: 0] += Int(count) }
    }

    func reportTraceEvent(_ trace: Trace, meta: TraceEventMeta) {
        tally.withLock { $0.events[trace.hash, default: 0] += 1 }
    }

    func flush() { flushes.add(1, ordering: .relaxed) }
}

/// A processor that converts like the trivial one, but marks its traces symbolized and can be slow.
struct SlowProcessor: TraceProcessor {
    var delay: Duration?

    func maybeNotifyAPMAgent(_ rawTrace: borrowing RawTrace, umTraceHash: TraceHash, count: UInt16) -> String { "" }


    func convertTrace(_ rawTrace: borrowing RawTrace, into trace: inout Trace) {
        if let delay { spin(delay) }
        trace.assignUnsymbolized(rawTrace)
        trace.isSymbolized = true
    }

    func symbolizationComplete(traceCaptureKTime: KTime) {}
}

/// A processor whose conversions wait until `open()` (all of them, or only the trace with hash
/// `holding`): holds the symbolize stage without a delay.
final class GatedProcessor: TraceProcessor {
    private let isOpen = Atomic<Bool>(false)
    private let held: HostTraceHash?

    init(holding held: HostTraceHash? = nil) { self.held = held }

    func open() { isOpen.store(true, ordering: .releasing) }

    func maybeNotifyAPMAgent(_ rawTrace: borrowing RawTrace, umTraceHash: TraceHash, count: UInt16) -> String { "" }


    func convertTrace(_ rawTrace: borrowing RawTrace, into trace: inout Trace) {
        let hash = rawTrace.hash  // (`||` takes a closure, which cannot capture a borrowed trace)
        let gated = held == nil || held == hash
        while gated && !isOpen.load(ordering: .acquiring) { sched_yield() }
        trace.assignUnsymbolized(rawTrace)
    }

    func symbolizationComplete(traceCaptureKTime: KTime) {}
}

/// Busy-waits: a CPU-bound stand-in for work (sleeping would hand the CPU to the other stages).
func spin(_ duration: Duration) {
    let end = ContinuousClock.now + duration
    while ContinuousClock.now < end {}
}

func syntheticTraces(count: Int, distinct: Int, zipf: Double = 1.0) -> [RawTrace] {
    var configuration = SyntheticTraceConfiguration()
    configuration.distinctStacks = distinct
    configuration.userDepth = 8
    configuration.zipfSkew = zipf
    var generator = try! SyntheticTraceGenerator(configuration)
    return (0..<count).map { generator.next(ktime: KTime(rawValue: UInt64($0 + 1))) }
}

/// `count` traces of `count` different stacks, each once.
func distinctTraces(count: Int) -> [RawTrace] {
    var configuration = SyntheticTraceConfiguration()
    configuration.distinctStacks = count
    configuration.userDepth = 8
    let generator = try! SyntheticTraceGenerator(configuration)
    var trace = RawTrace()
    return (0..<count).map { stack in
        generator.write(stack: stack, into: &trace, ktime: KTime(rawValue: UInt64(stack + 1)))
        return trace
    }
}

/// Runs the Go-shaped handler (`start`) over `traces`, with a 4096-entry cache, until its worker exits.
func runGoShapedHandler(
    _ traces: [RawTrace], reporter: some TraceReporter, processor: some TraceProcessor = UnsymbolizedTraceProcessor()
) async throws {
    let (stream, continuation) = AsyncStream.makeStream(of: RawTrace.self)
    for trace in traces { continuation.yield(trace) }
    continuation.finish()
    let worker = try start(
        reporter: reporter, processor: processor, traces: stream,
        times: FixedTimes(monitorInterval: .seconds(3600)), cacheSize: 4096)
    await worker.exited()
}

/// Runs the engine over `traces` from a thread of its own (the source) and stops it (draining).
func runEngine<P: TraceProcessor, R: TraceReporter>(
    _ traces: [RawTrace], configuration: EngineConfiguration, processor: P, reporter: R
) async throws -> (EngineStatistics, [EmitOutcome]) {
    try await WorkerThread.run(name: "test-body") {
        let engine = try StagedEngine(configuration: configuration, processor: processor, reporter: reporter)
        try engine.start()
        var outcomes: [EmitOutcome] = []
        for trace in traces {
            outcomes.append(engine.source.emit(trace))  // with the samples it stands for (`count`)
        }
        engine.stopAndWait()
        engine.stopAndWait()  // harmless
        return (engine.statistics(), outcomes)
    }
}
