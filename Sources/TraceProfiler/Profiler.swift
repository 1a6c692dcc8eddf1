public import CoreMetrics
import KernelPath
import LinuxSystem
public import Logging
import Symbolization
import Synchronization
import TraceEngine
public import TraceModel

/// A ready profiler: the BPF sampler on every CPU (or one process), the poll stage reading its
/// buffers, the staged engine with the symbolizer (and, in `dwarf` mode, the unwinder), handing
/// every sample to `reporter`. (`TraceServices` makes it a swift-service-lifecycle `Service`.)
///
/// `profile()` samples until the task is cancelled (or, as a `Service`, shut down gracefully); then it
/// stops in the order that loses nothing — the sampler detaches, the poll stage drains the
/// kernel buffers once more, the engine drains its rings, the reporter is flushed — and returns
/// the final statistics. A reporter that is also an `ExecutableReporter` (or a `FanOutReporter`
/// holding one) learns each executable's name and build id.
///
/// Continuous mode: when the reporter is an `IntervalReporter` (`IntervalProfileReporter`), the
/// profiler ends one of its intervals every `report.interval` (± `report.jitter`) while it samples,
/// and the last one once the engine has drained — so a profile that runs for days hands on its
/// samples every few seconds, and every reported sample is in exactly one interval.
///
/// One profile at a time per profiler (a second concurrent `profile()` throws
/// `ProfilerError.alreadyProfiling` before loading anything); it may be run again after it returned.
public final class Profiler<Reporter: TraceReporter>: Sendable {
    /// The configuration, as `init` validated it; every profile runs with it.
    public let configuration: ProfilerConfiguration
    private let reporter: Reporter
    private let logger: Logger
    private let metricsFactory: any MetricsFactory
    private let state = Mutex(State.idle(last: nil))

    private enum State {
        case idle(last: ProfileStatistics?)
        /// Loading the sampler: claimed first, so that a second `profile()` loads nothing.
        case starting(last: ProfileStatistics?)
        case running(Session<Reporter>)
    }

    /// - Parameters:
    ///   - logger: where the profiler and its engine log (debug: starts and stops; notice: drops);
    ///     by default a logger of the program's `LoggingSystem` bootstrap.
    ///   - metricsFactory: where the engine's counters are published (`StagedEngine.init`).
    /// - Throws: `ProfilerError.configuration`, naming the key, the value and what is allowed.
    public init(
        configuration: ProfilerConfiguration = ProfilerConfiguration(), reporter: Reporter,
        logger: Logger = Logger(label: "tracehandler.profiler"), metricsFactory: any MetricsFactory = MetricsSystem.factory
    ) throws(ProfilerError) {
        try configured { () throws(ConfigurationError) in try configuration.validate(allowedCPUs: WorkerThread.allowedCPUs()) }
        self.configuration = configuration
        self.reporter = reporter
        self.logger = logger
        self.metricsFactory = metricsFactory
    }

