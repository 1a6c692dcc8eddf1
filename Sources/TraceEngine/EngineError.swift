import LinuxSystem

/// Why the engine could not run. Configuration is judged before: `StagedEngine.init` throws
/// `ConfigurationError`, naming the key, the value and what is allowed.
public enum EngineError: Error, Hashable, Sendable, CustomStringConvertible {
    /// `start` or a `run` on an engine that has started (or stopped) already: an engine runs once.
    case alreadyStarted
    /// A second source: an engine has one (`runSource`, `run(source:)`, `run(traces:)`), since
    /// its entry ring has a single producer.
    case sourceAlreadyRunning
    /// A source on an engine not running: before `start`, or once a stop has begun.
    case notRunning
    /// A thread could not be made or pinned.
    case system(SystemError)

    public var description: String {
        switch self {
        case .alreadyStarted: "the engine has started or stopped already (an engine runs once)"
        case .notRunning: "the engine is not running (a source needs start() first, and none after a stop)"
        case .sourceAlreadyRunning: "the engine has a source already (its entry has a single producer)"
        case .system(let error): "\(error)"
        }
    }
}
