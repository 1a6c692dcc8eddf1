public import TraceModel

/// Hands every report to several reporters, in order: the engine's one reporter when an agent
/// writes more than one output. Trace events are used only when every reporter supports them;
/// otherwise all of them get counts and frames (every reporter implements both). Executables are
/// passed on to the reporters that want them (`ExecutableReporter`).
public struct FanOutReporter: TraceReporter, ExecutableReporter {
    /// The reporters, in the order each report reaches them.
    public let reporters: [any TraceReporter]
    /// True only when there is a reporter and every one supports trace events.
    public let supportsReportTraceEvent: Bool

    /// Hands reports to `reporters`, in this order; with none, reports go nowhere.
    public init(_ reporters: [any TraceReporter]) {
        self.reporters = reporters
        supportsReportTraceEvent = !reporters.isEmpty && reporters.allSatisfy(\.supportsReportTraceEvent)
    }

    public func reportFramesForTrace(_ trace: Trace) {
        for reporter in reporters { reporter.reportFramesForTrace(trace) }
    }

    public func reportCountForTrace(_ traceHash: TraceHash, count: UInt16, meta: TraceEventMeta) {
        for reporter in reporters { reporter.reportCountForTrace(traceHash, count: count, meta: meta) }
    }

    public func reportTraceEvent(_ trace: Trace, meta: TraceEventMeta) {
        for reporter in reporters { reporter.reportTraceEvent(trace, meta: meta) }
    }

    public func flush() {
        for reporter in reporters { reporter.flush() }
    }

    /// Passes the file on to each reporter that is an `ExecutableReporter`, in order.
    public func reportExecutable(_ metadata: ExecutableMetadata) {
        for case let reporter as any ExecutableReporter in reporters { reporter.reportExecutable(metadata) }
    }
}
