import LinuxSystem
import Logging
import MetricsTestKit
import ServiceLifecycleTestKit
import Synchronization
import Testing
import TraceServices
import TraceEngine
import TraceHandler
import TraceModel

#if canImport(Glibc)
import Glibc
#endif

/// Polls `condition` every millisecond, at most `polls` times; returns whether it became true.
func eventually(polls: Int = 10_000, _ condition: () -> Bool) async -> Bool {
    for _ in 0..<polls {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(1))
    }
    return condition()
}

/// The structured lifecycle: runs that end when their source does, on cancellation or on graceful
/// shutdown, always drained; one source per engine; an engine released while it runs stops.
@Suite struct EngineLifecycleTests {
    static func configuration() -> EngineConfiguration {
        var configuration = EngineConfiguration()
        configuration.symbolize.policy = .block
        return configuration
    }

    /// The traces of `base` over and over, without end, counting what was handed out.
    struct EndlessTraces: Sequence, Sendable {
        let base: [RawTrace]
        let handedOut: Counter

        func makeIterator() -> AnyIterator<RawTrace> {
            var index = 0
            return AnyIterator {
                defer { index = (index + 1) % base.count }
                handedOut.add()
                return base[index]
            }
        }
    }

    final class Counter: Sendable {
        private let value = Atomic<Int>(0)
        func add() { value.add(1, ordering: .relaxed) }
        var count: Int { value.load(ordering: .relaxed) }
    }

    @Test func aFiniteSourceEndsTheRunDrained() async throws {
        let reporter = TallyReporter()
        let engine = try StagedEngine(configuration: Self.configuration(), processor: SlowProcessor(), reporter: reporter)
        let statistics = try await engine.run(source: SequenceTraceSource(syntheticTraces(count: 5_000, distinct: 100)))
        #expect(statistics.reported == 5_000)
        #expect(statistics.isConserved, "\(statistics)")
        #expect(reporter.result.samples == 5_000)
        #expect(reporter.flushCount == 1)
    }

    @Test func anAsyncSequenceIsEmittedFromTheTask() async throws {
        let traces = syntheticTraces(count: 3_000, distinct: 100)
        let (stream, continuation) = AsyncStream.makeStream(of: RawTrace.self)
        for trace in traces { continuation.yield(trace) }
        continuation.finish()
        let reporter = TallyReporter()
        let engine = try StagedEngine(configuration: Self.configuration(), processor: SlowProcessor(), reporter: reporter)
        let statistics = try await engine.run(traces: stream)
        #expect(statistics.reported == 3_000 && statistics.isConserved)
        #expect(reporter.result.samples == 3_000)
    }

    /// Cancelling the task asks an endless source to stop; what it emitted is all reported.
    @Test func cancellationStopsAnEndlessSourceAndDrains() async throws {
        let reporter = TallyReporter()
        let handedOut = Counter()
        let engine = try StagedEngine(configuration: Self.configuration(), processor: SlowProcessor(), reporter: reporter)
        let source = SequenceTraceSource(EndlessTraces(base: syntheticTraces(count: 64, distinct: 64), handedOut: handedOut))
        let run = Task { try await engine.run(source: source) }
        #expect(await eventually { reporter.result.samples > 10_000 })
        run.cancel()
        let statistics = try await run.value
        #expect(statistics.isConserved, "\(statistics)")
        #expect(statistics.reported > 10_000)
        // Every trace taken from the sequence was emitted (the last one after the stop was seen
        // is the only one that may not have been) and reported.
        #expect(Int(statistics.reported) >= handedOut.count - 1)
        #expect(reporter.flushCount == 1)
    }

