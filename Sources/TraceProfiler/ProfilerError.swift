public import KernelPath
public import TraceEngine
public import TraceModel

/// Why a profile could not start. Every case names what failed and, where a privilege is
/// missing, which.
public enum ProfilerError: Error, CustomStringConvertible {
    /// A configuration value out of range: the key, the value and what is allowed.
    case configuration(ConfigurationError)
    /// BPF is not permitted here (the capability to ask for is named).
    case missingCapability(String)
    /// The sampler could not be loaded or attached, or its buffers read.
    case kernel(KernelPathError)
    /// The engine's threads could not be started.
    case engine(EngineError)
    /// `profile()` while this profiler's previous one still runs.
    case alreadyProfiling

    public var description: String {
        switch self {
        case .configuration(let error): "\(error)"
        case .missingCapability(let what): "cannot profile: \(what)"
        case .kernel(let error): "\(error)"
        case .engine(let error): "\(error)"
        case .alreadyProfiling: "this profiler is profiling already (one profile at a time)"
        }
    }
}
