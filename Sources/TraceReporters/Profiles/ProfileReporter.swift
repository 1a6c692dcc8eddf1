public import TraceModel
import Synchronization

/// Aggregates reported traces into a profile — one sample per distinct (comm, pid, stack, origin),
/// every frame named — and encodes it as pprof (`go tool pprof` reads it) or as an OTLP profiles
/// export request (what an OpenTelemetry collector receives). CPU samples are counted; off-CPU
/// samples are counted and their time off the CPU summed (`TraceOrigins` says which a profile
/// holds, which fixes its sample types).
///
/// Like `FoldedStacksReporter`, counts are keyed by the user-mode trace hash and joined with the
/// frames when the profile is encoded; a count whose frames never arrived becomes a sample whose
/// one frame says `[unknown trace HASH]`. Mappings are named from `reportExecutable` (the
/// symbolizer tells of each file it resolved: give the engine and the symbolizer one
/// `ExecutableQueue`, and the report stage passes them on, as `Profiler` does).
public final class ProfileReporter: TraceReporter, ExecutableReporter {
    private struct State {
        var traces = KeptTraces()
        var counts: [SampleKey: SampleTotals] = [:]
        var executables: [FileID: ExecutableMetadata] = [:]
        var samples: UInt64 = 0
        /// Samples beyond the bound (`ProfileBound`), in the `[overflow]` samples.
        var overflow = OverflowTotals()
    }

    private let state = Mutex(State())
    private let period: Duration
    private let bound: ProfileBound
    private let origins: TraceOrigins

    /// - Parameters:
    ///   - samplingPeriod: the CPU time one sample stands for (1 s / frequency).
    ///   - bound: how many distinct traces and samples the profile keeps.
    ///   - origins: the samples the profile holds: CPU samples, off-CPU samples, or both.
    public init(samplingPeriod: Duration, bound: ProfileBound = ProfileBound(), origins: TraceOrigins = .cpu) {
        period = samplingPeriod
        self.bound = bound
        self.origins = origins
    }

    public var supportsReportTraceEvent: Bool { false }

    public func reportFramesForTrace(_ trace: Trace) {
        state.withLock { keep(trace, in: &$0) }
    }

    public func reportCountForTrace(_ traceHash: TraceHash, count: UInt16, meta: TraceEventMeta) {
        state.withLock { add(UInt64(count), offTime: meta.offTime, SampleKey(meta, traceHash), in: &$0) }
    }

    public func reportTraceEvent(_ trace: Trace, meta: TraceEventMeta) {
        state.withLock {
            keep(trace, in: &$0)
            add(1, offTime: meta.offTime, SampleKey(meta, trace.hash), in: &$0)
        }
    }

    private func keep(_ trace: Trace, in state: inout State) {
        state.traces.keep(trace, within: bound)
    }

    private func add(_ samples: UInt64, offTime: UInt64, _ key: SampleKey, in state: inout State) {
        state.samples += samples
        // Nearly every sample is of a key already counted: one lookup for those.
        if let index = state.counts.index(forKey: key) {
            state.counts.values[index].add(samples, offTime: offTime)
        } else if bound.admitsSample(
            known: false, samples: state.counts.count, traceKnown: state.traces.contains(key.hash),
            stacks: state.traces.count)
        {
            state.counts[key] = SampleTotals(count: samples, offTime: offTime)
        } else {
            state.overflow.add(samples, offTime: offTime, origin: key.origin)
        }
    }

    /// Keeps the file's name and build id (the latest per `FileID`) to name the profile's mappings.
    public func reportExecutable(_ metadata: ExecutableMetadata) {
        state.withLock { state in
            if state.executables[metadata.fileID] != metadata { state.executables[metadata.fileID] = metadata }
        }
    }

    /// Samples counted so far.
    public var sampleCount: UInt64 { state.withLock { $0.samples } }

    /// Off-CPU samples (blocks) so far, and the nanoseconds off the CPU they sum to.
    public var offCPUTotals: (samples: UInt64, time: UInt64) {
        state.withLock { state in
            var totals = state.overflow[.offCPU] ?? SampleTotals()
            for (key, value) in state.counts where key.origin == .offCPU { totals.add(value) }
            return (totals.count, totals.offTime)
        }
    }

    /// Distinct (comm, pid, stack, origin) samples so far.
    public var distinctSampleCount: Int { state.withLock { $0.counts.count } }

    /// The pprof profile as protobuf bytes, uncompressed. Samples are ordered most frequent first.
    public func encodedPprof(start: UnixTime64, duration: Duration) -> [UInt8] {
        let (samples, frames, executables) = snapshot()
        return PprofEncoder.encode(
            samples, origins: origins(of: samples), frames: frames, executables: executables, period: Self.nanoseconds(period),
            timeNanos: Int64(clamping: start.rawValue), durationNanos: Self.nanoseconds(duration))
    }

    /// The pprof profile gzip-compressed: the `.pb.gz` file `go tool pprof` expects.
    public func gzippedPprof(start: UnixTime64, duration: Duration) throws(GzipError) -> [UInt8] {
        try Gzip.compress(encodedPprof(start: start, duration: duration))
    }

    /// The profile as an OTLP `ExportProfilesServiceRequest` (profiles `v1development`), protobuf
    /// bytes. Samples are ordered most frequent first.
    public func encodedOTLP(start: UnixTime64, duration: Duration) -> [UInt8] {
        let (samples, frames, executables) = snapshot()
        return OTLPEncoder.encode(
            samples, origins: origins(of: samples), frames: frames, executables: executables, period: Self.nanoseconds(period),
            timeNanos: start.rawValue, durationNanos: UInt64(max(0, Self.nanoseconds(duration))))
    }

    /// The samples of `origin` as folded stacks (`FoldedStacksReporter.foldedStacks()`'s lines,
    /// pids merged), so that one reporter serves every output format: CPU samples weighted by
    /// their count, off-CPU samples by their time off the CPU in microseconds.
    public func foldedStacks(origin: TraceOrigin = .sampling) -> [(stack: String, count: UInt64)] {
        let (traces, counts, overflow) = state.withLock { ($0.traces, $0.counts, $0.overflow) }
        return StackFolding.fold(counts, traces: traces, overflow: overflow, origin: origin)
    }

    private func snapshot() -> ([ProfileSample], InternedFrames, [FileID: ExecutableMetadata]) {
        let (traces, counts, executables, overflow) = state.withLock { ($0.traces, $0.counts, $0.executables, $0.overflow) }
        var samples = counts.map { key, totals in
            ProfileSample(comm: key.comm.description, pid: key.pid, frames: traces[key.hash], traceHash: key.hash, origin: key.origin, totals: totals)
        }
        samples += overflow.samples
        return (ProfileSample.mostFrequentFirst(samples), traces.frames, executables)
    }

    /// The origins the profile was made for, and any its samples have besides.
    private func origins(of samples: [ProfileSample]) -> TraceOrigins {
        samples.reduce(origins) { $0.union(TraceOrigins($1.origin)) }
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
