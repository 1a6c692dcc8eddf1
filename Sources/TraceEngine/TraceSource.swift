import TraceModel

/// What feeds an engine that runs to its end (`StagedEngine.run(source:)`, or the `Service` run of
/// an engine made with one): a producer of raw traces that emits on the engine's source thread,
/// pinned to `cpus.source`, until it is exhausted or asked to stop. The kernel path's poll stage
/// is one; `SequenceTraceSource` adapts a sequence.
///
/// It may block (read a device, wait for data): it has a thread of its own. For traces that
/// arrive through an `AsyncSequence`, use `StagedEngine.run(traces:)` instead. A source that
/// emits in batches calls `source.flush()` after each, as the poll stage does after each read of
/// the kernel's buffers: the stages after it are woken then, once for the whole batch. Without
/// it they are woken at least every millisecond of emitting, and every `batch` traces are
/// published.
public protocol TraceSource: Sendable {
    /// Emits into `source` until there is nothing left — returning then ends the run: the engine
    /// drains and stops — or until `isStopRequested()` turns true, when it should return soon.
    /// Called once, on the source thread; `source` is valid only during the call.
    func run(into source: EngineSource, isStopRequested: () -> Bool)
}

/// A finite (or endless) sequence of raw traces as a source: each is emitted in turn, and the
/// run ends after the last.
public struct SequenceTraceSource<Traces: Sequence<RawTrace> & Sendable>: TraceSource {
    /// The traces, emitted in the sequence's order.
    public let traces: Traces

    /// A source that emits each of `traces` in turn; the run ends after the last, or at a stop.
    public init(_ traces: Traces) { self.traces = traces }

    public func run(into source: EngineSource, isStopRequested: () -> Bool) {
        for trace in traces {
            if isStopRequested() { return }
            source.emit(trace)
        }
    }
}
