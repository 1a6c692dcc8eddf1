import Synchronization

/// Every count the engine keeps. Each stage has its own block of these; a stage writes only its own.
public enum EngineCounter: Int, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    /// Items a stage took in.
    case received
    /// Items a stage passed on.
    case emitted
    /// Samples handed to the reporter (one count or one trace event each).
    case reported
    case bpfCacheHit
    case bpfCacheMiss
    case umCacheHit
    case umCacheMiss
    /// BPF-cache misses whose hash was already being symbolized: parked, not symbolized again.
    case coalesced
    /// Traces sent to report unsymbolized because the symbolize ring was full (policy `degrade`).
    case degraded
    /// Records the source could not read as traces: skipped and counted.
    case malformed

    // Drops, by reason. Every one of them is a sample that will never be reported.
    /// The source found no free trace slot (policy `drop`).
    case dropPoolExhausted
    /// The source's ring was full (policy `drop`).
    case dropSourceRingFull
    /// A symbolize ring was full (policy `drop`).
    case dropSymbolizeRingFull
    /// A report ring was full (policy `drop`).
    case dropReportRingFull
    /// A trace coalesced onto one whose conversion was then dropped on the way to report.
    case dropCoalescedWithDropped
    /// Still in the engine when `stop(drain: false)` ended it, or offered after that.
    case dropShutdown

    public static let drops: [EngineCounter] = [
        .dropPoolExhausted, .dropSourceRingFull, .dropSymbolizeRingFull, .dropReportRingFull, .dropCoalescedWithDropped,
        .dropShutdown,
    ]

    public var description: String {
        switch self {
        case .received: "received"
        case .emitted: "emitted"
        case .reported: "reported"
        case .bpfCacheHit: "bpf_cache_hit"
        case .bpfCacheMiss: "bpf_cache_miss"
        case .umCacheHit: "um_cache_hit"
        case .umCacheMiss: "um_cache_miss"
        case .coalesced: "coalesced"
        case .degraded: "degraded"
        case .malformed: "malformed"
        case .dropPoolExhausted: "drop_pool_exhausted"
        case .dropSourceRingFull: "drop_source_ring_full"
        case .dropSymbolizeRingFull: "drop_symbolize_ring_full"
        case .dropReportRingFull: "drop_report_ring_full"
        case .dropCoalescedWithDropped: "drop_coalesced_with_dropped"
        case .dropShutdown: "drop_shutdown"
        }
    }
}

/// One stage's counters, on their own cache lines.
///
/// Only the owning stage's thread writes them, so an increment is a relaxed load and store (plain
/// moves on x86), not a read-modify-write; anyone may read them at any time. After the engine has
/// stopped (threads joined), reads are exact.
final class StageCounters: @unchecked Sendable {
    // @unchecked: the memory holds only atomics, initialized in init and deinitialized in deinit.
    private let values: UnsafeMutablePointer<Atomic<UInt64>>

    init() {
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: EngineCounter.allCases.count * MemoryLayout<Atomic<UInt64>>.stride, alignment: 128)
        values = raw.bindMemory(to: Atomic<UInt64>.self, capacity: EngineCounter.allCases.count)
        for i in 0..<EngineCounter.allCases.count { (values + i).initialize(to: Atomic(0)) }
    }

    deinit {
        values.deinitialize(count: EngineCounter.allCases.count)
        values.deallocate()
    }

    /// Owner thread only.
    @inline(__always)  // a load and a store on every per-trace path
    func add(_ counter: EngineCounter, _ n: UInt64 = 1) {
        let slot = values + counter.rawValue
        slot.pointee.store(slot.pointee.load(ordering: .relaxed) &+ n, ordering: .relaxed)
    }

    func load(_ counter: EngineCounter) -> UInt64 { values[counter.rawValue].load(ordering: .relaxed) }
}