    /// Samples until the task is cancelled, then stops without losing what was sampled (see the
    /// type's comment).
    ///
    /// - Parameter whenSampling: called once sampling has begun, with the CPUs sampled.
    /// - Returns: the final statistics (`isConserved` holds unless a record was malformed).
    /// - Throws: `ProfilerError` when BPF is not permitted, the sampler cannot be loaded or
    ///   attached, or the engine's threads cannot be made; nothing is left running then.
    @discardableResult
    public func profile(whenSampling: @Sendable ([Int]) -> Void = { _ in }) async throws(ProfilerError) -> ProfileStatistics {
        if let missing = KernelSupport.missingCapability() { throw .missingCapability(missing) }
        let last = try state.withLock { (state) throws(ProfilerError) -> ProfileStatistics? in
            guard case .idle(let last) = state else { throw .alreadyProfiling }
            state = .starting(last: last)
            return last
        }
        let session: Session<Reporter>
        do {
            session = try start()
        } catch {
            state.withLock { $0 = .idle(last: last) }
            throw error
        }
        logger.debug("sampling", metadata: [
            "cpus": "\(session.sampler.cpus.count)", "frequency-hz": "\(configuration.frequency)",
            "pid": "\(configuration.pid.map(String.init) ?? "all")", "unwind": "\(configuration.unwindMode.rawValue)",
        ])
        whenSampling(session.sampler.cpus)
        let intervals = (reporter as? any IntervalReporter).map { reporter in
            Task { [configuration] in await Self.endIntervals(of: reporter, configuration: configuration) }
        }
        do {
            try await session.engine.run(source: session.samplingSource, threadName: "th-poll")
        } catch {
            session.sampler.close()
            await endLastInterval(intervals)
            state.withLock { $0 = .idle(last: last) }
            throw .engine(error)
        }
        // The engine has drained and flushed the reporter: every sample is in the last interval.
        await endLastInterval(intervals)
        let final = session.statistics()
        state.withLock { $0 = .idle(last: final) }
        return final
    }

    /// Ends an interval of `reporter` every `report.interval` (± `report.jitter`) until cancelled.
    private static func endIntervals(of reporter: any IntervalReporter, configuration: ProfilerConfiguration) async {
        var generator = SystemRandomNumberGenerator()
        while true {
            let factor = 1 + Double.random(in: -configuration.reportJitter...configuration.reportJitter, using: &generator)
            do {
                try await Task.sleep(for: configuration.reportInterval * factor)
            } catch {
                return
            }
            reporter.endInterval(at: .now())
        }
    }

    /// Stops the interval task and ends the last interval, after the engine has stopped.
    private func endLastInterval(_ intervals: Task<Void, Never>?) async {
        guard let intervals, let reporter = reporter as? any IntervalReporter else { return }
        intervals.cancel()
        await intervals.value
        reporter.endInterval(at: .now())
    }

    /// The running profile's statistics, from any thread without waiting for the stages; after
    /// a profile, its final statistics; nil before the first.
    public func statistics() -> ProfileStatistics? {
        state.withLock { state in
            switch state {
            case .idle(let last), .starting(let last): last
            case .running(let session): session.statistics()
            }
        }
    }

    /// Loads and attaches the sampler and builds the stages; the engine starts in `run(source:)`.
    private func start() throws(ProfilerError) -> Session<Reporter> {
        let configuration = self.configuration
        let (reporter, logger, metricsFactory) = (self.reporter, self.logger, self.metricsFactory)
        // Files the symbolize workers meet reach the reporter through the report stage.
        let executables = ExecutableQueue()
        let symbolizer = try configured { () throws(ConfigurationError) in
            try NativeSymbolizer(configuration: configuration.symbolizer, executableReporter: executables)
        }
        let unwinder = configuration.unwindMode == .framePointers ? nil : try configured { () throws(ConfigurationError) in
            try DWARFUnwinder(configuration: configuration.unwinder)
        }
        let engine = try configured { () throws(ConfigurationError) in
            try StagedEngine(
                configuration: configuration.profilingEngine, processor: symbolizer, reporter: reporter, unwinder: unwinder,
                executables: executables, metricsFactory: metricsFactory, logger: logger)
        }
        let sampler: Sampler
        let poll: KernelPollStage
        do {
            sampler = try Sampler(
                frequency: configuration.modes.contains(.cpu) ? configuration.frequency : nil,
                offCPU: configuration.modes.contains(.offCPU) ? configuration.offCPU : nil,
                pid: configuration.pid, output: configuration.kernel,
                stackBytes: configuration.unwindMode == .dwarf ? configuration.stackBytes : 0)
            poll = try KernelPollStage(buffers: sampler.buffers, configuration: configuration.kernel, aggregation: sampler.aggregation)
        } catch {
            throw .kernel(error)
        }
        let session = Session<Reporter>(
            sampler: SharedSampler(sampler), poll: poll, engine: engine, symbolizer: symbolizer, unwinder: unwinder,
            bufferKind: configuration.kernel.kind)
        state.withLock { $0 = .running(session) }
        return session
    }
}

