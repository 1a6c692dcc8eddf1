/// Why `start` refused to start a trace handler (upstream returns these as errors from `Start`).
public enum TraceHandlerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// `cacheSize` was 0: it must be at least 1.
    case invalidCacheSize(UInt32)
    /// `times.monitorInterval` was zero or negative.
    case invalidMonitorInterval(Duration)

    public var description: String {
        switch self {
        case .invalidCacheSize(let size):
            return "failed to create traceHandler: cacheSize must be at least 1 (got \(size))"
        case .invalidMonitorInterval(let interval):
            return "failed to create traceHandler: monitorInterval must be positive (got \(interval))"
        }
    }
}
