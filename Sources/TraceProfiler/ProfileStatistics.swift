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

    /// Every sample the sampler sent was received and reported, or counted where it was not:
    /// as a malformed or corrupt record, or as an engine drop by reason.
    public var isConserved: Bool { engine.isConserved && sampler.records == received.records }

    public var description: String {
        "samples: \(sampler.records) sent by the sampler, \(received.records) received, \(engine.reported) reported; "
            + "lost in the kernel \(lostInKernel); engine: \(engine)"
    }
}
