public import KernelPath
public import Symbolization
public import TraceEngine
public import TraceModel

/// Everything the agent (`tracehandler profile`, `tracehandler-bench`) is configured with: the
/// engine's rings, pools, workers and pinning, the kernel buffers, the symbolizer's bounds, the
/// sampling frequency and the output. A plain value with documented defaults (`ConfigurationKeys`
/// lists every key, its default and its range); `load` fills it from a file, the environment and
/// flags, and `validate` checks it once, before anything starts.
public struct AgentConfiguration: Hashable, Sendable {
    public var engine = EngineConfiguration()
    public var kernel = KernelOutputConfiguration()
    public var symbolizer = SymbolizerConfiguration()
    /// How user stacks are walked. Default `dwarf`.
    public var unwindMode = UnwindMode.dwarf
    /// The user stack window each sample copies for DWARF unwinding, in bytes. Default 8192 (perf's).
    public var stackBytes = 8192
    /// The DWARF unwinder's tables and caches.
    public var unwinder = UnwinderConfiguration()
    /// Unwind workers in `dwarf` mode (the engine gets none in `frame-pointers` mode). Default 1.
    public var unwindWorkers = 1
    /// Samples a second on each CPU. Default 99.
    public var frequency = 99
    /// How often a running profile or bench prints its progress line (to standard error). Default 1 s.
    public var monitorInterval: Duration = .seconds(1)
    /// Where `profile` writes. Default "tracehandler-profile".
    public var outputDirectory = "tracehandler-profile"
    /// What `profile` writes: a comma-separated list of `folded`, `pprof` and `otlp`. Default all three.
    public var outputFormat = "folded,pprof,otlp"
    /// The most distinct stacks (and samples) a profile keeps; the rest are one `[overflow]` entry.
    /// Default 16384 (under churn at 9999 Hz the agent's RSS then stays flat near 200 MB).
    public var maximumStacks = 16_384
    /// What SIGHUP (a closed terminal, an ssh disconnect) does to a running profile. Default `stop`.
    public var hangup = HangupAction.stop

    /// The formats `outputFormat` names; empty when it names something else.
    public var outputFormats: [OutputFormat] {
        let names = outputFormat.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let formats = names.compactMap(OutputFormat.init(rawValue:))
        guard formats.count == names.count, Set(formats).count == formats.count else { return [] }
        return formats
    }

    public init() {}

    /// The engine as the agent runs it: the unwind stage only in `dwarf` mode.
    public var agentEngine: EngineConfiguration {
        var engine = self.engine
        engine.unwind.workers = unwindMode == .dwarf ? unwindWorkers : 0
        return engine
    }

    /// Checks every part; the first problem is thrown, naming its key, value and allowed range.
    /// `allowedCPUs` are the CPUs pinning may name (this process's affinity mask).
    public func validate(allowedCPUs: [Int]) throws(ConfigurationError) {
        try agentEngine.validate(allowedCPUs: allowedCPUs)
        try ConfigurationError.check(
            (1...EngineConfiguration.maximumUnwindWorkers).contains(unwindWorkers), "unwind.workers", unwindWorkers,
            allowed: "1 ... \(EngineConfiguration.maximumUnwindWorkers)")
        try ConfigurationError.check(
            (512...Sampler.maximumStackBytes).contains(stackBytes) && stackBytes % 8 == 0, "unwind.stack-bytes", stackBytes,
            allowed: "a multiple of 8, 512 ... \(Sampler.maximumStackBytes)")
        try unwinder.validate()
        try kernel.validate()
        try symbolizer.validate()
        try ConfigurationError.check((1...100_000).contains(frequency), "sampling.frequency", frequency, allowed: "1 ... 100000 Hz")
        try ConfigurationError.check(
            monitorInterval >= .milliseconds(100) && monitorInterval <= .seconds(3600), "monitor.interval-ms", monitorInterval,
            allowed: "100 ... 3600000")
        try ConfigurationError.check(!outputDirectory.isEmpty, "output.dir", outputDirectory, allowed: "a directory path")
        try ConfigurationError.check(!outputFormats.isEmpty, "output.format", outputFormat, allowed: OutputFormat.allowed)
        try ConfigurationError.check((1...(1 << 24)).contains(maximumStacks), "output.max-stacks", maximumStacks, allowed: "1 ... 16777216")
    }
}

/// How the agent walks user stacks.
public enum UnwindMode: String, Hashable, Sendable, CaseIterable {
    /// Each sample copies the user registers and a window of the user stack; the unwind stage
    /// walks it with the files' DWARF CFI (as `perf record --call-graph dwarf`): whole stacks
    /// through code built without frame pointers. The frame-pointer stack is the fallback.
    case dwarf
    /// The kernel's frame-pointer walk only (`bpf_get_stack`): cheaper, but code without frame
    /// pointers shows as its leaf.
    case framePointers = "frame-pointers"
}

/// What SIGHUP does to a running profile.
public enum HangupAction: String, Hashable, Sendable, CaseIterable {
    /// End it as SIGTERM does: stop sampling, write what was sampled.
    case stop
    /// Keep profiling (as under `nohup`).
    case ignore
}

/// An output file of `profile`.
public enum OutputFormat: String, Hashable, Sendable, CaseIterable {
    /// `profile.folded`: `comm;root;…;leaf count` lines, flamegraph.pl's input.
    case folded
    /// `profile.pb.gz`: a gzipped pprof CPU profile, `go tool pprof`'s input.
    case pprof
    /// `profile.otlp.pb`: an OTLP profiles export request (opentelemetry-proto, profiles
    /// v1development), what an OpenTelemetry collector receives.
    case otlp

    static let allowed = "a comma-separated list of folded, pprof, otlp (each at most once)"
}
