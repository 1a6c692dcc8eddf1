import Synchronization
public import TraceModel

// The structured lifecycle: one call that starts the engine, feeds it, and returns once it has
// drained, with the final statistics. (`TraceServices` adds swift-service-lifecycle's `Service`,
// where graceful shutdown ends a run as cancellation does.)
extension StagedEngine {
    /// Starts the engine, runs `source` on the source thread (pinned to `cpus.source`) and returns
    /// when the source is exhausted or the task is cancelled (the source is asked to stop) — in
    /// either case after the engine has drained and stopped.
    ///
    /// - Parameter threadName: the source thread's name (as `top -H` shows it).
    /// - Returns: the final statistics (`isConserved` holds).
    /// - Throws: `EngineError` if the engine has started or has a source already, or a thread
    ///   could not be made.
    @discardableResult
    public func run(source traceSource: some TraceSource, threadName: String = "th-source") async throws(EngineError) -> EngineStatistics {
        try await startOrStop()
        let ended = EndSignal()
        do {
            try runSource(name: threadName) { source, isStopRequested in
                traceSource.run(into: source, isStopRequested: isStopRequested)
                ended.raise()
            }
        } catch {
            await stop()
            throw error
        }
        await withTaskCancellationHandler {
            await publishingMetrics { await ended.wait() }
        } onCancel: { [self] in
            requestStop()
        }
        await stop()
        return statistics()
    }

    /// Starts the engine and emits every trace of `traces` from this task; returns when the
    /// sequence ends or the task is cancelled (an `AsyncStream` ends its iteration then), after
    /// the engine has drained and stopped.
    ///
    /// Each trace is published as it is emitted (a live sequence may pause for long). Under
    /// policy `block` a full entry ring makes `emit` wait on the thread this task runs on, as any
    /// blocking call would: at high rates, prefer a `TraceSource` and its own thread, which
    /// publishes in batches.
    ///
    /// - Returns: the final statistics (`isConserved` holds).
    /// - Throws: as `run(source:)`.
    @discardableResult
    public func run<Traces: AsyncSequence<RawTrace, Never> & Sendable>(traces: Traces) async throws(EngineError) -> EngineStatistics {
        try await startOrStop()
        do {
            try claimSource()
        } catch {
            await stop()
            throw error
        }
        let source = self.source
        await publishingMetrics {
            for await trace in traces {
                if Task.isCancelled { break }
                source.emit(trace)
                // Published at once: a live sequence may not yield again for a while, and a
                // partial batch would wait in the entry ring (and unwound records at the source).
                source.flush()
            }
        }
        await stop()
        return statistics()
    }

    /// Runs the `TraceSource` given at `init` as `run(source:)` does; without one, starts the
    /// engine and runs until the task is cancelled while the caller emits into `source` from one
    /// thread of its own (which must have stopped emitting by then). Returns after the engine has
    /// drained, with the final statistics. (`TraceServices` makes this the `Service` run.)
    @discardableResult
    public func runUntilStopped() async throws(EngineError) -> EngineStatistics {
        if let traceSource { return try await run(source: traceSource) }
        try await startOrStop()
        let ended = EndSignal()
        await withTaskCancellationHandler {
            await publishingMetrics { await ended.wait() }
        } onCancel: {
            ended.raise()
        }
        await stop()
        return statistics()
    }
}

extension StagedEngine {
    /// `start()`, but if it fails partway, the threads it made are stopped before the error is
    /// thrown: a structured run leaves nothing running.
    private func startOrStop() async throws(EngineError) {
        do {
            try start()
        } catch {
            if case .system = error { await stop() }
            throw error
        }
    }

    /// Runs `body`, publishing the engine's counters every `metricsInterval` meanwhile.
    private func publishingMetrics(_ body: () async -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                while true {
                    do { try await Task.sleep(for: metricsInterval) } catch { return }
                    metrics.publish(statistics())
                }
            }
            await body()
            group.cancelAll()
        }
    }
}

/// A one-time signal that a thread (or a handler) raises and one task awaits.
final class EndSignal: Sendable {
    private struct State {
        var raised = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func raise() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.raised = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let raised = state.withLock { state -> Bool in
                if !state.raised { state.waiter = continuation }
                return state.raised
            }
            if raised { continuation.resume() }
        }
    }
}
