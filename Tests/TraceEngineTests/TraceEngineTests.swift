import Synchronization
import LinuxSystem
import Testing
import TraceEngine
import TraceHandler
import TraceModel

@Suite struct TraceEngineTests {
    /// The staged engine and the Go-shaped handler make the same reporter calls for the same input
    /// (up to order across workers): one count per sample, frames once per user-mode hash.
    @Test(arguments: [1, 2, 3], HashCacheThread.allCases)
    func sameReporterCallsAsTheGoShapedHandler(workers: Int, hashCacheThread: HashCacheThread) async throws {
        let traces = syntheticTraces(count: 20_000, distinct: 700)

        let handlerReporter = TallyReporter()
        try await runGoShapedHandler(traces, reporter: handlerReporter)

        var configuration = EngineConfiguration()
        configuration.symbolizeWorkers = workers
        configuration.hashCacheThread = hashCacheThread
        configuration.symbolize.policy = .block
        configuration.cacheSize = 4096
        configuration.rawTraceSlots = 256  // small: slots are recycled many times over
        configuration.source.capacity = 64
        configuration.symbolize.capacity = 16
        let engineReporter = TallyReporter()
        let (statistics, outcomes) = try await runEngine(
            traces, configuration: configuration, processor: UnsymbolizedTraceProcessor(), reporter: engineReporter)

        #expect(outcomes.allSatisfy { $0 == .queued })
        #expect(engineReporter.result == handlerReporter.result)
        #expect(engineReporter.result.samples == 20_000)
        #expect(statistics.isConserved, "\(statistics)")
        #expect(statistics.reported == 20_000)
        let distinct = UInt64(Set(traces.map(\.hash)).count)  // cache size exceeds it: no evictions
        #expect(statistics.total(.bpfCacheMiss) == distinct + statistics.total(.coalesced))
        #expect(engineReporter.flushCount == 1)
    }

