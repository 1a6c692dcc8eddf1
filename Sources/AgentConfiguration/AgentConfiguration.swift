public import ProfileExport
public import TraceEngine
public import TraceModel
public import TraceProfiler

/// Everything the agent (`tracehandler profile`, `tracehandler-bench`) is configured with: the
/// engine's rings, pools, workers and pinning, the kernel buffers, the symbolizer's bounds, the
/// sampling frequency and the output. A plain value with documented defaults (`ConfigurationKeys`
/// lists every key, its default and its range); `load` fills it from a file, the environment and
/// flags, and `validate` checks it once, before anything starts.
@dynamicMemberLookup
public struct AgentConfiguration: Hashable, Sendable {
    /// What `profile` samples and how (frequency, unwinding, kernel buffers, engine, symbolizer,
    /// unwinder), as the library's `Profiler` takes it; its fields read and write as the agent
    /// configuration's own (`configuration.frequency`, `configuration.engine`).
    public var profiler = ProfilerConfiguration()
    /// How often a running profile or bench prints its progress line (to standard error). Default 1 s.
    public var monitorInterval: Duration = .seconds(1)
    /// Where `profile` writes. Default "tracehandler-profile".
    public var outputDirectory = "tracehandler-profile"
    /// What `profile` writes: a comma-separated list of `folded`, `pprof` and `otlp`. Default all three.
    public var outputFormat = "folded,pprof,otlp"
    /// The most distinct stacks (and samples) a profile keeps; the rest are one `[overflow]` entry.
    /// Default 16384 (under churn at 9999 Hz the agent's RSS then stays flat near 200 MB).
    public var maximumStacks = 16_384
    /// Where and how a continuous profile is exported (`output.otlp.*`, `export.*`); by default
    /// nowhere.
    public var export = ExportConfiguration()
    /// What SIGHUP (a closed terminal, an ssh disconnect) does to a running profile. Default `stop`.
    public var hangup = HangupAction.stop
    /// Where `profile` serves its Prometheus metrics (`/metrics`); by default nowhere.
    public var metricsListen: ListenAddress?

    /// The formats `outputFormat` names; empty when it names something else, or `none`.
    public var outputFormats: [OutputFormat] {
        let names = outputFormat.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let formats = names.compactMap(OutputFormat.init(rawValue:))
        guard formats.count == names.count, Set(formats).count == formats.count else { return [] }
        return formats
    }

    /// The defaults.
    public init() {}

    /// Reads and writes a field of `profiler` as if it were this configuration's own
    /// (`configuration.frequency`).
    public subscript<Value>(dynamicMember keyPath: WritableKeyPath<ProfilerConfiguration, Value>) -> Value {
        get { profiler[keyPath: keyPath] }
        set { profiler[keyPath: keyPath] = newValue }
    }

    /// The engine as the agent runs it: the unwind stage only in `dwarf` mode.
    public var agentEngine: EngineConfiguration { profiler.profilingEngine }

    /// Checks every part; the first problem is thrown, naming its key, value and allowed range.
    /// `allowedCPUs` are the CPUs pinning may name (this process's affinity mask).
    public func validate(allowedCPUs: [Int]) throws(ConfigurationError) {
        try profiler.validate(allowedCPUs: allowedCPUs)
        try ConfigurationError.check(
            monitorInterval >= .milliseconds(100) && monitorInterval <= .seconds(3600), "monitor.interval-ms", monitorInterval,
            allowed: "100 ... 3600000")
        try ConfigurationError.check(!outputDirectory.isEmpty, "output.dir", outputDirectory, allowed: "a directory path")
        try ConfigurationError.check(outputFormat == "none" || !outputFormats.isEmpty, "output.format", outputFormat, allowed: OutputFormat.allowed)
        try export.validate()
        try ConfigurationError.check((1...(1 << 24)).contains(maximumStacks), "output.max-stacks", maximumStacks, allowed: "1 ... 16777216")
    }
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

    static let allowed = "a comma-separated list of folded, pprof, otlp (each at most once), or none (with output.otlp.endpoint)"
}
