/// The intervals the handler works to (upstream `tracehandler.Times`, a subset of the agent's).
public protocol Times: Sendable {
    /// How often the cache counters are published and reset.
    var monitorInterval: Duration { get }
}

/// `Times` as a plain value.
public struct FixedTimes: Times {
    public var monitorInterval: Duration

    /// Times with the given interval; `start` refuses one that is not positive.
    public init(monitorInterval: Duration) { self.monitorInterval = monitorInterval }
}
