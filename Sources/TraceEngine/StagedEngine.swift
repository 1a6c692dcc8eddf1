public import CoreMetrics
import LinuxSystem
public import Logging
import Synchronization
import TraceModel

/// The staged trace engine: hash/cache → symbolize (k workers) → report, each stage on its own
/// (optionally pinned) thread, fed by an `EngineSource`, with Go tracehandler semantics end to end.
///
/// Lifecycle: `init` validates the configuration and allocates every ring and pool (nothing is
/// allocated per trace afterwards by the engine itself; processors and reporters may). Then
/// either
/// - structured: `run(source:)` (a `TraceSource` on the engine's source thread),
///   `run(traces:)` (an `AsyncSequence`) or `runUntilStopped()` (the source given at `init`)
///   start the threads, return when the source is exhausted or the task is cancelled — after the
///   engine has drained — and give the final statistics; `TraceServices` makes the engine a
///   swift-service-lifecycle `Service`, which graceful shutdown ends the same way; or
/// - by hand: `start` spawns the stage threads; traces are emitted through `source` by one thread
///   of the caller's, or by a thread the engine runs (`runSource`); `stop` finishes the source,
///   lets every stage drain its rings in order, flushes the reporter and joins the threads. A
///   second `stop` does nothing.
///
/// An engine runs once and has one source. Releasing a running engine stops it, draining, as
/// `stop()` does (the thread emitting into `source`, if the caller runs one, must have stopped).
public final class StagedEngine<Processor: TraceProcessor, Reporter: TraceReporter>: @unchecked Sendable {
    // @unchecked: `threads` and `sourceThread` are guarded by `lifecycle`.
    /// The configuration the engine was built with, as `init` validated it.
    public let configuration: EngineConfiguration
    private let wiring: EngineWiring
    private let processor: Processor
    private let reporter: Reporter
    private let hashCache: HashCacheStage<Processor, Reporter>
    private let lifecycle = Mutex(Lifecycle())
    /// Held for a whole stop, joins included: a second, concurrent stop waits for the first to
    /// finish instead of returning while the stages still drain.
    private let stopping = Mutex(())
    /// Held apart from `self` so that the source thread does not keep the engine alive.
    private let stopRequest = StopRequest()
    /// What `runUntilStopped()` (the `Service` entry) runs, when given at `init`.
    let traceSource: (any TraceSource)?
    private let executables: ExecutableQueue?
    let metrics: EngineMetrics
    private let logger: Logger
    let metricsInterval: Duration

    /// The source to emit into from one thread of the caller's choosing.
    public let source: EngineSource

    private struct Lifecycle {
        var started = false
        var stopped = false
        var hasSource = false
        var stageThreads: [WorkerThread] = []
        var sourceThread: WorkerThread?
        /// One per engine thread, written by that thread as it ends.
        var meters: [ThreadCPUMeter] = []
    }

    /// A thread's CPU time, stored by the thread itself when it ends (an atomic, not a lock:
    /// ThreadSanitizer sees atomics and the join that orders them, not futex-based locks).
    final class ThreadCPUMeter: Sendable {
        let name: String
        let nanoseconds = Atomic<UInt64>(0)
        init(_ name: String) { self.name = name }
    }

    /// - Parameters:
    ///   - unwinder: walks the user stack snapshots records may carry, on
    ///     `configuration.unwind.workers` threads (`EngineSource.emitRecord`). Without one (or with
    ///     no workers), such records go on with their frame-pointer stacks.
    ///   - executables: the queue the processor reports executable files to (its
    ///     `ExecutableReporter`); the report stage hands them to the reporter, if it is an
    ///     `ExecutableReporter` too, so that the report thread stays the reporter's only caller.
    ///   - metricsFactory: where the engine's counters are published (`EngineMetrics`): by
    ///     default the factory the program bootstrapped (`MetricsSystem.bootstrap`), a no-op if
    ///     none. Published every `metricsInterval` during a structured run, and after a stop.
    ///   - logger: where the engine says when it starts and stops (debug) and what a stop had to
    ///     drop (notice); by default a logger of the program's `LoggingSystem` bootstrap.
    ///   - traceSource: what `runUntilStopped()` (and the `Service` run) runs on the source
    ///     thread; without one, they run until cancelled while the caller emits into `source`.
    ///   - clock: converts the records' CLOCK_MONOTONIC times to the wall-clock timestamps
    ///     reporters receive (`TraceEventMeta.timestamp`); by default this boot's offset, read here.
    /// - Throws: `ConfigurationError` naming the key, the value and what is allowed.
    public init(
        configuration: EngineConfiguration, processor: Processor, reporter: Reporter,
        unwinder: (any SnapshotUnwinder)? = nil, executables: ExecutableQueue? = nil, traceSource: (any TraceSource)? = nil,
        metricsFactory: any MetricsFactory = MetricsSystem.factory, metricsInterval: Duration = .seconds(1),
        logger: Logger = Logger(label: "tracehandler.engine"), clock: KTimeConverter = .system()
    ) throws(ConfigurationError) {
        try configuration.validate(allowedCPUs: WorkerThread.allowedCPUs())
        self.configuration = configuration
        self.traceSource = traceSource
        self.executables = executables
        metrics = EngineMetrics(factory: metricsFactory)
        self.logger = logger
        self.metricsInterval = metricsInterval
        self.processor = processor
        self.reporter = reporter
        wiring = EngineWiring(configuration: configuration, clock: clock, unwinder: unwinder)
        hashCache = HashCacheStage(wiring: wiring, processor: processor, reporter: reporter)
        source = EngineSource(parts: wiring, inlineHashCache: configuration.hashCacheThread == .source ? hashCache : nil)
    }

