public import Metrics
public import TraceModel

/// `HandleTrace` as a plain synchronous call, for a caller that runs its own loop on one thread:
/// the shape of the Go tracehandler without the channel. The benchmarks' serial topology uses it
/// to measure the staged engine against the upstream design in the same run.
public struct SerialTraceHandler<Processor: TraceProcessor, Reporter: TraceReporter>: Sendable {
    private var core: TraceHandlerCore<Processor, Reporter>
    private let counters: TraceCacheCounters

    /// - Precondition: `cacheSize` > 0 (the `start` entry point throws for it instead).
    public init(
        processor: Processor, reporter: Reporter, cacheSize: Int, clock: KTimeConverter = .system(),
        metricsFactory: any MetricsFactory = NOOPMetricsHandler.instance
    ) {
        precondition(cacheSize > 0, "cacheSize must be positive")
        counters = TraceCacheCounters(metricsFactory: metricsFactory)
        core = TraceHandlerCore(
            processor: processor, reporter: reporter, clock: clock, counters: counters, cacheSize: cacheSize)
    }

    /// Handles one trace with upstream's semantics.
    public mutating func handleTrace(_ trace: borrowing RawTrace) { core.handleTrace(trace) }

    /// Publishes the cache counters of the interval since the last call to the metrics factory
    /// given at `init` and starts a new interval (what `start`'s monitor does every
    /// `monitorInterval`); returns that interval's counts.
    @discardableResult
    public func publishInterval() -> TraceCacheStatistics { counters.publishInterval() }

    /// The cache counters so far.
    public func statistics() -> TraceCacheStatistics { counters.cumulative() }
}
