public import TraceEngine
import LinuxSystem
import TraceModel

/// The poll stage: one thread that waits on every kernel buffer through io_uring and drains the
/// ready ones into the engine's source, `batchPerBuffer` records at a time and round-robin, so a
/// busy CPU cannot starve the others. Under the source edge's `block` policy `emit` waits for
/// room, records stay in the kernel buffers meanwhile, and the kernel counts what it then loses.
///
/// With the sampler aggregating in the kernel, it also drains the counts every
/// `aggregation.interval` (`KernelAggregation`), and all of them once more at the end.
///
/// It runs until asked to stop; then it drains every buffer once more (records already written
/// are delivered, not lost) and returns. As the `TraceSource` of `StagedEngine.run(source:)`, it
/// is asked when the run is cancelled or shut down gracefully, and sees it within `pollInterval`.
public final class KernelPollStage: TraceSource, @unchecked Sendable {
    // @unchecked: `run` belongs to the one poll thread; `wake` is the only call from other threads,
    // and it only writes an eventfd.
    private let buffers: KernelBuffers
    private let poller: IOUringPoller
    private let configuration: KernelOutputConfiguration
    private let aggregation: KernelAggregation?
    /// The longest wait for a wakeup: the poll interval, or the aggregation's if that is shorter.
    private let waitTimeout: Duration

    /// Sets up an io_uring to poll every buffer of `buffers` (armed later, by the thread that runs
    /// the stage), and drains `aggregation`, if given, in `run(into:isStopRequested:)`. Throws
    /// when the eventfd or the io_uring cannot be made.
    public init(
        buffers: KernelBuffers, configuration: KernelOutputConfiguration, aggregation: KernelAggregation? = nil
    ) throws(KernelPathError) {
        self.buffers = buffers
        self.configuration = configuration
        self.aggregation = aggregation
        waitTimeout = min(configuration.pollInterval, aggregation?.interval ?? configuration.pollInterval)
        poller = try IOUringPoller(pollFDs: buffers.pollFDs)
    }

    /// Ends a `run` in progress promptly (from any thread); `run` also checks `isStopRequested`
    /// every `pollInterval`.
    public func wake() { poller.wake() }

    /// CPU time of the thread that ran the last `run`, in seconds (for the benchmark).
    public private(set) var cpuSeconds = 0.0
    /// Drains into `source` until `isStopRequested()` turns true, then drains once more.
    public func run(into source: EngineSource, isStopRequested: () -> Bool) {
        var nextDrain = ContinuousClock.now + (aggregation?.interval ?? .zero)
        let flush = {
            if let aggregation = self.aggregation, ContinuousClock.now >= nextDrain {
                aggregation.drain(into: source)
                nextDrain = .now + aggregation.interval
            }
            source.flush()
        }
        run(isStopRequested: isStopRequested, flush: flush) { bytes in
            source.emitRecord(bytes)  // a record with a stack snapshot goes to the unwind stage
            return true
        }
        // The sampler is detached by now (the stop request detaches it before the last drain).
        if let aggregation {
            aggregation.drainAll(into: source)
            source.flush()
        }
    }

    /// Drains into `deliver` (false: no room, the record stays in the kernel buffer and its buffer
    /// is tried again later) until `isStopRequested()` turns true, then drains once more. `flush`
    /// runs after each round over the ready buffers. One thread runs a stage, once: its io_uring
    /// accepts waits only from the thread that armed it.
    ///
    /// Inlined into `run(into:isStopRequested:)`, with `KernelBuffers.drain`, so that the reader's
    /// loop calls `deliver` there directly rather than through a closure pointer a record.
    @inline(__always)
    public func run(
        isStopRequested: () -> Bool, flush: () -> Void, deliver: (UnsafeRawBufferPointer) -> Bool
    ) {
        let cpuAtStart = ThreadCPUTime.seconds()
        defer { cpuSeconds = ThreadCPUTime.seconds() - cpuAtStart }
        poller.armAll()  // on this thread, which waits (see IOUringPoller)
        var ready = [Bool](repeating: true, count: buffers.count)  // look at everything once first
        while !isStopRequested() {
            var anyReady = false
            for index in ready.indices where ready[index] {
                let end = buffers.drain(index, maxRecords: configuration.batchPerBuffer, onSample: deliver)
                ready[index] = end != .empty
                anyReady = anyReady || ready[index]
            }
            flush()
            if anyReady { continue }
            if poller.wait(timeout: waitTimeout, ready: &ready) { continue }
            // A timeout marks nothing: look at every buffer anyway (a watermark not yet reached).
            if !ready.contains(true) { ready = [Bool](repeating: true, count: buffers.count) }
        }
        for index in 0..<buffers.count {
            while buffers.drain(index, maxRecords: configuration.batchPerBuffer, onSample: deliver) == .batchLimit {}
        }
        flush()
    }
}
