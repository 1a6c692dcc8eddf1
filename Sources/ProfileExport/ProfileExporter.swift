public import TraceModel
public import LinuxSystem
public import TraceReporters
import Synchronization

/// The export stage of a continuous profile: takes each interval (`export(_:)`, from the
/// profiler's interval task), encodes it as OTLP requests of at most `export.max-message-bytes`,
/// and sends them in order from a task of its own through an `ExportTransport`.
///
/// Backpressure is explicit and never reaches sampling: `export(_:)` only encodes and queues;
/// the queue is bounded in bytes (`export.queue-bytes`), and when an interval does not fit the
/// oldest intervals are dropped whole and counted. A request that fails transiently is sent
/// again after an exponential backoff with jitter, for as long as it is queued; one refused for
/// good is dropped and counted. `shutdown()` drains the queue within `export.shutdown-timeout`,
/// then cancels what is in flight; what is left is spooled (`export.spool-dir`) or counted.
/// `statistics` balances at every moment (`ExportStatistics.isConserved`).
public final class ProfileExporter: Sendable {
    private struct State {
        var queue: ExportQueue
        var statistics = ExportStatistics()
        var ledger = IntervalLedger()
        var stopping = false

        mutating func noteQueue() {
            statistics.requestsQueued = queue.count
            statistics.bytesQueued = queue.bytes
            statistics.bytesQueuedHighWater = max(statistics.bytesQueuedHighWater, queue.bytes)
        }

        mutating func drop(_ requests: [ExportQueue.Request]) {
            guard !requests.isEmpty else { return }
            statistics.intervalsDropped += Set(requests.map(\.interval)).count
            let samples = requests.reduce(0) { $0 + $1.samples }
            statistics.samplesDroppedQueueFull += samples
            statistics.samplesQueued -= samples
            for request in requests { ledger.settle(request, .dropped) }
        }
    }

    /// The state the exporter and its sender task share.
    private final class SharedState: Sendable {
        private let mutex: Mutex<State>
        init(_ state: State) { mutex = Mutex(state) }
        func withLock<T>(_ body: (inout State) -> T) -> T { mutex.withLock { body(&$0) } }
    }

    public let configuration: ExportConfiguration
    private let transport: any ExportTransport
    private let state: SharedState
    private let wake: AsyncStream<Void>.Continuation
    private let sender: Task<Void, Never>
    private let spool: Mutex<ExportSpool?>