    /// As a `Service` without a source of its own: the caller's thread emits; graceful shutdown
    /// ends the run after draining.
    @Test func gracefulShutdownEndsTheServiceRun() async throws {
        let reporter = TallyReporter()
        let engine = try StagedEngine(configuration: Self.configuration(), processor: SlowProcessor(), reporter: reporter)
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await engine.run() }
                #expect(await eventually { engine.hasStarted })
                // Emitted from one thread (the entry ring's single producer), before the shutdown.
                try await WorkerThread.run(name: "test-emitter") {
                    for trace in syntheticTraces(count: 2_000, distinct: 50) { engine.source.emit(trace) }
                }
                trigger.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        }
        #expect(engine.statistics().reported == 2_000 && engine.statistics().isConserved)
        #expect(reporter.flushCount == 1)
    }

    @Test func anEngineRunsOnceWithOneSource() async throws {
        let engine = try StagedEngine(configuration: Self.configuration(), processor: SlowProcessor(), reporter: TallyReporter())
        try engine.start()
        #expect(throws: EngineError.alreadyStarted) { try engine.start() }
        try engine.runSource { _, isStopRequested in while !isStopRequested() { usleep(1_000) } }
        #expect(throws: EngineError.sourceAlreadyRunning) { try engine.runSource { _, _ in } }
        await #expect(throws: EngineError.alreadyStarted) { try await engine.run(traces: AsyncStream<RawTrace> { $0.finish() }) }
        await #expect(throws: EngineError.alreadyStarted) { try await engine.run(source: SequenceTraceSource([RawTrace]())) }
        await engine.stop()
        #expect(engine.statistics().isConserved)

        // A source thread after the stop would never be joined.
        #expect(throws: EngineError.notRunning) { try engine.runSource { _, _ in } }

        // Stopped before it ever started: starting now would make threads no stop would join.
        let unstarted = try StagedEngine(configuration: Self.configuration(), processor: SlowProcessor(), reporter: TallyReporter())
        #expect(throws: EngineError.notRunning) { try unstarted.runSource { _, _ in } }
        await unstarted.stop()
        #expect(throws: EngineError.alreadyStarted) { try unstarted.start() }
    }

    /// Two stops at once: the second waits for the first's joins, so after either returns the
    /// engine has drained (before, the second returned at once with traces in flight).
    @Test func aConcurrentStopWaitsForTheFirst() async throws {
        let engine = try StagedEngine(
            configuration: Self.configuration(), processor: SlowProcessor(), reporter: TallyReporter(delay: .microseconds(50)))
        try engine.start()
        for trace in syntheticTraces(count: 2_000, distinct: 2_000) { engine.source.emit(trace) }
        let conserved = try await withThrowingTaskGroup(of: Bool.self) { group in
            for stopper in 0..<2 {
                group.addTask {
                    try await WorkerThread.run(name: "test-stop-\(stopper)") {
                        engine.stopAndWait()
                        return engine.statistics().isConserved
                    }
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(conserved == [true, true], "\(engine.statistics())")
    }

    /// A live sequence that pauses: what it yielded is reported without waiting for a full batch.
    @Test func aPausedAsyncSequenceIsReportedAtOnce() async throws {
        let (stream, continuation) = AsyncStream.makeStream(of: RawTrace.self)
        for trace in syntheticTraces(count: 3, distinct: 3) { continuation.yield(trace) }  // and then nothing
        let reporter = TallyReporter()
        let engine = try StagedEngine(configuration: Self.configuration(), processor: SlowProcessor(), reporter: reporter)
        let run = Task { try await engine.run(traces: stream) }
        #expect(await eventually { reporter.result.samples == 3 })
        run.cancel()
        let statistics = try await run.value
        #expect(statistics.reported == 3 && statistics.isConserved)
        continuation.finish()
    }

    /// Dropping the last reference to a running engine stops and joins its threads, draining:
    /// the reporter gets every sample and its flush.
    @Test func releasingARunningEngineStopsIt() async throws {
        let reporter = TallyReporter()
        let emitted = Counter()
        let sourceReturned = Counter()
        do {
            let engine = try StagedEngine(configuration: Self.configuration(), processor: SlowProcessor(), reporter: reporter)
            try engine.start()
            let traces = syntheticTraces(count: 32, distinct: 32)
            try engine.runSource { source, isStopRequested in
                var index = 0
                while !isStopRequested() {
                    source.emit(traces[index % traces.count])
                    emitted.add()
                    index += 1
                }
                sourceReturned.add()
            }
            #expect(await eventually { reporter.result.samples > 1_000 })
        }
        // Only a stop makes the source return and the reporter flush; joined, so all is counted.
        #expect(sourceReturned.count == 1)
        #expect(reporter.result.samples == emitted.count)
        #expect(reporter.flushCount == 1)
    }
}

/// The engine's counters through swift-metrics: published while a run goes on, and final after it.
@Suite struct EngineMetricsTests {
    @Test func countersArePublishedDuringAndAfterARun() async throws {
        let metrics = TestMetrics()
        let reporter = TallyReporter()
        let handedOut = EngineLifecycleTests.Counter()
        var configuration = EngineLifecycleTests.configuration()
        configuration.hashCacheThread = .own  // the source ring, whose high-water mark is checked, is in use
        let engine = try StagedEngine(
            configuration: configuration, processor: SlowProcessor(), reporter: reporter,
            metricsFactory: metrics, metricsInterval: .milliseconds(10))
        let source = SequenceTraceSource(
            EngineLifecycleTests.EndlessTraces(base: syntheticTraces(count: 64, distinct: 64), handedOut: handedOut))
        let run = Task { try await engine.run(source: source) }
        // While running: some reports are already published.
        #expect(await eventually { metrics.counterTotal(label: "tracehandler_engine_reported_total") > 1_000 })
        run.cancel()
        let statistics = try await run.value
        #expect(metrics.counterTotal(label: "tracehandler_engine_reported_total") == Int64(statistics.reported))
        #expect(metrics.counterTotal(label: "tracehandler_engine_received_total", dimensions: [("stage", "source")]) == Int64(statistics.produced))
        #expect(try metrics.expectGauge("tracehandler_engine_ring_high_water", [("stage", "source")]).lastValue ?? 0 > 0)
    }
}

/// The engine's log lines through swift-log: start and stop at debug, a stop's drops at notice.
@Suite struct EngineLoggingTests {
    struct CapturingLogHandler: LogHandler {
        let captured: Lines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            captured.lines.withLock { $0.append((event.level, "\(event.message)", event.metadata ?? [:])) }
        }
    }

    final class Lines: Sendable {
        let lines = Mutex<[(Logger.Level, String, Logger.Metadata)]>([])
    }

    @Test func dropsAreLoggedByReason() async throws {
        let captured = Lines()
        let logger = Logger(label: "test") { _ in CapturingLogHandler(captured: captured) }
        var configuration = EngineConfiguration()
        configuration.report = EdgeConfiguration(capacity: 4, policy: .drop)
        configuration.symbolize.policy = .block
        let engine = try StagedEngine(
            configuration: configuration, processor: SlowProcessor(), reporter: TallyReporter(delay: .microseconds(20)), logger: logger)
        let statistics = try await engine.run(source: SequenceTraceSource(syntheticTraces(count: 20_000, distinct: 20, zipf: 0)))
        let lines = captured.lines.withLock { $0 }
        #expect(lines.contains { $0.0 == .debug && $0.1 == "engine started" })
        #expect(lines.contains { $0.0 == .debug && $0.1 == "engine stopped" && $0.2["reported"] == "\(statistics.reported)" })
        let drops = try #require(lines.first { $0.0 == .notice })
        #expect(drops.1 == "engine dropped \(statistics.dropped) of 20000 traces")
        #expect(drops.2["drop_report_ring_full"] == "\(statistics.total(.dropReportRingFull))")
    }
}
