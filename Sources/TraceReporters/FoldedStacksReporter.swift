public import TraceModel
import Synchronization

/// Aggregates reported traces into folded stacks, the text format flamegraph.pl reads: one line per
/// distinct (comm, stack), `comm;root;…;leaf count`. CPU samples and off-CPU samples fold apart
/// (`foldedStacks(origin:)`): the first weighted by their count, the second by their time off the
/// CPU in microseconds.
///
/// Counts are keyed by the user-mode trace hash and joined with the frames when the output is
/// rendered, because the tracehandler reports a trace's count before its frames. A count whose
/// frames never arrived is not dropped: it renders as `comm;[unknown trace HASH] count`. Memory is
/// bounded by `ProfileBound`: samples beyond it are one `[overflow]` line.
public final class FoldedStacksReporter: TraceReporter {
    private struct StackKey: FoldedKey {
        var comm: Comm
        var hash: TraceHash
        var origin: TraceOrigin

        init(_ meta: TraceEventMeta, _ hash: TraceHash) {
            comm = meta.comm
            self.hash = hash
            origin = meta.origin
        }

        /// One word into the hasher: the trace hash is already uniform (XXH3), and this is hashed
        /// once a sample.
        func hash(into hasher: inout Hasher) { hasher.combine(hash.low ^ comm.hashWord ^ UInt64(origin.rawValue) << 32) }
    }

    private struct State {
        /// Folded into text when the output is rendered.
        var stacks = KeptTraces()
        var counts: [StackKey: SampleTotals] = [:]
        var samples: UInt64 = 0
        var frameReports: UInt64 = 0
        /// Samples beyond the bound (`ProfileBound`), in the `[overflow]` lines.
        var overflow = OverflowTotals()
    }

    private let state = Mutex(State())
    private let bound: ProfileBound

    /// An empty profile that keeps at most what `bound` allows.
    public init(bound: ProfileBound = ProfileBound()) {
        self.bound = bound
    }

    public var supportsReportTraceEvent: Bool { false }

    public func reportFramesForTrace(_ trace: Trace) {
        state.withLock {
            $0.frameReports += 1
            keep(trace, in: &$0)
        }
    }

    public func reportCountForTrace(_ traceHash: TraceHash, count: UInt16, meta: TraceEventMeta) {
        state.withLock { add(UInt64(count), offTime: meta.offTime, StackKey(meta, traceHash), in: &$0) }
    }

    public func reportTraceEvent(_ trace: Trace, meta: TraceEventMeta) {
        state.withLock {
            keep(trace, in: &$0)
            add(1, offTime: meta.offTime, StackKey(meta, trace.hash), in: &$0)
        }
    }

    private func keep(_ trace: Trace, in state: inout State) {
        state.stacks.keep(trace, within: bound)
    }

    private func add(_ samples: UInt64, offTime: UInt64, _ key: StackKey, in state: inout State) {
        state.samples += samples
        // Nearly every sample is of a key already counted: one lookup for those.
        if let index = state.counts.index(forKey: key) {
            state.counts.values[index].add(samples, offTime: offTime)
        } else if bound.admitsSample(
            known: false, samples: state.counts.count, traceKnown: state.stacks.contains(key.hash),
            stacks: state.stacks.count)
        {
            state.counts[key] = SampleTotals(count: samples, offTime: offTime)
        } else {
            state.overflow.add(samples, offTime: offTime, origin: key.origin)
        }
    }

    /// Samples counted so far.
    public var sampleCount: UInt64 { state.withLock { $0.samples } }

    /// Calls of `reportFramesForTrace` so far.
    public var frameReportCount: UInt64 { state.withLock { $0.frameReports } }

    /// Nanoseconds off the CPU summed over the off-CPU samples so far.
    public var offCPUTime: UInt64 {
        state.withLock { state in
            state.counts.reduce(state.overflow[.offCPU]?.offTime ?? 0) { $0.addingSaturating($1.value.offTime) }
        }
    }

    /// The folded lines of `origin`, heaviest first (ties in text order). Traces that fold to the
    /// same text — the same functions at different instructions, which hash apart — are one line.
    public func foldedLines(origin: TraceOrigin = .sampling) -> [String] {
        foldedStacks(origin: origin).map { stack, count in
            var line = stack
            line += " "
            line += String(count)
            return line
        }
    }

    /// `foldedLines()` before the count is appended to each: a writer appends it as it writes, so
    /// the profile's text is held once, not once more as lines.
    public func foldedStacks(origin: TraceOrigin = .sampling) -> [(stack: String, count: UInt64)] {
        let (stacks, counts, overflow) = state.withLock { ($0.stacks, $0.counts, $0.overflow) }
        return StackFolding.fold(counts, traces: stacks, overflow: overflow, origin: origin)
    }
}