    /// Stops the threads of an engine released while it runs, draining (see the type's comment).
    deinit {
        stopAndJoin(drain: true)
    }

    /// Spawns the stage threads, pinned as configured.
    ///
    /// - Throws: `EngineError.alreadyStarted` the second time; `.system` when a thread could not
    ///   be made (those already made are stopped by `stop` or the release of the engine).
    public func start() throws(EngineError) {
        try lifecycle.withLock { (state) throws(EngineError) in
            // Once: after a stop (even one before any start) threads would outlive the last join.
            guard !state.started && !state.stopped else { throw .alreadyStarted }
            state.started = true
            let c = configuration
            let report = ReportStage(wiring: wiring, reporter: reporter, executables: executables)
            if c.hashCacheThread == .own {
                let hash = hashCache
                state.stageThreads.append(try spawnMeasured("th-hash-cache", cpus: c.cpus.hashCache, into: &state) { hash.run() })
            }
            if let unwind = wiring.unwind {
                let wiring = self.wiring
                for worker in 0..<c.unwind.workers {
                    state.stageThreads.append(try spawnMeasured("th-unwind-\(worker)", cpus: c.cpus.unwind, into: &state) {
                        unwind.runWorker(worker, sourceBell: wiring.sourceBell, isAbandoned: { wiring.isAbandoned })
                    })
                }
            }
            for worker in 0..<c.symbolizeWorkers {
                let stage = SymbolizeStage(wiring: wiring, processor: processor, worker: worker)
                state.stageThreads.append(
                    try spawnMeasured("th-symbolize-\(worker)", cpus: c.symbolizeCPUs(worker: worker), into: &state) { stage.run() })
            }
            state.stageThreads.append(try spawnMeasured("th-report", cpus: c.cpus.report, into: &state) { report.run() })
        }
        logger.debug("engine started", metadata: [
            "symbolize-workers": "\(configuration.symbolizeWorkers)", "unwind-workers": "\(configuration.unwind.workers)",
            "hash-cache-thread": "\(configuration.hashCacheThread)",
        ])
    }

    /// Runs `body` on a source thread (pinned to `cpus.source`) with the engine's source; `body`
    /// should emit until `isStopRequested` turns true. The source is finished when `body` returns.
    ///
    /// - Throws: `EngineError.notRunning` before `start` or after a stop (the stop would not join
    ///   the thread), `.sourceAlreadyRunning` if the engine has a source already, `.system` when
    ///   the thread could not be made.
    public func runSource(name: String = "th-source", _ body: @escaping @Sendable (EngineSource, _ isStopRequested: () -> Bool) -> Void) throws(EngineError) {
        let (source, stopRequest) = (self.source, self.stopRequest)
        try lifecycle.withLock { (state) throws(EngineError) in
            // A source thread is joined by the stop only if it exists before the stop begins.
            guard state.started && !state.stopped else { throw .notRunning }
            guard !state.hasSource else { throw .sourceAlreadyRunning }
            state.hasSource = true
            state.sourceThread = try spawnMeasured(name, cpus: configuration.cpus.source, into: &state) {
                body(source) { stopRequest.isRequested }
                source.finish()
            }
        }
    }

    /// Marks the source taken by a caller that emits from a task (`run(traces:)`).
    func claimSource() throws(EngineError) {
        try lifecycle.withLock { (state) throws(EngineError) in
            guard state.started && !state.stopped else { throw .notRunning }
            guard !state.hasSource else { throw .sourceAlreadyRunning }
            state.hasSource = true
        }
    }

    /// A thread that records its CPU time under its name when `body` returns.
    private func spawnMeasured(
        _ name: String, cpus: [Int]?, into state: inout Lifecycle, _ body: @escaping @Sendable () -> Void
    ) throws(EngineError) -> WorkerThread {
        let meter = ThreadCPUMeter(name)
        state.meters.append(meter)
        do {
            return try WorkerThread.spawn(name: name, cpus: cpus) {
                let start = ThreadCPUTime.seconds()
                body()
                meter.nanoseconds.store(UInt64((ThreadCPUTime.seconds() - start) * 1e9), ordering: .releasing)
            }
        } catch {
            throw .system(error)
        }
    }

