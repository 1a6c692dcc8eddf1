import LinuxSystem
import Synchronization
import TraceHandler
import TraceModel

/// The staged trace engine: hash/cache → symbolize (k workers) → report, each stage on its own
/// (optionally pinned) thread, fed by an `EngineSource`, with Go tracehandler semantics end to end.
///
/// Lifecycle: `init` validates the configuration and allocates every ring and pool (nothing is
/// allocated per trace afterwards by the engine itself; processors and reporters may); `start` spawns the stage threads; traces are emitted through
/// the source, either by the caller's thread (`source`) or by a thread the engine runs
/// (`runSource`); `stop` finishes the source, lets every stage drain its rings in order, flushes
/// the reporter and joins the threads. A second `stop` does nothing.
public final class TraceEngine<Processor: TraceProcessor, Reporter: TraceReporter>: @unchecked Sendable {
    // @unchecked: `threads` and `sourceThread` are guarded by `lifecycle`.
    public let configuration: EngineConfiguration
    private let wiring: EngineWiring
    private let processor: Processor
    private let reporter: Reporter
    private let hashCache: HashCacheStage<Processor, Reporter>
    private let lifecycle = Mutex(Lifecycle())
    private let stopRequested = Atomic<Bool>(false)

    /// The source to emit into from one thread of the caller's choosing.
    public let source: EngineSource

    private struct Lifecycle {
        var started = false
        var stopped = false
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

    /// - Parameter unwinder: walks the user stack snapshots records may carry, on
    ///   `configuration.unwind.workers` threads (`SourceStage.emitRecord`). Without one (or with
    ///   no workers), such records go on with their frame-pointer stacks.
    public init(
        configuration: EngineConfiguration, processor: Processor, reporter: Reporter,
        unwinder: (any SnapshotUnwinder)? = nil, clock: KTimeConverter = .system()
    ) throws(ConfigurationError) {
        try configuration.validate(allowedCPUs: WorkerThread.allowedCPUs())
        self.configuration = configuration
        self.processor = processor
        self.reporter = reporter
        wiring = EngineWiring(configuration: configuration, clock: clock, unwinder: unwinder)
        hashCache = HashCacheStage(wiring: wiring, processor: processor, reporter: reporter)
        source = EngineSource(parts: wiring, inlineHashCache: configuration.hashCacheThread == .source ? hashCache : nil)
    }

    /// Spawns the stage threads, pinned as configured.
    public func start() throws(SystemError) {
        try lifecycle.withLock { (state) throws(SystemError) in
            precondition(!state.started, "TraceEngine started twice")
            state.started = true
            let c = configuration
            let report = ReportStage(wiring: wiring, reporter: reporter)
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
    }

    /// Runs `body` on a source thread (pinned to `cpus.source`) with the engine's source; `body`
    /// should emit until `isStopRequested` turns true. The source is finished when `body` returns.
    public func runSource(name: String = "th-source", _ body: @escaping @Sendable (EngineSource, _ isStopRequested: () -> Bool) -> Void) throws(SystemError) {
        let source = self.source
        try lifecycle.withLock { (state) throws(SystemError) in
            state.sourceThread = try spawnMeasured(name, cpus: configuration.cpus.source, into: &state) { [self] in
                // Acquiring: pairs with `stopAndJoin`'s releasing store, so a source that sees the
                // stop also sees `abandoned` set before it (a plain load on x86-64, as relaxed is).
                body(source) { self.stopRequested.load(ordering: .acquiring) }
                source.finish()
            }
        }
    }

    /// A thread that records its CPU time under its name when `body` returns.
    private func spawnMeasured(
        _ name: String, cpus: [Int]?, into state: inout Lifecycle, _ body: @escaping @Sendable () -> Void
    ) throws(SystemError) -> WorkerThread {
        let meter = ThreadCPUMeter(name)
        state.meters.append(meter)
        return try WorkerThread.spawn(name: name, cpus: cpus) {
            let start = ThreadCPUTime.seconds()
            body()
            meter.nanoseconds.store(UInt64((ThreadCPUTime.seconds() - start) * 1e9), ordering: .releasing)
        }
    }

    /// CPU seconds each engine thread (stages and the source thread) used, by thread name. Read
    /// it after `stop`: a thread stores its time as it ends.
    public func threadCPUSeconds() -> [String: Double] {
        lifecycle.withLock { state in
            Dictionary(state.meters.map { ($0.name, Double($0.nanoseconds.load(ordering: .acquiring)) / 1e9) }, uniquingKeysWith: +)
        }
    }

    /// Stops the engine and joins its threads; blocks until done; safe to call more than once.
    ///
    /// - `drain: true` (the default): stops a source thread, finishes the source, lets every stage
    ///   drain its rings in order, flushes the reporter. Nothing offered before is lost.
    /// - `drain: false`: every stage leaves its loop and every wait gives up at once; the
    ///   reporter is still flushed. What was still in the engine is counted as `dropShutdown`, so
    ///   the conservation law holds either way: after `stop`, `statistics().isConserved`.
    ///
    /// A caller that emits from its own thread must have stopped emitting.
    public func stop(drain: Bool = true) { stopAndJoin(drain: drain) }

    private func stopAndJoin(drain: Bool) {
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
        stopRequested.store(true, ordering: .releasing)  // after `abandoned`: pairs with `isStopRequested`
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
    }

    /// `stop(drain:)` without blocking the caller's executor: the joins run on a helper thread (or
    /// here, if no thread can be made).
    public func stop(drain: Bool = true) async {
        do {
            try await WorkerThread.run(name: "th-stop") { self.stopAndJoin(drain: drain) }
        } catch {
            stopAndJoin(drain: drain)
        }
    }

    /// Whether `stop` has begun (and, for `stop(drain: false)`, the stages been told to leave).
    public var isStopRequested: Bool { stopRequested.load(ordering: .acquiring) }

    /// Every stage's counters now (exact after `stop`).
    public func statistics() -> EngineStatistics { wiring.statistics() }
}