    /// Starts the sender; with `export.spool-dir`, the requests spooled by an earlier run are
    /// queued first.
    ///
    /// - Throws: `ExportError.configuration` naming the key; `.spool` when the spool directory
    ///   cannot be made, opened or locked.
    public init(configuration: ExportConfiguration, transport: any ExportTransport) throws(ExportError) {
        do {
            try configuration.validate()
        } catch {
            throw .configuration(error)
        }
        self.configuration = configuration
        self.transport = transport
        var queue = ExportQueue(limit: configuration.queueBytes)
        var statistics = ExportStatistics()
        var spool: ExportSpool?
        if let path = configuration.spoolDirectory {
            do {
                spool = try ExportSpool(path: path)
            } catch {
                throw .spool(error)
            }
            // As many as the queue holds, newest first; the older ones are counted as dropped.
            let (requests, discarded, _) = spool!.load(maximumBytes: configuration.maximumMessageBytes, budget: configuration.queueBytes)
            statistics.spooledSamplesLoaded = discarded
            statistics.samplesDroppedQueueFull = discarded
            for request in requests {
                statistics.spooledRequestsLoaded += 1
                statistics.spooledSamplesLoaded += request.samples
                statistics.samplesQueued += request.samples
                _ = queue.append([request])
            }
        }
        var initial = State(queue: queue, statistics: statistics)
        initial.noteQueue()
        let state = SharedState(initial)
        self.state = state
        self.spool = Mutex(spool)
        let (wakes, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        self.wake = wake
        sender = Task { [configuration, transport] in
            await Self.send(wakes, state: state, transport: transport, configuration: configuration)
        }
        wake.yield()
    }

    /// What was exported, dropped and queued so far.
    public var statistics: ExportStatistics { state.withLock { $0.statistics } }

    /// What became of each interval whose requests have all been sent, dropped or spooled since
    /// the last call, in the order they settled (after `shutdown()`, every interval handed over).
    public func takeSettledIntervals() -> [IntervalExportOutcome] { state.withLock { $0.ledger.takeSettled() } }

    /// Encodes and queues `interval` (an empty one is skipped) and wakes the sender. Never waits
    /// on the network; when the queue cannot hold it, older intervals are dropped (counted).
    public func export(_ interval: IntervalProfile) {
        guard interval.sampleCount > 0 else { return }
        let (encoded, unsent) = interval.otlpRequests(maximumBytes: configuration.maximumMessageBytes)
        let requests = encoded.map { ExportQueue.Request(interval: interval.number, bytes: $0.bytes, samples: $0.samples) }
        state.withLock { state in
            state.statistics.intervals += 1
            state.statistics.samples += interval.sampleCount
            state.statistics.samplesDroppedOversize += unsent
            state.statistics.samplesQueued += interval.sampleCount - unsent
            state.ledger.open(interval.number, samples: interval.sampleCount, unsent: unsent, requests: requests.count)
            guard !state.stopping else {
                state.drop(requests)
                return
            }
            state.drop(state.queue.append(requests))
            state.noteQueue()
        }
        wake.yield()
    }

    /// Stops exporting: sends what is queued within `export.shutdown-timeout`, then cancels
    /// the request in flight; what is still queued is written to the spool directory, or
    /// counted as dropped. Returns the final statistics.
    @discardableResult
    public func shutdown() async -> ExportStatistics {
        state.withLock { $0.stopping = true }
        wake.yield()
        let sender = self.sender
        let timeout = configuration.shutdownTimeout
        let deadline = Task {
            try? await Task.sleep(for: timeout)
            if !Task.isCancelled { sender.cancel() }
        }
        await sender.value
        deadline.cancel()
        wake.finish()
        let left = state.withLock { state in
            let left = state.queue.removeAll()
            state.noteQueue()
            return left
        }
        // Stored, and the directory's lock released: the next run may take it.
        let spooled = spool.withLock { spool in
            defer { spool = nil }
            return spool.map { $0.store(left) }
        }
        return state.withLock { state in
            let stored = spooled?.stored ?? 0
            let spooledSamples = left.prefix(stored).reduce(0) { $0 + $1.samples }
            let droppedSamples = left.dropFirst(stored).reduce(0) { $0 + $1.samples }
            state.statistics.samplesSpooled += spooledSamples
            state.statistics.samplesDroppedAtShutdown += droppedSamples
            for request in left.prefix(stored) { state.ledger.settle(request, .spooled) }
            for request in left.dropFirst(stored) { state.ledger.settle(request, .dropped) }
            state.statistics.samplesQueued -= spooledSamples + droppedSamples
            if let failure = spooled?.failure { state.statistics.lastFailure = "spool: \(failure)" }
            return state.statistics
        }
    }

    /// The sender: one request at a time, in queue order, until stopping with an empty queue
    /// or cancelled.
    private static func send(
        _ wakes: AsyncStream<Void>, state: SharedState, transport: any ExportTransport, configuration: ExportConfiguration
    ) async {
        var wakeups = wakes.makeAsyncIterator()
        while !Task.isCancelled {
            guard let request = state.withLock({ $0.queue.beginSending() }) else {
                if state.withLock({ $0.stopping }) { return }
                guard await wakeups.next() != nil else { return }
                continue
            }
            await deliver(request, state: state, transport: transport, configuration: configuration)
        }
    }

    /// Sends `request` until it is accepted or refused for good, or the task is cancelled (it
    /// then stays queued).
    private static func deliver(
        _ request: ExportQueue.Request, state: SharedState, transport: any ExportTransport, configuration: ExportConfiguration
    ) async {
        var backoff = configuration.retryInitial
        var generator = SystemRandomNumberGenerator()
        while true {
            let outcome = await transport.export(request.bytes, timeout: configuration.timeout)
            let retry = state.withLock { state -> Bool in
                switch outcome {
                case .accepted(let rejectedProfiles):
                    state.queue.finishSending()
                    state.statistics.requestsSent += 1
                    state.statistics.bytesSent += request.bytes.count
                    state.statistics.samplesSent += request.samples
                    state.statistics.samplesQueued -= request.samples
                    state.ledger.settle(request, .sent)
                    // The receiver's number: clamped, never trusted to be in range.
                    let (sum, overflow) = state.statistics.profilesRejectedByReceiver.addingReportingOverflow(max(0, rejectedProfiles))
                    state.statistics.profilesRejectedByReceiver = overflow ? .max : sum
                case .rejected(let status, let message):
                    state.queue.finishSending()
                    state.statistics.failedAttempts += 1
                    state.statistics.samplesDroppedRejected += request.samples
                    state.statistics.samplesQueued -= request.samples
                    state.ledger.settle(request, .dropped)
                    state.statistics.lastFailure = "\(status): \(message)"
                case .retryable(let status, let message):
                    state.statistics.failedAttempts += 1
                    state.statistics.lastFailure = "\(status): \(message)"
                    if Task.isCancelled {
                        state.queue.stopSending()
                    } else {
                        state.statistics.retries += 1
                    }
                }
                state.noteQueue()
                if case .retryable = outcome { return !Task.isCancelled }
                return false
            }
            guard retry else { return }
            let jitter = Double.random(in: 0.8...1.2, using: &generator)
            do {
                try await Task.sleep(for: backoff * jitter)
            } catch {
                state.withLock { $0.queue.stopSending() }
                return
            }
            backoff = min(backoff * 2, configuration.retryMaximum)
        }
    }
}

/// Why an exporter could not start.
public enum ExportError: Error, Hashable, Sendable, CustomStringConvertible {
    case configuration(ConfigurationError)
    case spool(OutputDirectoryError)

    public var description: String {
        switch self {
        case .configuration(let error): "\(error)"
        case .spool(let error): "export.spool-dir: \(error)"
        }
    }
}