    /// CPU seconds each engine thread (stages and the source thread) used, by thread name. Read
    /// it after `stop`: a thread stores its time as it ends.
    public func threadCPUSeconds() -> [String: Double] {
        lifecycle.withLock { state in
            Dictionary(state.meters.map { ($0.name, Double($0.nanoseconds.load(ordering: .acquiring)) / 1e9) }, uniquingKeysWith: +)
        }
    }

    /// Stops the engine and joins its threads, blocking the calling thread until done (from a
    /// task, `await stop(drain:)` instead); safe to call more than once.
    ///
    /// - `drain: true` (the default): stops a source thread, finishes the source, lets every stage
    ///   drain its rings in order, flushes the reporter. Nothing offered before is lost.
    /// - `drain: false`: every stage leaves its loop and every wait gives up at once; the
    ///   reporter is still flushed. What was still in the engine is counted as `dropShutdown`, so
    ///   the conservation law holds either way: after `stop`, `statistics().isConserved`.
    ///
    /// A caller that emits from its own thread must have stopped emitting.
    public func stopAndWait(drain: Bool = true) { stopAndJoin(drain: drain) }

    private func stopAndJoin(drain: Bool) {
        stopping.withLock { _ in stopAndJoinOnce(drain: drain) }
    }

    private func stopAndJoinOnce(drain: Bool) {
        let (threads, sourceThread) = lifecycle.withLock { state -> ([WorkerThread], WorkerThread?) in
            guard !state.stopped else { return ([], nil) }
            state.stopped = true
            defer {
                state.stageThreads = []
                state.sourceThread = nil
            }
            return (state.stageThreads, state.sourceThread)
        }
        if !drain {
            wiring.abandoned.store(true, ordering: .relaxed)
            Doorbell.ring([wiring.sourceBell, wiring.hashBell, wiring.reportBell] + wiring.workerBells)  // parked stages look
        }
        stopRequest.request()  // after `abandoned`: a source that sees the stop sees it
        if let sourceThread {
            sourceThread.join()  // its body returned and finished the source
        } else if !threads.isEmpty {
            source.finish()  // the caller emitted; it must have stopped doing so
        }
        for thread in threads { thread.join() }
        if !drain {
            // Every thread is joined: the source's counters are this thread's now.
            let left = wiring.statistics().inFlight
            if left > 0 { wiring.sourceCounters.add(.dropShutdown, UInt64(left)) }
        }
        guard !threads.isEmpty else { return }
        let statistics = wiring.statistics()
        metrics.publish(statistics)  // the final counts
        logger.debug("engine stopped", metadata: [
            "produced": "\(statistics.produced)", "reported": "\(statistics.reported)", "dropped": "\(statistics.dropped)",
        ])
        if statistics.dropped > 0 {
            var reasons: Logger.Metadata = [:]
            for counter in EngineCounter.drops + [.malformed] where statistics.total(counter) > 0 {
                reasons["\(counter)"] = "\(statistics.total(counter))"
            }
            logger.notice("engine dropped \(statistics.dropped) of \(statistics.produced) traces", metadata: reasons)
        }
    }

    /// Stops the engine as `stopAndWait(drain:)` does, without blocking the caller's executor:
    /// the joins run on a helper thread (or here, if no thread can be made).
    public func stop(drain: Bool = true) async {
        do {
            try await WorkerThread.run(name: "th-stop") { self.stopAndJoin(drain: drain) }
        } catch {
            stopAndJoin(drain: drain)
        }
    }

    /// Whether the stage threads have been started (`start`, or a `run`).
    public var hasStarted: Bool { lifecycle.withLock { $0.started } }

    /// Whether `stop` has begun (and, for `stop(drain: false)`, the stages been told to leave).
    public var isStopRequested: Bool { stopRequest.isRequested }

    /// Requests a stop without waiting for it: the source is asked to return (`isStopRequested`).
    func requestStop() { stopRequest.request() }

    /// Every stage's counters now (exact after `stop`).
    public func statistics() -> EngineStatistics { wiring.statistics() }
}

/// The engine's stop request, shared with the source thread without the engine itself.
final class StopRequest: Sendable {
    private let requested = Atomic<Bool>(false)

    /// Releasing: pairs with `isRequested`, so a source that sees the stop also sees what was
    /// stored before it (`abandoned`, for a stop that does not drain).
    func request() { requested.store(true, ordering: .releasing) }

    /// Acquiring (a plain load on x86-64, as relaxed is).
    var isRequested: Bool { requested.load(ordering: .acquiring) }
}
