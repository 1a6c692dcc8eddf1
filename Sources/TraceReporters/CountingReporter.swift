public import TraceModel
import Synchronization

/// A reporter that only counts what it receives: the cheapest possible sink, for measuring the
/// engine itself. Relaxed atomics: the counts are independent and read after the engine stops.
public final class CountingReporter: TraceReporter {
    private let samples = Atomic<UInt64>(0)
    private let frameReports = Atomic<UInt64>(0)

    /// A reporter with both counts at zero.
    public init() {}

    public var supportsReportTraceEvent: Bool { false }

    public func reportFramesForTrace(_ trace: Trace) { frameReports.add(1, ordering: .relaxed) }

    public func reportCountForTrace(_ traceHash: TraceHash, count: UInt16, meta: TraceEventMeta) {
        samples.add(UInt64(count), ordering: .relaxed)
    }

    public func reportTraceEvent(_ trace: Trace, meta: TraceEventMeta) { samples.add(1, ordering: .relaxed) }

    /// Samples so far: the counts reported, plus one per trace event. Exact once the engine stopped.
    public var sampleCount: UInt64 { samples.load(ordering: .relaxed) }
    /// Calls of `reportFramesForTrace` so far. Exact once the engine stopped.
    public var frameReportCount: UInt64 { frameReports.load(ordering: .relaxed) }
}
