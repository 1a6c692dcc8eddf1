public import TraceModel
import Synchronization

/// Aggregates reported traces into a continuous profile, interval by interval: `endInterval(at:)`
/// (a `Profiler` calls it every `report.interval`) closes the samples counted since the last one
/// into an `IntervalProfile`, hands it to `onInterval`, and begins the next.
///
/// Counts are per interval; frames are kept across intervals (`RetainedTraces`), since the engine
/// reports a trace's frames only once while it stays in its caches. Each interval holds at most
/// `bound.maximumStacks` distinct (comm, pid, stack) samples; beyond it, samples are counted in
/// the interval's `[overflow]` entry. Every sample counted lands in exactly one interval.
public final class IntervalProfileReporter: IntervalReporter, ExecutableReporter {
    private struct State {
        var traces: RetainedTraces
        var counts: [SampleKey: SampleTotals] = [:]
        var overflow = OverflowTotals()
        var executables: [FileID: ExecutableMetadata] = [:]
        var start: UnixTime64
        var number = 1
        var totals = IntervalTotals()
    }

    private let state: Mutex<State>
    private let period: Duration
    private let bound: ProfileBound
    private let origins: TraceOrigins
    private let onInterval: @Sendable (IntervalProfile) -> Void

    /// - Parameters:
    ///   - samplingPeriod: the CPU time one sample stands for (1 s / frequency).
    ///   - bound: the most distinct samples one interval keeps.
    ///   - retainedTraces: the most traces whose frames are kept across intervals; make it at
    ///     least twice the engine's `cache.size` (its two caches), so that every trace the engine
    ///     still counts without frames is kept here. At least 1.
    ///   - origins: the samples the profile holds: CPU samples, off-CPU samples, or both.
    ///   - start: when the first interval begins.
    ///   - onInterval: takes each interval, on the caller of `endInterval(at:)`.
    public init(
        samplingPeriod: Duration, bound: ProfileBound = ProfileBound(), retainedTraces: Int, origins: TraceOrigins = .cpu,
        start: UnixTime64 = .now(), onInterval: @escaping @Sendable (IntervalProfile) -> Void
    ) {
        period = samplingPeriod
        self.bound = bound
        self.origins = origins
        self.onInterval = onInterval
        state = Mutex(State(traces: RetainedTraces(capacity: max(1, retainedTraces)), start: start))
    }

    public var supportsReportTraceEvent: Bool { false }

    public func reportFramesForTrace(_ trace: Trace) {
        state.withLock { $0.traces.keep(trace) }
    }

    public func reportCountForTrace(_ traceHash: TraceHash, count: UInt16, meta: TraceEventMeta) {
        state.withLock { add(UInt64(count), offTime: meta.offTime, SampleKey(meta, traceHash), in: &$0) }
    }

    public func reportTraceEvent(_ trace: Trace, meta: TraceEventMeta) {
        state.withLock {
            $0.traces.keep(trace)
            add(1, offTime: meta.offTime, SampleKey(meta, trace.hash), in: &$0)
        }
    }

    private func add(_ samples: UInt64, offTime: UInt64, _ key: SampleKey, in state: inout State) {
        _ = state.traces.use(key.hash)
        // Nearly every sample is of a key already counted: one lookup for those.
        if let index = state.counts.index(forKey: key) {
            state.counts.values[index].add(samples, offTime: offTime)
        } else if state.counts.count < bound.maximumStacks {
            state.counts[key] = SampleTotals(count: samples, offTime: offTime)
        } else {
            state.overflow.add(samples, offTime: offTime, origin: key.origin)
        }
    }

    /// Keeps the file's name and build id (the latest per `FileID`) to name the mappings, for
    /// this and the later intervals.
    public func reportExecutable(_ metadata: ExecutableMetadata) {
        state.withLock { state in
            if state.executables[metadata.fileID] != metadata { state.executables[metadata.fileID] = metadata }
        }
    }

    /// Ends the current interval at `end`, hands it to `onInterval` and begins the next at `end`.
    /// The samples are resolved to frames under the lock (the report thread waits that long);
    /// encoding is `onInterval`'s, outside it.
    public func endInterval(at end: UnixTime64) {
        let interval = state.withLock { state in
            var unknown: UInt64 = 0
            var samples = state.counts.map { key, totals in
                let frames = state.traces[key.hash]
                if frames == nil { unknown += totals.count }
                return ProfileSample(
                    comm: key.comm.description, pid: key.pid, frames: frames, traceHash: key.hash, origin: key.origin, totals: totals)
            }
            samples += state.overflow.samples
            let interval = IntervalProfile(
                number: state.number, start: state.start, end: end, samples: ProfileSample.mostFrequentFirst(samples),
                frames: state.traces.frames, executables: state.executables, period: period, origins: origins,
                overflow: state.overflow, unknown: unknown)
            state.totals.add(interval)
            state.counts.removeAll(keepingCapacity: true)  // the next interval holds about as many
            state.overflow = OverflowTotals()
            state.start = end
            state.number += 1
            state.traces.compactIfWasteful()
            return interval
        }
        onInterval(interval)
    }

    /// What the intervals ended so far held, in all.
    public var totals: IntervalTotals { state.withLock { $0.totals } }

    /// Traces whose frames are kept for later intervals.
    public var retainedTraceCount: Int { state.withLock { $0.traces.count } }

    /// Distinct frames held for them (and, until the next compaction, for traces no longer kept).
    public var retainedFrameCount: Int { state.withLock { $0.traces.frames.frames.count } }
}

/// What a continuous profile's ended intervals held, summed.
public struct IntervalTotals: Hashable, Sendable {
    public var intervals = 0
    public var samples: UInt64 = 0
    /// The intervals' off-CPU samples (blocks) and the nanoseconds off the CPU they sum to.
    public var offCPUSamples: UInt64 = 0
    public var offCPUTime: UInt64 = 0
    public var overflowSamples: UInt64 = 0
    public var unknownTraceSamples: UInt64 = 0

    public init() {}

    mutating func add(_ interval: IntervalProfile) {
        intervals += 1
        samples += interval.sampleCount
        offCPUSamples += interval.offCPUSamples
        offCPUTime = offCPUTime.addingSaturating(interval.offCPUTime)
        overflowSamples += interval.overflowSamples
        unknownTraceSamples += interval.unknownTraceSamples
    }
}
