public import TraceModel

/// What the off-CPU program (`th_off_cpu` on the `sched_switch` raw tracepoint,
/// bpf/sampler.bpf.c) tracks: the keys `offcpu.*` of the configuration.
public struct OffCPUConfiguration: Hashable, Sendable {
    /// Which switches away from a CPU count as off-CPU time (`offcpu.switches`; the raw value
    /// is how the configuration spells it).
    public enum Switches: String, Hashable, Sendable, CaseIterable {
        /// The task blocked: it waits for a lock, I/O, a timer (bcc offcputime's default).
        case voluntary
        /// Preemptions too: time a runnable task waited for a CPU.
        case all
    }

    /// Blocks shorter than this are counted in the kernel, not sent (`offcpu.min-duration-us`).
    /// Default 0: every block.
    public var minimumDuration: Duration = .zero
    /// The share of switches whose stacks are taken (`offcpu.probability`, 0 < p ≤ 1). Default 1:
    /// every switch; the others are counted, not tracked.
    public var probability: Double = 1
    /// Blocked tasks the kernel keeps at once (`offcpu.tasks`), about 3 KiB each, preallocated; a
    /// task dropped to make room for another is counted (`ProgramCounters.offCPUDropped`). Kernels
    /// before 6.16 drop earlier, when a CPU's share of the free entries (about 128) runs out.
    /// Default 8192 (25 MiB).
    public var tasks = 8192
    /// Default `voluntary`.
    public var switches: Switches = .voluntary

    /// The defaults.
    public init() {}

    /// Checks every field; the error names the key (as the configuration file spells it).
    public func validate() throws(ConfigurationError) {
        try ConfigurationError.check(
            minimumDuration >= .zero && minimumDuration <= .seconds(3600), "offcpu.min-duration-us", minimumDuration,
            allowed: "0 ... 3600000000 (an hour)")
        try ConfigurationError.check(
            probability > 0 && probability <= 1, "offcpu.probability", probability, allowed: "0 < p ≤ 1 (1: every switch)")
        try ConfigurationError.check(tasks >= 64 && tasks <= 1 << 16, "offcpu.tasks", tasks, allowed: "64 ... 65536 (200 MiB)")
    }

    /// `minimumDuration` in nanoseconds (validated: at most an hour).
    public var minimumNanoseconds: UInt64 {
        let (seconds, attoseconds) = minimumDuration.components
        return UInt64(clamping: seconds) &* 1_000_000_000 &+ UInt64(clamping: attoseconds / 1_000_000_000)
    }

    /// The probability as the program's threshold on `bpf_get_prandom_u32()`.
    var threshold: UInt32 {
        guard probability > 0 else { return 0 }  // NaN too: what `validate` refuses samples nothing
        return probability >= 1 ? .max : UInt32(probability * 4_294_967_296.0)
    }
}
