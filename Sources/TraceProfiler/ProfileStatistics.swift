public import KernelPath
public import Symbolization
public import TraceEngine
public import TraceModel

/// Where a profile's samples went, from the sampler in the kernel to the reporter: readable
/// while it runs (`Profiler.statistics()`), exact once `profile()` has returned.
public struct ProfileStatistics: Sendable, CustomStringConvertible {
    /// When sampling began (wall clock), and for how long it has sampled (until the stop).
    public var startTime: UnixTime64
    /// How long it has sampled: until the sampler detached, or until now while it runs.
    public var duration: Duration
    /// The CPUs sampled.
    public var cpus: [Int]
    /// What the BPF program sent, refused (a full buffer) and failed to walk.
    public var sampler: ProgramCounters
    /// What the kernel buffers delivered, in all and by buffer (a CPU's perf buffer, or the one
    /// ring buffer: cpu nil).
    public var received: KernelBufferStatistics
    /// Each buffer's share of `received`: one per CPU for perf buffers, one (cpu nil) for the ring
    /// buffer.
    public var buffers: [BufferStatistics]
    /// What the drains of the in-kernel aggregation handed on (`kernel.aggregation = bpf`); nil
    /// when every sample is a record.
    public var aggregation: AggregationStatistics?
    /// The engine's stages: received, reported and dropped by reason (`isConserved`).
    public var engine: EngineStatistics
    /// The symbolizer's caches and what it has read and parsed.
    public var symbolizer: SymbolizerStatistics
    /// The DWARF unwinder's caches and outcomes (nil in `frame-pointers` mode).
    public var unwinder: UnwinderStatistics?
    /// The kind of kernel buffer: a perf buffer counts a refused record both in the sampler's
    /// output errors and in a LOST notice; a ring buffer only in the former.
    public var bufferKind: KernelOutputConfiguration.Kind

    /// One kernel buffer's counts.
    public struct BufferStatistics: Hashable, Sendable {
        /// The CPU of a perf buffer; nil for the ring buffer, which every CPU shares.
        public var cpu: Int?
        /// What the buffer delivered, lost, found corrupt or skipped.
        public var statistics: KernelBufferStatistics
    }

    /// Samples the kernel could not hand over (full buffers), each counted once.
    public var lostInKernel: UInt64 {
        guard bufferKind == .ringBuffer else { return received.lost }
        let (sum, overflow) = received.lost.addingReportingOverflow(sampler.outputErrors)
        return overflow ? .max : sum
    }

    /// Samples that reached the agent: records received, and samples drained from the kernel's
    /// aggregation.
    public var receivedSamples: UInt64 { received.records.addingSaturating(aggregation?.samples ?? 0) }

    /// Samples counted in the kernel's aggregation that no drain handed on (a map operation
    /// failed); 0 once a profile has ended normally.
    public var undrainedSamples: UInt64 { sampler.aggregated.subtractingSaturating(aggregation?.samples ?? 0) }

    /// Every sample the sampler sent was received and reported, or counted where it was not:
    /// as a malformed or corrupt record, or as an engine drop by reason; and every sample it
    /// counted in the kernel was drained.
    public var isConserved: Bool {
        engine.isConserved && sampler.records == received.records && sampler.aggregated == (aggregation?.samples ?? 0)
    }

    public var description: String {
        "samples: \(sampler.records) sent by the sampler, \(sampler.aggregated) counted in the kernel, "
            + "\(receivedSamples) received, \(engine.reportedSamples) reported; "
            + "lost in the kernel \(lostInKernel); engine: \(engine)"
    }
}
