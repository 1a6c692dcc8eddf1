public import TraceModel

/// One interval of a continuous profile, as `IntervalProfileReporter` hands it on: its samples
/// with their frames, ready to encode as pprof, OTLP or folded stacks. A value: encoding it does
/// not touch the reporter, which goes on with the next interval.
public struct IntervalProfile: Sendable {
    /// 1 for a profile's first interval, then one more for each.
    public let number: Int
    /// When the interval began (the previous one's end, or the reporter's creation) and ended.
    public let start: UnixTime64
    public let end: UnixTime64
    /// Samples of the interval, all of them: `distinctSampleCount` entries of their own, plus
    /// `overflowSamples` beyond the bound, and of those `unknownTraceSamples` whose frames were no
    /// longer kept (named `[unknown trace HASH]`).
    public let sampleCount: UInt64
    /// The interval's off-CPU samples (blocks, `[overflow]` included) and the nanoseconds off the
    /// CPU they sum to.
    public let offCPUSamples: UInt64
    public let offCPUTime: UInt64
    public let overflowSamples: UInt64
    public let unknownTraceSamples: UInt64

    let samples: [ProfileSample]
    let frames: InternedFrames
    let executables: [FileID: ExecutableMetadata]
    let period: Duration
    /// The origins the profile holds (its sample types), those of its samples included.
    let origins: TraceOrigins
    let overflow: OverflowTotals

    init(
        number: Int, start: UnixTime64, end: UnixTime64, samples: [ProfileSample], frames: InternedFrames,
        executables: [FileID: ExecutableMetadata], period: Duration, origins: TraceOrigins, overflow: OverflowTotals, unknown: UInt64
    ) {
        self.number = number
        self.start = start
        self.end = end
        self.samples = samples
        self.frames = frames
        self.executables = executables
        self.period = period
        self.origins = samples.reduce(origins) { $0.union(TraceOrigins($1.origin)) }
        self.overflow = overflow
        self.overflowSamples = overflow.count
        self.unknownTraceSamples = unknown
        sampleCount = samples.reduce(0) { $0 + $1.count }
        offCPUSamples = samples.reduce(0) { $0 + ($1.origin == .offCPU ? $1.count : 0) }
        offCPUTime = samples.reduce(0) { $0.addingSaturating($1.totals.offTime) }
    }

    /// Distinct (comm, pid, stack, origin) samples, the `[overflow]` entries not counted.
    public var distinctSampleCount: Int { samples.count - overflow.samples.count }

    /// How long the interval lasted (zero if the wall clock stepped back).
    public var duration: Duration { .nanoseconds(end.rawValue >= start.rawValue ? end.rawValue - start.rawValue : 0) }

    /// The pprof profile as protobuf bytes, uncompressed; samples most frequent first.
    public func encodedPprof() -> [UInt8] {
        PprofEncoder.encode(
            samples, origins: origins, frames: frames, executables: executables, period: ProfileReporter.nanoseconds(period),
            timeNanos: Int64(clamping: start.rawValue), durationNanos: ProfileReporter.nanoseconds(duration))
    }

    /// The pprof profile gzip-compressed: the `.pb.gz` file `go tool pprof` expects.
    public func gzippedPprof() throws(GzipError) -> [UInt8] {
        try Gzip.compress(encodedPprof())
    }

    /// The interval as an OTLP `ExportProfilesServiceRequest` (profiles `v1development`).
    public func encodedOTLP() -> [UInt8] {
        OTLPEncoder.encode(
            samples, origins: origins, frames: frames, executables: executables, period: ProfileReporter.nanoseconds(period),
            timeNanos: start.rawValue, durationNanos: UInt64(max(0, ProfileReporter.nanoseconds(duration))))
    }

    /// The interval as OTLP export requests of at most `maximumBytes` each: the whole interval in
    /// one when it fits, else its samples halved until each part fits (each part with the
    /// dictionary its samples need). A single sample that does not fit on its own (a message
    /// limit below a few KiB) is left out and returned in `unsent`, never silently dropped.
    public func otlpRequests(maximumBytes: Int) -> (requests: [(bytes: [UInt8], samples: UInt64)], unsent: UInt64) {
        var requests: [(bytes: [UInt8], samples: UInt64)] = []
        var unsent: UInt64 = 0
        func encode(_ part: ArraySlice<ProfileSample>) {
            let bytes = OTLPEncoder.encode(
                Array(part), origins: origins, frames: frames, executables: executables, period: ProfileReporter.nanoseconds(period),
                timeNanos: start.rawValue, durationNanos: UInt64(max(0, ProfileReporter.nanoseconds(duration))))
            let samples = part.reduce(0) { $0 + $1.count }
            if bytes.count <= maximumBytes {
                requests.append((bytes, samples))
            } else if part.count > 1 {
                let middle = part.startIndex + part.count / 2
                encode(part[..<middle])
                encode(part[middle...])
            } else {
                unsent += samples
            }
        }
        encode(samples[...])
        return (requests, unsent)
    }

    /// The samples of `origin` as folded stacks (`FoldedStacksReporter.foldedStacks()`): one line
    /// per (comm, stack), the processes of a comm merged; off-CPU lines weigh microseconds.
    public func foldedStacks(origin: TraceOrigin = .sampling) -> [(stack: String, count: UInt64)] {
        // The overflow entry (a placeholder) is folded from `overflow`.
        StackFolding.fold(
            samples, frames: frames, overflow: StackFolding.raw(overflow[origin], origin: origin),
            capacity: samples.count, origin: origin
        ) { sample in
            sample.placeholder != nil || sample.origin != origin
                ? nil
                : StackFolding.Entry(comm: sample.comm, frames: sample.frames, hash: sample.traceHash,
                                     count: StackFolding.raw(sample.totals, origin: origin))
        }
    }
}
