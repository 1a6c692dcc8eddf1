/// Converts traces as the BPF side sends them into the form reporters receive (upstream
/// `tracehandler.TraceProcessor`). The handler calls it from one thread at a time per instance.
///
/// One requirement is real: `convertTrace(_:into:)`. The others have defaults: no APM agent is
/// notified, nothing is done when symbolization completes, and a trace viewed in place (a
/// `Span` over the engine's slot) is read as a value. The user-mode hash is not the processor's to compute:
/// the handler sets it (`Trace.updateHash()`) after every conversion.
public protocol TraceProcessor: Sendable {
    /// Converts a trace from the BPF side into the user-mode form, in a trace the caller reuses:
    /// symbolizes what it can and keeps every frame, marked, that it cannot. Writes every column
    /// (`Trace.withFrameRows(count:_:)` keeps the columns' capacity, so a processor that uses it
    /// allocates nothing per trace) and `isSymbolized`.
    func convertTrace(_ rawTrace: borrowing RawTrace, into trace: inout Trace)

    /// Notifies an APM agent that may be connected in the trace's process that a stack trace was
    /// collected there. Returns the agent's service name, or "" when no agent listens (the
    /// default).
    func maybeNotifyAPMAgent(_ rawTrace: borrowing RawTrace, umTraceHash: TraceHash, count: UInt16) -> String

    /// `maybeNotifyAPMAgent` for a trace viewed where it lies (the staged engine's slots; the span
    /// holds the one trace and lives for the call). The default calls
    /// `maybeNotifyAPMAgent(_:umTraceHash:count:)` with `rawTrace[0]`.
    func maybeNotifyAPMAgent(inPlace rawTrace: Span<RawTrace>, umTraceHash: TraceHash, count: UInt16) -> String

    /// `convertTrace(_:into:)` for a trace viewed where it lies: the staged engine calls this one,
    /// with a span of the one trace in its slot, valid for the call. The default calls
    /// `convertTrace(_:into:)` with `rawTrace[0]`, which costs a copy of the whole 3 KiB trace: a
    /// `borrowing` argument read from memory the caller does not own exclusively is copied
    /// before a call that is not inlined. A processor that cares implements this one and reads
    /// the trace in place (`RawTrace.withFrames(in:_:)`, `rawTrace[0].pid`, …).
    func convertTrace(inPlace rawTrace: Span<RawTrace>, into trace: inout Trace)

    /// Called after each trace has been handled, with the kernel time the trace was captured at: all
    /// traces up to that time are processed, so events up to it may be processed too. The default
    /// does nothing.
    func symbolizationComplete(traceCaptureKTime: KTime)
}

extension TraceProcessor {
    /// `convertTrace(_:into:)` into a new trace, its hash set: the Go-shaped call, for callers of
    /// their own. Not a requirement: the handlers call only `convertTrace(_:into:)` (or the
    /// in-place form) and hash the result themselves.
    public func convertTrace(_ rawTrace: borrowing RawTrace) -> Trace {
        var trace = Trace(reservingCapacity: rawTrace.frameCount)
        convertTrace(rawTrace, into: &trace)
        trace.updateHash()
        return trace
    }

    // Inlinable, as `symbolizationComplete`: the engine's hit path calls both for every trace, and
    // a processor that keeps the defaults then pays nothing for them (not even the copy of the
    // trace a call across modules would make).
    @inlinable
    public func maybeNotifyAPMAgent(_ rawTrace: borrowing RawTrace, umTraceHash: TraceHash, count: UInt16) -> String {
        ""
    }

    @inlinable
    public func maybeNotifyAPMAgent(inPlace rawTrace: Span<RawTrace>, umTraceHash: TraceHash, count: UInt16) -> String {
        maybeNotifyAPMAgent(rawTrace[0], umTraceHash: umTraceHash, count: count)
    }

    @inlinable
    public func convertTrace(inPlace rawTrace: Span<RawTrace>, into trace: inout Trace) {
        convertTrace(rawTrace[0], into: &trace)
    }

    @inlinable
    public func symbolizationComplete(traceCaptureKTime: KTime) {}
}

/// The processor that converts without symbolizing: every frame keeps its address and kind
/// (`Trace(unsymbolized:)`), no APM agent is ever notified. The trivial processor of benchmarks,
/// and what a trace gets when the engine degrades it under backpressure.
public struct UnsymbolizedTraceProcessor: TraceProcessor {
    /// A processor with no state: one instance may serve every worker.
    public init() {}

    public func convertTrace(_ rawTrace: borrowing RawTrace, into trace: inout Trace) {
        trace.assignUnsymbolized(rawTrace)
    }

    public func convertTrace(inPlace rawTrace: Span<RawTrace>, into trace: inout Trace) {
        trace.assignUnsymbolized(inPlace: rawTrace)
    }
}