    /// Traces that stand for several samples, as the kernel's aggregation drains them: the engine
    /// and the Go-shaped handler make the same calls, counts above 65535 go in several calls, a
    /// trace-event reporter gets one event per sample, and the statistics count samples beside
    /// traces on every path (hits, misses, coalesced misses).
    @Test(arguments: HashCacheThread.allCases, [false, true])
    func tracesCarryingCountsAreReportedWithEverySample(hashCacheThread: HashCacheThread, events: Bool) async throws {
        var traces = syntheticTraces(count: 3_000, distinct: 60)
        for index in traces.indices { traces[index].count = UInt32(index % 7 + 1) }
        traces[0].count = 70_000  // more than one 16-bit count
        let samples = traces.reduce(0) { $0 + Int($1.count) }

        let handlerReporter = TallyReporter(supportsReportTraceEvent: events)
        try await runGoShapedHandler(traces, reporter: handlerReporter)

        var configuration = EngineConfiguration()
        configuration.hashCacheThread = hashCacheThread
        configuration.symbolizeWorkers = 2
        configuration.symbolize.policy = .block
        let engineReporter = TallyReporter(supportsReportTraceEvent: events)
        let (statistics, _) = try await runEngine(
            traces, configuration: configuration, processor: SlowProcessor(), reporter: engineReporter)

        #expect(handlerReporter.result.samples == samples)
        #expect(engineReporter.result.samples == samples)
        if !events { #expect(engineReporter.result.counts.values.sorted() == handlerReporter.result.counts.values.sorted()) }
        #expect(statistics.produced == 3_000 && statistics.reported == 3_000)
        #expect(statistics.producedSamples == UInt64(samples), "\(statistics)")
        #expect(statistics.reportedSamples == UInt64(samples))
        #expect(statistics.unreportedSamples == 0)
        #expect(statistics.isConserved)
    }

    /// Off-CPU traces share their frames with CPU traces but not their hash (the origin is hashed);
    /// both the engine and the Go-shaped handler report each with its origin and time off the CPU.
    @Test(arguments: HashCacheThread.allCases, [false, true])
    func offCPUTracesKeepTheirOriginAndTime(hashCacheThread: HashCacheThread, events: Bool) async throws {
        let cpu = syntheticTraces(count: 1_000, distinct: 40)
        let offCPU = try cpu.enumerated().map { index, trace in
            let frames = trace.frames
            return try RawTrace(
                pid: trace.pid, tid: trace.tid, ktime: trace.ktime, comm: trace.comm, origin: .offCPU,
                offTime: UInt64(index % 9 + 1) * 1_000_000, kernelFrames: Array(frames.prefix(trace.kernelFrameCount)),
                userFrames: Array(frames.dropFirst(trace.kernelFrameCount)))
        }
        #expect(offCPU[0].hash != cpu[0].hash)
        let traces = zip(cpu, offCPU).flatMap { [$0, $1] }
        let offTime = offCPU.reduce(0) { $0 + $1.offTime }

        var configuration = EngineConfiguration()
        configuration.hashCacheThread = hashCacheThread
        configuration.symbolizeWorkers = 2
        configuration.symbolize.policy = .block
        for run in 0..<2 {
            let reporter = OriginTally(supportsReportTraceEvent: events)
            if run == 0 {
                let (statistics, _) = try await runEngine(traces, configuration: configuration, processor: SlowProcessor(), reporter: reporter)
                #expect(statistics.isConserved && statistics.reported == 2_000)
            } else {
                try await runGoShapedHandler(traces, reporter: reporter)
            }
            let tally = reporter.tally
            #expect(tally.samples == [.sampling: 1_000, .offCPU: 1_000], "run \(run)")
            #expect(tally.offTime == [.sampling: 0, .offCPU: offTime], "run \(run)")
        }
    }

    @Test(arguments: HashCacheThread.allCases)
    func traceEventReportersGetEverySampleThroughSymbolize(hashCacheThread: HashCacheThread) async throws {
        let traces = syntheticTraces(count: 2_000, distinct: 50)
        var configuration = EngineConfiguration()
        configuration.hashCacheThread = hashCacheThread
        configuration.symbolizeWorkers = 2
        configuration.symbolize.policy = .block
        let reporter = TallyReporter(supportsReportTraceEvent: true)
        let (statistics, _) = try await runEngine(traces, configuration: configuration, processor: SlowProcessor(), reporter: reporter)
        #expect(reporter.result.events.values.reduce(0, +) == 2_000)
        #expect(reporter.result.counts.isEmpty && reporter.result.frames.isEmpty)
        #expect(statistics.total(.bpfCacheHit) == 0)
        #expect(statistics.isConserved)
    }

    /// `drop` on the report edge with a reporter slower than the source: drops happen, are counted
    /// by reason, and produced = reported + drops exactly.
    @Test(arguments: HashCacheThread.allCases)
    func aSlowReporterWithDropPolicyCountsEveryDrop(hashCacheThread: HashCacheThread) async throws {
        let traces = syntheticTraces(count: 20_000, distinct: 20, zipf: 0)
        var configuration = EngineConfiguration()
        configuration.hashCacheThread = hashCacheThread
        configuration.report = EdgeConfiguration(capacity: 4, policy: .drop)
        configuration.symbolize.policy = .block
        let reporter = TallyReporter(delay: .microseconds(20))
        let (statistics, _) = try await runEngine(traces, configuration: configuration, processor: SlowProcessor(), reporter: reporter)
        #expect(statistics.total(.dropReportRingFull) > 0)
        #expect(statistics.produced == 20_000)
        #expect(statistics.reported + statistics.dropped == 20_000, "\(statistics)")
        #expect(UInt64(reporter.result.samples) == statistics.reported)
        #expect(statistics.isConserved)
    }

    /// `degrade` on the symbolize edge with a slow symbolizer: nothing is lost; the overflow reaches
    /// the reporter unsymbolized.
    @Test(arguments: HashCacheThread.allCases)
    func aSlowSymbolizerWithDegradePolicyLosesNothing(hashCacheThread: HashCacheThread) async throws {
        let traces = distinctTraces(count: 5_000)  // all misses, every user-mode hash new
        var configuration = EngineConfiguration()
        configuration.hashCacheThread = hashCacheThread
        configuration.symbolize = EdgeConfiguration(capacity: 4, policy: .degrade)
        let reporter = TallyReporter()
        let (statistics, _) = try await runEngine(
            traces, configuration: configuration, processor: SlowProcessor(delay: .microseconds(50)), reporter: reporter)
        #expect(statistics.total(.degraded) > 0)
        #expect(statistics.dropped == 0)
        #expect(statistics.reported == 5_000)
        #expect(reporter.result.samples == 5_000)
        #expect(reporter.result.unsymbolized == Int(statistics.total(.degraded)))
        #expect(statistics.isConserved)
    }

    /// `drop` on the symbolize edge: the overflow is counted, the rest reported.
    @Test(arguments: HashCacheThread.allCases)
    func aSlowSymbolizerWithDropPolicyCountsDrops(hashCacheThread: HashCacheThread) async throws {
        let traces = distinctTraces(count: 3_000)
        var configuration = EngineConfiguration()
        configuration.hashCacheThread = hashCacheThread
        configuration.symbolize = EdgeConfiguration(capacity: 4, policy: .drop)
        let reporter = TallyReporter()
        let (statistics, _) = try await runEngine(
            traces, configuration: configuration, processor: SlowProcessor(delay: .microseconds(50)), reporter: reporter)
        #expect(statistics.total(.dropSymbolizeRingFull) > 0)
        #expect(statistics.reported + statistics.total(.dropSymbolizeRingFull) == 3_000)
        #expect(statistics.isConserved)
    }

    /// `block` everywhere with a small pool: the source waits, and a draining stop loses nothing.
    @Test(arguments: HashCacheThread.allCases)
    func blockingBackpressureAndDrainLoseNothing(hashCacheThread: HashCacheThread) async throws {
        let traces = syntheticTraces(count: 10_000, distinct: 2_000, zipf: 0.5)
        var configuration = EngineConfiguration()
        configuration.hashCacheThread = hashCacheThread
        configuration.rawTraceSlots = 16
        configuration.convertedTraceSlots = 4
        configuration.source.capacity = 8
        configuration.symbolize = EdgeConfiguration(capacity: 2, policy: .block)
        configuration.report.capacity = 2
        configuration.symbolizeWorkers = 2
        let reporter = TallyReporter()
        let (statistics, outcomes) = try await runEngine(
            traces, configuration: configuration, processor: SlowProcessor(delay: .microseconds(5)), reporter: reporter)
        #expect(outcomes.allSatisfy { $0 == .queued })
        #expect(statistics.reported == 10_000 && statistics.dropped == 0)
        #expect(reporter.result.samples == 10_000)
        #expect(statistics.isConserved)
    }

    /// `drop` at the source with a pool too small for the burst: pool exhaustion is counted.
    @Test(arguments: HashCacheThread.allCases)
    func sourceDropPolicyCountsPoolExhaustion(hashCacheThread: HashCacheThread) async throws {
        let traces = distinctTraces(count: 20_000)
        var configuration = EngineConfiguration()
        configuration.hashCacheThread = hashCacheThread
        configuration.rawTraceSlots = 8
        configuration.source = EdgeConfiguration(capacity: 8, policy: .drop)
        configuration.symbolize.policy = .block
        let (statistics, outcomes) = try await runEngine(
            traces, configuration: configuration, processor: SlowProcessor(delay: .microseconds(10)), reporter: TallyReporter())
        let dropped = outcomes.filter { $0 == .dropped }.count
        #expect(dropped > 0)
        #expect(UInt64(dropped) == statistics.total(.dropPoolExhausted) + statistics.total(.dropSourceRingFull))
        #expect(statistics.isConserved)
    }

    /// `stop(drain: false)` while the symbolizer is held: the stages leave at once, the traces
    /// still inside are counted as shutdown drops, the reporter is flushed, and the conservation
    /// law holds. The processor is held by a gate, not slowed by a delay, so no timing decides it.
    @Test(arguments: HashCacheThread.allCases)
    func aStopWithoutDrainCountsWhatWasLeft(hashCacheThread: HashCacheThread) async throws {
        let traces = distinctTraces(count: 4_000)
        var configuration = EngineConfiguration()
        configuration.hashCacheThread = hashCacheThread
        configuration.symbolize = EdgeConfiguration(capacity: 256, policy: .block)  // holds the 200 waited for below
        let reporter = TallyReporter()
        let processor = GatedProcessor()
        let engine = try StagedEngine(configuration: configuration, processor: processor, reporter: reporter)
        try engine.start()
        try engine.runSource { source, isStopRequested in
            for trace in traces where !isStopRequested() { source.emit { $0 = trace } }
        }
        for _ in 0..<100_000 where engine.statistics().produced < 200 { try await Task.sleep(for: .milliseconds(1)) }
        let stopping = Task { await engine.stop(drain: false) }
        for _ in 0..<100_000 where !engine.isStopRequested { try await Task.sleep(for: .milliseconds(1)) }
        processor.open()  // the held conversion ends; the worker then sees the stop and leaves
        await stopping.value

        let statistics = engine.statistics()
        #expect(statistics.isConserved, "\(statistics)")
        #expect(statistics.total(.dropShutdown) > 0, "\(statistics)")
        #expect(statistics.reported <= 1, "at most the conversion the gate held reached report: \(statistics)")
        #expect(UInt64(reporter.result.samples) == statistics.reported)
        #expect(reporter.flushCount == 1)
        await engine.stop()  // a second stop does nothing
        #expect(engine.statistics() == statistics)
    }

    @Test(arguments: HashCacheThread.allCases)
    func malformedRecordsAreCountedAndSkipped(hashCacheThread: HashCacheThread) async throws {
        var configuration = EngineConfiguration()
        configuration.hashCacheThread = hashCacheThread
        let engine = try StagedEngine(configuration: configuration, processor: UnsymbolizedTraceProcessor(), reporter: TallyReporter())
        try engine.start()
        let garbage = [UInt8](repeating: 0xff, count: 80)
        let outcome = garbage.withUnsafeBytes { bytes in
            engine.source.emit { (trace) throws(RawTraceError) in try trace.load(bytes) }
        }
        #expect(outcome == .malformed)
        let good = syntheticTraces(count: 1, distinct: 1)[0]
        #expect(engine.source.emit { $0 = good } == .queued)
        await engine.stop()
        let statistics = engine.statistics()
        #expect(statistics.total(.malformed) == 1 && statistics.reported == 1 && statistics.isConserved)
    }

    @Test(arguments: HashCacheThread.allCases)
    func aSourceThreadRunsUntilStopAndDrains(hashCacheThread: HashCacheThread) async throws {
        var configuration = EngineConfiguration()
        configuration.hashCacheThread = hashCacheThread
        configuration.cpus = StageCPUs(source: [0], hashCache: [0], symbolize: [[0]], report: [0])
        let reporter = TallyReporter()
        let engine = try StagedEngine(configuration: configuration, processor: UnsymbolizedTraceProcessor(), reporter: reporter)
        try engine.start()
        let traces = syntheticTraces(count: 64, distinct: 16)
        try engine.runSource { source, isStopRequested in
            var i = 0
            while !isStopRequested() {
                source.emit { $0 = traces[i % traces.count] }
                i += 1
                if i % 64 == 0 { source.flush() }
            }
        }
        try await Task.sleep(for: .milliseconds(50))
        await engine.stop()
        let statistics = engine.statistics()
        #expect(statistics.produced > 0)
        #expect(statistics.isConserved, "\(statistics)")
        #expect(UInt64(reporter.result.samples) == statistics.reported)
        let cpu = engine.threadCPUSeconds()
        let hashCacheThreads: Set<String> = hashCacheThread == .own ? ["th-hash-cache"] : []
        #expect(Set(cpu.keys) == hashCacheThreads.union(["th-source", "th-symbolize-0", "th-report"]))
        #expect((cpu["th-source"] ?? 0) > 0, "the source spun for 50 ms: \(cpu)")
    }

    /// With hash/cache on the source's thread a cache hit never takes a pool slot: with the only
    /// slot held by a conversion in progress, hits are still reported, while the source's `drop`
    /// policy turns away the misses that need a slot.
    @Test func hitsOnTheSourceThreadNeedNoSlot() async throws {
        let traces = distinctTraces(count: 3)
        let (cached, held, refused) = (traces[0], traces[1], traces[2])
        var configuration = EngineConfiguration()
        configuration.hashCacheThread = .source
        configuration.rawTraceSlots = 1
        configuration.source.policy = .drop
        configuration.symbolize.policy = .block
        let processor = GatedProcessor(holding: held.hash)
        let reporter = TallyReporter()
        let fixed = configuration
        let (statistics, retries, outcomes) = try await WorkerThread.run(name: "test-body") {
            let engine = try StagedEngine(configuration: fixed, processor: processor, reporter: reporter)
            try engine.start()
            let first = engine.source.emit { $0 = cached }  // a miss: takes the slot
            // The slot comes back with the answer for `cached`, which also caches it; until then
            // the source has no slot for `held` and drops it.
            var retries = 0
            while engine.source.emit({ $0 = held }) == .dropped { retries += 1 }
            // `held` now owns the only slot until the gate opens.
            var outcomes = [first] + (0..<1_000).map { _ in engine.source.emit { $0 = cached } }
            outcomes.append(engine.source.emit { $0 = refused })
            processor.open()
            engine.stopAndWait()
            return (engine.statistics(), retries, outcomes)
        }
        #expect(outcomes.dropLast().allSatisfy { $0 == .queued }, "the first miss and every hit were taken")
        #expect(outcomes.last == .dropped, "a miss needs the slot `held` has")
        #expect(statistics.total(.bpfCacheHit) == 1_000)
        #expect(statistics.total(.dropPoolExhausted) == UInt64(retries + 1))
        #expect(statistics.reported == 1_002 && reporter.result.samples == 1_002)  // cached ×1001, held
        #expect(statistics.isConserved, "\(statistics)")
    }

    /// On the source's thread, a trace that missed can meet its hash's answer while it waits for a
    /// slot (the only one is the first copy's, given back with that answer): it is then a hit, as
    /// in Go's one-trace-at-a-time order, not a second symbolization.
    @Test func aMissWhoseAnswerArrivesWhileItWaitsForASlotIsAHit() async throws {
        let trace = distinctTraces(count: 1)[0]
        var configuration = EngineConfiguration()
        configuration.hashCacheThread = .source
        configuration.rawTraceSlots = 1
        configuration.symbolize.policy = .block
        let (statistics, _) = try await runEngine(
            [trace, trace], configuration: configuration, processor: UnsymbolizedTraceProcessor(), reporter: TallyReporter())
        #expect(statistics.total(.bpfCacheMiss) == 1, "\(statistics)")
        #expect(statistics.total(.bpfCacheHit) == 1, "\(statistics)")
        #expect(statistics.reported == 2 && statistics.isConserved, "\(statistics)")
    }
}

@Suite struct EngineConfigurationTests {
    @Test func defaultsAreValid() throws {
        try EngineConfiguration().validate(allowedCPUs: [0, 1])
    }

