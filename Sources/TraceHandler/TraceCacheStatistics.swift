import Metrics
import Synchronization

/// The four cache counters of the tracehandler, with their metric labels and descriptions in one
/// place (upstream metrics IDs `UMTraceCacheHit`, `UMTraceCacheMiss`, `BPFTraceCacheHit`,
/// `BPFTraceCacheMiss`).
public enum TraceCacheMetric: Int, CaseIterable, Sendable {
    /// Converted traces whose frames the reporter already had: a count only.
    case umTraceCacheHit
    /// Converted traces whose frames were sent to the reporter with their count.
    case umTraceCacheMiss
    /// Raw traces answered from the BPF-hash cache without conversion.
    case bpfTraceCacheHit
    /// Raw traces that had to be converted. For a reporter that takes trace events none of the
    /// four counters moves.
    case bpfTraceCacheMiss

    /// The swift-metrics counter's label (`tracehandler_um_trace_cache_hit_total`, …).
    public var label: String {
        switch self {
        case .umTraceCacheHit: "tracehandler_um_trace_cache_hit_total"
        case .umTraceCacheMiss: "tracehandler_um_trace_cache_miss_total"
        case .bpfTraceCacheHit: "tracehandler_bpf_trace_cache_hit_total"
        case .bpfTraceCacheMiss: "tracehandler_bpf_trace_cache_miss_total"
        }
    }

    /// One line saying what the counter counts, for a metric's help text.
    public var help: String {
        switch self {
        case .umTraceCacheHit: "Converted traces whose frames the reporter already had"
        case .umTraceCacheMiss: "Converted traces whose frames were sent to the reporter"
        case .bpfTraceCacheHit: "Raw traces answered from the BPF-hash cache without conversion"
        case .bpfTraceCacheMiss: "Raw traces that had to be converted"
        }
    }
}

/// Values of the four counters over some span of time.
public struct TraceCacheStatistics: Hashable, Sendable, CustomStringConvertible {
    /// Converted traces whose frames the reporter already had.
    public var umTraceCacheHit: UInt64 = 0
    /// Converted traces whose frames were sent to the reporter.
    public var umTraceCacheMiss: UInt64 = 0
    /// Raw traces answered from the BPF-hash cache without conversion.
    public var bpfTraceCacheHit: UInt64 = 0
    /// Raw traces that had to be converted.
    public var bpfTraceCacheMiss: UInt64 = 0

    /// All four counts zero.
    public init() {}

    /// The count of `metric`, to read or set.
    public subscript(metric: TraceCacheMetric) -> UInt64 {
        get {
            switch metric {
            case .umTraceCacheHit: umTraceCacheHit
            case .umTraceCacheMiss: umTraceCacheMiss
            case .bpfTraceCacheHit: bpfTraceCacheHit
            case .bpfTraceCacheMiss: bpfTraceCacheMiss
            }
        }
        set {
            switch metric {
            case .umTraceCacheHit: umTraceCacheHit = newValue
            case .umTraceCacheMiss: umTraceCacheMiss = newValue
            case .bpfTraceCacheHit: bpfTraceCacheHit = newValue
            case .bpfTraceCacheMiss: bpfTraceCacheMiss = newValue
            }
        }
    }

    public var description: String {
        "bpf cache hit \(bpfTraceCacheHit) miss \(bpfTraceCacheMiss), um cache hit \(umTraceCacheHit) miss \(umTraceCacheMiss)"
    }
}

/// The counters one handler increments, and what publishing them does.
///
/// The handling task increments the current interval's counters; the monitor task, every
/// `monitorInterval`, swaps them to zero, publishes the interval's values to swift-metrics and adds
/// them to the running totals. Relaxed ordering suffices: each counter is independent, and nobody
/// infers anything about other memory from a count.
final class TraceCacheCounters: Sendable {
    /// One counter's current interval and its total of published intervals.
    private final class Slot: Sendable {
        let interval = Atomic<UInt64>(0)
        let total = Atomic<UInt64>(0)
        let published: Counter

        init(_ metric: TraceCacheMetric, factory: any MetricsFactory) {
            published = Counter(label: metric.label, factory: factory)
        }
    }

    private let slots: [Slot]

    init(metricsFactory: any MetricsFactory) {
        slots = TraceCacheMetric.allCases.map { Slot($0, factory: metricsFactory) }
    }

    @inline(__always)  // one atomic add on the per-trace path; keep it out of a call
    func increment(_ metric: TraceCacheMetric) {
        slots[metric.rawValue].interval.wrappingAdd(1, ordering: .relaxed)
    }

    /// Publishes the interval's values (zeros included, so every interval is visible) and resets them.
    @discardableResult
    func publishInterval() -> TraceCacheStatistics {
        var values = TraceCacheStatistics()
        for metric in TraceCacheMetric.allCases {
            let slot = slots[metric.rawValue]
            let value = slot.interval.exchange(0, ordering: .relaxed)
            slot.total.wrappingAdd(value, ordering: .relaxed)
            slot.published.increment(by: Int64(value))
            values[metric] = value
        }
        return values
    }

    /// Everything counted so far, published or not.
    func cumulative() -> TraceCacheStatistics {
        var values = TraceCacheStatistics()
        for metric in TraceCacheMetric.allCases {
            let slot = slots[metric.rawValue]
            values[metric] = slot.total.load(ordering: .relaxed) &+ slot.interval.load(ordering: .relaxed)
        }
        return values
    }
}
