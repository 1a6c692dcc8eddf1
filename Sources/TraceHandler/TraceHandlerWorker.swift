public import Metrics
public import TraceModel

#if canImport(Glibc)
import Glibc
#endif

/// The running trace handler that `start` returns (upstream returns a channel closed on exit).
public struct TraceHandlerWorker: Sendable {
    private let task: Task<Void, Never>
    private let counters: TraceCacheCounters

    init(task: Task<Void, Never>, counters: TraceCacheCounters) {
        self.task = task
        self.counters = counters
    }

    /// Asks the worker to stop, as cancelling upstream's context does: it finishes the trace in hand
    /// and handles no more.
    public func cancel() { task.cancel() }

    /// Returns once the worker has exited: after `cancel()`, after the task that awaits this is
    /// cancelled, or when the trace sequence ends.
    public func exited() async {
        await withTaskCancellationHandler {
            await task.value
        } onCancel: {
            task.cancel()
        }
    }

    /// The cache counters accumulated since start (published intervals plus the current one).
    public func statistics() -> TraceCacheStatistics { counters.cumulative() }
}

/// Starts a worker that handles every trace of `traces` with Go tracehandler semantics: convert on
/// a BPF-cache miss, count on a hit, send frames once per user-mode hash, publish the cache counters
/// every `times.monitorInterval`. Upstream: `tracehandler.Start`.
///
/// The worker exits when it is cancelled (`TraceHandlerWorker.cancel()`) or when `traces` ends.
/// `traces` must end or observe cancellation, as `AsyncStream` does.
///
/// - Throws: `TraceHandlerError` when `cacheSize` is 0 or the monitor interval is not positive.
public func start<Reporter: TraceReporter, Processor: TraceProcessor, Traces: AsyncSequence<RawTrace, Never> & Sendable>(
    reporter: Reporter,
    processor: Processor,
    traces: Traces,
    times: some Times,
    cacheSize: UInt32,
    clock: KTimeConverter = .system(),
    metricsFactory: any MetricsFactory = MetricsSystem.factory
) throws(TraceHandlerError) -> TraceHandlerWorker {
    guard cacheSize > 0 else { throw .invalidCacheSize(cacheSize) }
    let interval = times.monitorInterval
    guard interval > .zero else { throw .invalidMonitorInterval(interval) }

    let counters = TraceCacheCounters(metricsFactory: metricsFactory)
    var core = TraceHandlerCore(
        processor: processor, reporter: reporter, clock: clock, counters: counters, cacheSize: Int(cacheSize))
    let task = Task {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while true {
                    do { try await Task.sleep(for: interval) } catch { return }
                    counters.publishInterval()
                }
            }
            for await trace in traces {
                if Task.isCancelled { break }
                core.handleTrace(trace)
            }
            core.reporter.flush()  // after the last report, whether the traces ended or the worker was cancelled
            group.cancelAll()
        }
    }
    return TraceHandlerWorker(task: task, counters: counters)
}