    @Test func errorsNameTheKeyTheValueAndTheRange() {
        var c = EngineConfiguration()
        c.symbolize.capacity = 1000
        #expect(throws: ConfigurationError(key: "rings.symbolize.capacity", value: "1000", allowed: "a power of two from 1 to 1048576")) {
            try c.validate(allowedCPUs: [0, 1])
        }
        c = EngineConfiguration()
        c.source.policy = .degrade
        #expect(throws: ConfigurationError(key: "rings.source.policy", value: "degrade", allowed: "block, drop")) {
            try c.validate(allowedCPUs: [0, 1])
        }
        c = EngineConfiguration()
        c.cpus.report = [7]
        #expect(throws: ConfigurationError(key: "cpus.report", value: "7", allowed: "CPUs this process may run on: 0,1")) {
            try c.validate(allowedCPUs: [0, 1])
        }
        c = EngineConfiguration()
        c.symbolizeWorkers = 0
        #expect(throws: ConfigurationError.self) { try c.validate(allowedCPUs: [0]) }
        c = EngineConfiguration()
        c.symbolizeWorkers = 3
        c.cpus.symbolize = [[0], [1]]
        #expect(throws: ConfigurationError.self) { try c.validate(allowedCPUs: [0, 1]) }
        c = EngineConfiguration()
        c.wait.parkTimeout = .microseconds(500)  // the key is in milliseconds: below 1 is refused
        #expect(throws: ConfigurationError.self) { try c.validate(allowedCPUs: [0, 1]) }
    }

    @Test func theEngineRefusesACPUThisMachineLacks() {
        var c = EngineConfiguration()
        c.cpus.hashCache = [4095]
        #expect(throws: ConfigurationError.self) {
            try StagedEngine(configuration: c, processor: UnsymbolizedTraceProcessor(), reporter: TallyReporter())
        }
    }
}

/// Sums samples and off-CPU time by origin, from counts or from events.
private final class OriginTally: TraceReporter, Sendable {
    struct Tally { var samples: [TraceOrigin: Int] = [:]; var offTime: [TraceOrigin: UInt64] = [:] }
    let supportsReportTraceEvent: Bool
    private let state = Mutex(Tally())

    init(supportsReportTraceEvent: Bool) { self.supportsReportTraceEvent = supportsReportTraceEvent }

    var tally: Tally { state.withLock { $0 } }

    func reportFramesForTrace(_ trace: Trace) {}

    func reportCountForTrace(_ traceHash: TraceHash, count: UInt16, meta: TraceEventMeta) { add(Int(count), meta) }

    func reportTraceEvent(_ trace: Trace, meta: TraceEventMeta) { add(1, meta) }

    private func add(_ samples: Int, _ meta: TraceEventMeta) {
        state.withLock {
            $0.samples[meta.origin, default: 0] += samples
            $0.offTime[meta.origin, default: 0] += meta.offTime
        }
    }
}
