/// Receives handled traces (upstream `reporter.TraceReporter`, the part the tracehandler uses).
///
/// With `supportsReportTraceEvent` false (the default), a reporter gets a count for every sample
/// (`reportCountForTrace`) and the frames of each trace once while it stays in the handler's cache
/// (`reportFramesForTrace`); with it true, every sample arrives whole (`reportTraceEvent`).
/// A reporter implements the two calls of the mode it chooses; `flush()` is optional.
public protocol TraceReporter: Sendable {
    /// The frames of a trace not reported (recently) before.
    func reportFramesForTrace(_ trace: Trace)

    /// `count` more samples of the trace with this hash.
    func reportCountForTrace(_ traceHash: TraceHash, count: UInt16, meta: TraceEventMeta)

    /// One sample with its whole trace; used instead of the two above when supported. The default
    /// hands the trace on as frames and a count (reporters that do not support events never get
    /// this call from the handlers; a fan-out may pass it on).
    func reportTraceEvent(_ trace: Trace, meta: TraceEventMeta)

    /// Whether this reporter wants `reportTraceEvent` for every sample. The default is false.
    var supportsReportTraceEvent: Bool { get }

    /// Called once after the last report: when the engine has stopped, when the handler's worker
    /// exits. A reporter with buffered output writes it there. The default does nothing.
    func flush()
}

extension TraceReporter {
    public func reportTraceEvent(_ trace: Trace, meta: TraceEventMeta) {
        reportCountForTrace(trace.hash, count: 1, meta: meta)
        reportFramesForTrace(trace)
    }

    public var supportsReportTraceEvent: Bool { false }

    public func flush() {}

    /// `reportCountForTrace` for any number of samples (a trace the kernel aggregated stands for
    /// many): Go's count is 16 bits, so more than `UInt16.max` go in several calls. An extension,
    /// not a requirement: reporters keep Go's one call, and every caller splits alike.
    @inlinable
    public func reportCount(_ traceHash: TraceHash, samples: UInt32, meta: TraceEventMeta) {
        var left = samples
        while left > 0 {
            let count = UInt16(clamping: left)
            reportCountForTrace(traceHash, count: count, meta: meta)
            left -= UInt32(count)
        }
    }
}

/// Receives what is known about each executable file a processor met (upstream
/// `reporter.SymbolReporter.ExecutableMetadata`): reporters that name mappings (pprof) learn file
/// names and build ids this way, once per file, apart from the per-trace calls.
public protocol ExecutableReporter: Sendable {
    /// What is known about one file. The same file may come again (the native symbolizer reports
    /// it once per process that maps it). A processor calls it on the thread that is converting;
    /// behind an `ExecutableQueue`, the engine's report thread calls the reporter.
    func reportExecutable(_ metadata: ExecutableMetadata)
}

/// A reporter whose aggregate is handed on interval by interval: a continuous profile. A `Profiler`
/// given one ends an interval every `report.interval` (with jitter) and the last one after the
/// engine has drained, so every reported sample falls in exactly one interval.
public protocol IntervalReporter: TraceReporter {
    /// Ends the current interval at `end` and begins the next. Called by one task at a time, never
    /// on the engine's report thread: it may encode and hand on the interval, but must not wait
    /// on a network.
    func endInterval(at end: UnixTime64)
}
