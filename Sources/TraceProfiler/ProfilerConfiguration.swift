public import KernelPath
public import Symbolization
public import TraceEngine
public import TraceModel

/// What a `Profiler` samples and how: the frequency, the process (or all), how user stacks are
/// walked, the kernel buffers, the engine, the symbolizer and the unwinder. A plain value with
/// the agent's defaults; `validate` checks it, naming the key of the first problem.
public struct ProfilerConfiguration: Hashable, Sendable {
    /// What is sampled (`sampling.mode`): CPU samples, off-CPU time, or both. Default CPU.
    public var modes: TraceOrigins = .cpu
    /// Samples a second on each CPU (`sampling.frequency`). Default 99.
    public var frequency = 99
    /// What the off-CPU sampler tracks (`offcpu.*`), when `modes` has `.offCPU`.
    public var offCPU = OffCPUConfiguration()
    /// Only this process (all its threads); nil: every process. Default nil.
    public var pid: Int32?
    /// How user stacks are walked (`unwind.mode`). Default `dwarf`.
    public var unwindMode = UnwindMode.dwarf
    /// The user stack window each sample copies for DWARF unwinding, in bytes
    /// (`unwind.stack-bytes`). Default 8192 (perf's).
    public var stackBytes = 8192
    /// Unwind workers in `dwarf` mode (`unwind.workers`; none in `frame-pointers` mode). Default 1.
    public var unwindWorkers = 1
    /// The engine (`rings.*`, `pool.*`, `cpus.*`, …). Its `unwind.workers` is not used: a profile
    /// sets it from `unwindMode` and `unwindWorkers` (`profilingEngine`).
    public var engine = EngineConfiguration()
    /// The buffers the sampler writes and the poll stage reads (`kernel.*`).
    public var kernel = KernelOutputConfiguration()
    /// The native symbolizer's bounds (`symbolize.*` except the engine's `symbolize.workers`).
    public var symbolizer = SymbolizerConfiguration()
    /// The DWARF unwinder's bounds (`unwind.table-bytes`, …); unused in `frame-pointers` mode.
    public var unwinder = UnwinderConfiguration()

    /// How often a continuous profile (a reporter that is an `IntervalReporter`) ends an interval
    /// and hands it on (`report.interval`). Default 5 s.
    public var reportInterval: Duration = .seconds(5)
    /// Each interval lasts `reportInterval` times a random factor within 1 ± `reportJitter`
    /// (`report.jitter`), so that a fleet of agents started together does not export together.
    /// Default 0.2.
    public var reportJitter = 0.2

    /// The agent's defaults, given on each field.
    public init() {}

    /// The engine as a profile runs it: the unwind stage only in `dwarf` mode.
    public var profilingEngine: EngineConfiguration {
        var engine = self.engine
        engine.unwind.workers = unwindMode == .dwarf ? unwindWorkers : 0
        return engine
    }

    /// Checks every part; the first problem is thrown, naming its key, value and allowed range.
    /// `allowedCPUs` are the CPUs pinning may name (this process's affinity mask).
    public func validate(allowedCPUs: [Int]) throws(ConfigurationError) {
        try profilingEngine.validate(allowedCPUs: allowedCPUs)
        try ConfigurationError.check(
            (1...EngineConfiguration.maximumUnwindWorkers).contains(unwindWorkers), "unwind.workers", unwindWorkers,
            allowed: "1 ... \(EngineConfiguration.maximumUnwindWorkers)")
        try ConfigurationError.check(
            (512...Sampler.maximumStackBytes).contains(stackBytes) && stackBytes % 8 == 0, "unwind.stack-bytes", stackBytes,
            allowed: "a multiple of 8, 512 ... \(Sampler.maximumStackBytes)")
        try unwinder.validate()
        try kernel.validate()
        try offCPU.validate()
        try ConfigurationError.check(!modes.isEmpty, "sampling.mode", modes.text, allowed: "cpu, off-cpu, or cpu,off-cpu")
        try ConfigurationError.check(
            kernel.aggregation == .none || unwindMode == .framePointers, "kernel.aggregation", kernel.aggregation.rawValue,
            allowed: "none with unwind.mode = dwarf (a stack snapshot cannot be counted in the kernel); bpf needs unwind.mode = frame-pointers")
        try symbolizer.validate()
        try ConfigurationError.check((1...100_000).contains(frequency), "sampling.frequency", frequency, allowed: "1 ... 100000 Hz")
        try ConfigurationError.check(
            reportInterval >= .seconds(1) && reportInterval <= .seconds(3600), "report.interval", reportInterval,
            allowed: "1 ... 3600 s")
        try ConfigurationError.check((0...0.5).contains(reportJitter), "report.jitter", reportJitter, allowed: "0 ... 0.5")
        if let pid { try ConfigurationError.check(pid > 0, "pid", pid, allowed: "a process id, 1 or more") }
    }
}

/// How a profile walks user stacks.
public enum UnwindMode: String, Hashable, Sendable, CaseIterable {
    /// Each sample copies the user registers and a window of the user stack; the unwind stage
    /// walks it with the files' DWARF CFI (as `perf record --call-graph dwarf`): whole stacks
    /// through code built without frame pointers. The frame-pointer stack is the fallback.
    case dwarf
    /// The kernel's frame-pointer walk only (`bpf_get_stack`): cheaper, but code without frame
    /// pointers shows as its leaf.
    case framePointers = "frame-pointers"
}
