public import TraceModel

/// Converts traces as the BPF side sends them into the form reporters receive (upstream
/// `tracehandler.TraceProcessor`). The handler calls it from one thread at a time per instance.
public protocol TraceProcessor: Sendable {
    /// Notifies an APM agent that may be connected in the trace's process that a stack trace was
    /// collected there. Returns the agent's service name, or "" when no agent listens.
    func maybeNotifyAPMAgent(_ rawTrace: borrowing RawTrace, umTraceHash: TraceHash, count: UInt16) -> String

    /// Converts a trace from the BPF side into the user-mode form: symbolizes what it can and keeps
    /// every frame, marked, that it cannot.
    func convertTrace(_ rawTrace: borrowing RawTrace) -> Trace

    /// `convertTrace` into a trace the caller reuses. The staged engine calls this, so that a
    /// processor that fills `trace` in place (keeping its columns' capacity) allocates nothing per
    /// trace. The default assigns `convertTrace`'s result.
    func convertTrace(_ rawTrace: borrowing RawTrace, into trace: inout Trace)

    /// `maybeNotifyAPMAgent` for a trace held in memory the caller owns (the staged engine's
    /// slots). Implement only `maybeNotifyAPMAgent(_:umTraceHash:count:)`: the default of this one
    /// calls it, and because that default is inlinable it is compiled for each conforming type,
    /// where the call is direct and the 3 KiB trace is passed by address. (A call through the
    /// protocol to a `borrowing` parameter read from a pointer copies the whole trace first.)
    func maybeNotifyAPMAgent(rawTraceAt rawTrace: UnsafePointer<RawTrace>, umTraceHash: TraceHash, count: UInt16) -> String

    /// `convertTrace(_:into:)` for a trace held in memory the caller owns, for the same reason.
    /// Implement `convertTrace(_:into:)`; the inlinable default of this one calls it.
    func convertTrace(rawTraceAt rawTrace: UnsafePointer<RawTrace>, into trace: inout Trace)

    /// Called after each trace has been handled, with the kernel time the trace was captured at: all
    /// traces up to that time are processed, so events up to it may be processed too.
    func symbolizationComplete(traceCaptureKTime: KTime)
}

extension TraceProcessor {
    public func convertTrace(_ rawTrace: borrowing RawTrace, into trace: inout Trace) {
        trace = convertTrace(rawTrace)
    }

    @inlinable
    public func maybeNotifyAPMAgent(rawTraceAt rawTrace: UnsafePointer<RawTrace>, umTraceHash: TraceHash, count: UInt16) -> String {
        maybeNotifyAPMAgent(rawTrace.pointee, umTraceHash: umTraceHash, count: count)
    }

    @inlinable
    public func convertTrace(rawTraceAt rawTrace: UnsafePointer<RawTrace>, into trace: inout Trace) {
        convertTrace(rawTrace.pointee, into: &trace)
    }
}

/// The processor that converts without symbolizing: every frame keeps its address and kind
/// (`Trace(unsymbolized:)`), no APM agent is ever notified. The trivial processor of benchmarks,
/// and what a trace gets when the engine degrades it under backpressure.
public struct UnsymbolizedTraceProcessor: TraceProcessor {
    public init() {}

    public func maybeNotifyAPMAgent(_ rawTrace: borrowing RawTrace, umTraceHash: TraceHash, count: UInt16) -> String {
        ""
    }

    public func convertTrace(_ rawTrace: borrowing RawTrace) -> Trace { Trace(unsymbolized: rawTrace) }

    public func convertTrace(_ rawTrace: borrowing RawTrace, into trace: inout Trace) {
        trace.assignUnsymbolized(rawTrace)
    }

    public func symbolizationComplete(traceCaptureKTime: KTime) {}
}
