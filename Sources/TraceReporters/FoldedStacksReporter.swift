public import TraceModel
import Synchronization

/// Aggregates reported traces into folded stacks, the text format flamegraph.pl reads: one line per
/// distinct (comm, stack), `comm;root;…;leaf count`.
///
/// Counts are keyed by the user-mode trace hash and joined with the frames when the output is
/// rendered, because the tracehandler reports a trace's count before its frames. A count whose
/// frames never arrived is not dropped: it renders as `comm;[unknown trace HASH] count`. Memory is
/// bounded by `ProfileBound`: samples beyond it are one `[overflow]` line.
public final class FoldedStacksReporter: TraceReporter {
    private struct StackKey: Hashable {
        var comm: Comm
        var hash: TraceHash

        /// One word into the hasher: the trace hash is already uniform (XXH3), and this is
        /// hashed once a sample.
        func hash(into hasher: inout Hasher) { hasher.combine(hash.low ^ comm.hashWord) }
    }

    private struct State {
        /// Folded into text when the output is rendered.
        var stacks = KeptTraces()
        var counts: [StackKey: UInt64] = [:]
        var samples: UInt64 = 0
        var frameReports: UInt64 = 0
        /// Samples beyond the bound (`ProfileBound`), in the `[overflow]` line.
        var overflow: UInt64 = 0
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
        state.withLock { add(UInt64(count), StackKey(comm: meta.comm, hash: traceHash), in: &$0) }
    }

    public func reportTraceEvent(_ trace: Trace, meta: TraceEventMeta) {
        state.withLock {
            keep(trace, in: &$0)
            add(1, StackKey(comm: meta.comm, hash: trace.hash), in: &$0)
        }
    }

    private func keep(_ trace: Trace, in state: inout State) {
        state.stacks.keep(trace, within: bound)
    }

    private func add(_ samples: UInt64, _ key: StackKey, in state: inout State) {
        state.samples += samples
        // Nearly every sample is of a key already counted: one lookup for those.
        if let index = state.counts.index(forKey: key) {
            state.counts.values[index] += samples
        } else if bound.admitsSample(
            known: false, samples: state.counts.count, traceKnown: state.stacks.contains(key.hash),
            stacks: state.stacks.count)
        {
            state.counts[key] = samples
        } else {
            state.overflow += samples
        }
    }

    /// Samples counted so far.
    public var sampleCount: UInt64 { state.withLock { $0.samples } }

    /// Calls of `reportFramesForTrace` so far.
    public var frameReportCount: UInt64 { state.withLock { $0.frameReports } }

    /// The folded lines, most samples first (ties in text order). Traces that fold to the same
    /// text — the same functions at different instructions, which hash apart — are one line.
    public func foldedLines() -> [String] {
        foldedStacks().map { stack, count in
            var line = stack
            line += " "
            line += String(count)
            return line
        }
    }

    /// `foldedLines()` before the count is appended to each: a writer appends it as it writes, so
    /// the profile's text is held once, not once more as lines.
    public func foldedStacks() -> [(stack: String, count: UInt64)] {
        let (stacks, counts, overflow) = state.withLock { ($0.stacks, $0.counts, $0.overflow) }
        return StackFolding.fold(counts, frames: stacks.frames, overflow: overflow, capacity: counts.count) { key, count in
            StackFolding.Entry(comm: key.comm.description, frames: stacks[key.hash], hash: key.hash, count: count)
        }
    }
}
