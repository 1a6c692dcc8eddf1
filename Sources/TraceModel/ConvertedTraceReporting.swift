/// The end of upstream `HandleTrace` for a trace just converted, shared by the Go-shaped handler
/// and the engine's report stage: to a reporter that takes trace events, the whole trace; to the
/// others, a count, then the frames unless the user-mode hash was reported recently (it is kept in
/// `umTraceCache`, least recently used first).
public struct ConvertedTraceReporting: Sendable {
    /// User-mode hashes whose frames the reporter has recently received.
    @usableFromInline var umTraceCache: LRUCache<TraceHash, Void>

    /// What reporting a trace did, for the caller's counters.
    public enum Outcome: Sendable {
        /// Handed over whole (`reportTraceEvent`).
        case event
        /// A count; the frames were known (a user-mode cache hit).
        case countOnly
        /// A count and the frames (a user-mode cache miss).
        case countAndFrames
    }

    /// - Parameter cacheSize: user-mode hashes remembered (> 0).
    public init(cacheSize: Int) {
        umTraceCache = LRUCache(capacity: cacheSize)
    }

    /// Reports `samples` samples of `trace` (its hash set) to `reporter`: one event each, or a count.
    // Always inlined: a caller generic over its reporter (the engine's report stage) would
    // otherwise call the unspecialized function for every converted trace.
    @inlinable @inline(__always)
    public mutating func report(
        _ trace: Trace, samples: UInt32 = 1, meta: TraceEventMeta, to reporter: some TraceReporter, events: Bool
    ) -> Outcome {
        if events {
            for _ in 0..<samples { reporter.reportTraceEvent(trace, meta: meta) }
            return .event
        }
        reporter.reportCount(trace.hash, samples: samples, meta: meta)
        if umTraceCache.get(trace.hash) != nil { return .countOnly }
        reporter.reportFramesForTrace(trace)
        umTraceCache.add(trace.hash, ())
        return .countAndFrames
    }
}
