public import TraceModel

/// How BPF programs hand records to user space, and how the poll stage reads them.
public struct KernelOutputConfiguration: Hashable, Sendable {
    /// The BPF map that carries records to user space (`kernel.buffer`; the raw value is how the
    /// configuration spells it).
    public enum Kind: String, Hashable, Sendable, CaseIterable {
        /// A `BPF_MAP_TYPE_PERF_EVENT_ARRAY`: one buffer per CPU, lost records counted per CPU.
        case perfBuffer = "perf-buffer"
        /// A `BPF_MAP_TYPE_RINGBUF`: one buffer shared by all CPUs.
        case ringBuffer = "ring-buffer"
    }

    /// Where samples are counted (`kernel.aggregation`; the raw value is how the configuration
    /// spells it).
    public enum Aggregation: String, Hashable, Sendable, CaseIterable {
        /// Every sample is a record in the buffers, with its own time and CPU.
        case none
        /// The sampler counts samples per (pid, tid, comm, kernel stack, user stack) in BPF maps
        /// and the poll stage drains the counts every `aggregationInterval`: near nothing per
        /// sample in user space, one time and CPU per trace and interval. Frame-pointer stacks
        /// only: a stack snapshot cannot be counted.
        case bpf
    }

    /// Default `perfBuffer`.
    public var kind: Kind = .perfBuffer
    /// Default `none`.
    public var aggregation: Aggregation = .none
    /// Distinct (pid, tid, comm, stacks) keys one aggregation interval can count
    /// (`kernel.aggregation-entries`); samples beyond them go out as records. Default 16384.
    public var aggregationEntries = 16_384
    /// Stacks each of the aggregation's two stack maps holds (`kernel.aggregation-stacks`); the
    /// kernel preallocates them, about 1 KiB each, and places stacks by hash, so a sample whose
    /// stack's bucket holds another goes out as a record (counted as a collision). A power of
    /// two. Default 16384 (16 MiB a map).
    public var aggregationStacks = 16_384
    /// How often the poll stage drains the counts (`kernel.aggregation-interval-ms`). Default 1 s.
    public var aggregationInterval: Duration = .seconds(1)
    /// Bytes of each CPU's perf buffer (data pages only); a power of two, at least a page.
    /// Default 1 MiB.
    public var perCPUBufferBytes: Int = 1 << 20
    /// Bytes of the BPF ring buffer; a power of two, at least a page. Default 8 MiB.
    public var ringBufferBytes: Int = 8 << 20
    /// Wake the reader after this many bytes in a perf buffer (0: after every record, ~2 µs each).
    /// Default (nil): a quarter of `perCPUBufferBytes`, 256 KiB for the default 1 MiB. Each wakeup
    /// wakes the engine's stages in turn, so it is the agent's largest cost per sample at ordinary
    /// rates: with 8 KiB stack snapshots a 64 KiB watermark woke it every 8 records, and a quarter
    /// of the buffer cut its CPU by about a sixth (design/kernel-path.md), while three quarters of
    /// the buffer are still free when it wakes. The poll stage also looks every `pollInterval`.
    public var wakeupWatermarkBytes: Int? = nil
    /// Records read from one buffer before the next buffer gets its turn. Default 256.
    public var batchPerBuffer: Int = 256
    /// The longest the poll stage waits for a wakeup before it looks anyway. Default 100 ms.
    public var pollInterval: Duration = .milliseconds(100)

    /// The defaults.
    public init() {}

    /// The watermark in effect: `wakeupWatermarkBytes`, or a quarter of the buffer.
    public var effectiveWakeupWatermarkBytes: Int { wakeupWatermarkBytes ?? perCPUBufferBytes / 4 }

    /// Checks every field; the error names the key (as the configuration file spells it).
    public func validate() throws(ConfigurationError) {
        let page = 4096
        // Both sizes reach the kernel as 32-bit values (perf's page count, the ring buffer's
        // max_entries): 1 GiB keeps them far inside that and inside what a machine can lock.
        let most = 1 << 30
        try ConfigurationError.check(
            perCPUBufferBytes >= page && perCPUBufferBytes <= most && perCPUBufferBytes.nonzeroBitCount == 1,
            "kernel.per-cpu-buffer-bytes", perCPUBufferBytes, allowed: "a power of two, \(page) ... \(most) (1 GiB)")
        try ConfigurationError.check(
            ringBufferBytes >= page && ringBufferBytes <= most && ringBufferBytes.nonzeroBitCount == 1, "kernel.ring-buffer-bytes",
            ringBufferBytes, allowed: "a power of two, \(page) ... \(most) (1 GiB)")
        if let wakeupWatermarkBytes {
            try ConfigurationError.check(
                wakeupWatermarkBytes >= 0 && wakeupWatermarkBytes < perCPUBufferBytes, "kernel.wakeup-watermark-bytes",
                wakeupWatermarkBytes, allowed: "0 ..< kernel.per-cpu-buffer-bytes (\(perCPUBufferBytes)), or empty for a quarter of it")
        }
        try ConfigurationError.check(
            batchPerBuffer >= 1 && batchPerBuffer <= 65_536, "kernel.batch-per-buffer", batchPerBuffer,
            allowed: "1 ... 65536")
        try ConfigurationError.check(
            pollInterval > .zero && pollInterval <= .seconds(10), "kernel.poll-interval-ms", pollInterval,
            allowed: "more than 0 s, at most 10 s")
        try ConfigurationError.check(
            (64...1 << 20).contains(aggregationEntries), "kernel.aggregation-entries", aggregationEntries,
            allowed: "64 ... 1048576")
        try ConfigurationError.check(
            (256...1 << 16).contains(aggregationStacks) && aggregationStacks.nonzeroBitCount == 1, "kernel.aggregation-stacks",
            aggregationStacks, allowed: "a power of two, 256 ... 65536")
        try ConfigurationError.check(
            aggregationInterval >= .milliseconds(10) && aggregationInterval <= .seconds(60), "kernel.aggregation-interval-ms",
            aggregationInterval, allowed: "10 ms ... 60 s")
    }
}