/// `body`'s configuration error as a profiler error.
private func configured<T>(_ body: () throws(ConfigurationError) -> T) throws(ProfilerError) -> T {
    do {
        return try body()
    } catch {
        throw .configuration(error)
    }
}

/// One running profile's parts.
private final class Session<Reporter: TraceReporter>: Sendable {
    let sampler: SharedSampler
    let poll: KernelPollStage
    let engine: StagedEngine<NativeSymbolizer, Reporter>
    let symbolizer: NativeSymbolizer
    let unwinder: DWARFUnwinder?
    let bufferKind: KernelOutputConfiguration.Kind

    init(
        sampler: SharedSampler, poll: KernelPollStage, engine: StagedEngine<NativeSymbolizer, Reporter>,
        symbolizer: NativeSymbolizer, unwinder: DWARFUnwinder?, bufferKind: KernelOutputConfiguration.Kind
    ) {
        self.sampler = sampler
        self.poll = poll
        self.engine = engine
        self.symbolizer = symbolizer
        self.unwinder = unwinder
        self.bufferKind = bufferKind
    }

    /// The poll stage, but on a stop request the sampler detaches first: the poll stage's last
    /// drain then finds every record the sampler sent.
    var samplingSource: SamplingSource { SamplingSource(sampler: sampler, poll: poll) }

    func statistics() -> ProfileStatistics {
        let (counters, sampled) = sampler.countersAndDuration()
        return ProfileStatistics(
            startTime: sampler.startTime, duration: sampled, cpus: sampler.cpus, sampler: counters, received: sampler.buffers.totals,
            buffers: sampler.buffers.statistics().map { .init(cpu: $0.cpu, statistics: $0.statistics) },
            aggregation: sampler.aggregation?.statistics, engine: engine.statistics(), symbolizer: symbolizer.statistics(),
            unwinder: unwinder?.statistics(), bufferKind: bufferKind)
    }
}

/// The sampler, shared by the poll thread (which detaches it at the stop) and whoever reads its
/// counters: a lock orders the two, since detaching frees what the counters are read from.
private final class SharedSampler: @unchecked Sendable {
    // @unchecked: `sampler` and `closedAt` are used under `lock`; the rest is immutable after
    // init, and the buffers' statistics are atomics (`PublishedBufferStatistics`).
    private let lock = Mutex(())
    private let sampler: Sampler
    private var closedAt: ContinuousClock.Instant?
    let buffers: KernelBuffers
    let cpus: [Int]
    /// The in-kernel aggregation's drains (kernel.aggregation = bpf); they outlive the sampler.
    let aggregation: KernelAggregation?
    /// When the sampler was attached, on the wall clock and the monotonic one.
    let startTime = UnixTime64.now()
    private let startInstant = ContinuousClock.now

    init(_ sampler: Sampler) {
        self.sampler = sampler
        buffers = sampler.buffers
        cpus = sampler.cpus
        aggregation = sampler.aggregation
    }

    /// The program's counters, and how long it has sampled (until it was detached).
    func countersAndDuration() -> (ProgramCounters, Duration) {
        lock.withLock { _ in (sampler.counters(), (closedAt ?? .now) - startInstant) }
    }

    /// Detaches the sampler. Idempotent.
    func close() {
        lock.withLock { _ in
            sampler.close()
            if closedAt == nil { closedAt = .now }
        }
    }
}

private struct SamplingSource: TraceSource {
    let sampler: SharedSampler
    let poll: KernelPollStage

    func run(into source: EngineSource, isStopRequested: () -> Bool) {
        poll.run(into: source) {
            guard isStopRequested() else { return false }
            sampler.close()
            return true
        }
    }
}
