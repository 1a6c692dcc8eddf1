import TraceModel
import Synchronization

/// Every count the engine keeps. Each stage has its own block of these; a stage writes only its own.
public enum EngineCounter: Int, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    /// Items a stage took in.
    case received
    /// Items a stage passed on.
    case emitted
    /// Traces handed to the reporter (one count or trace event for each sample they stand for).
    case reported
    /// Samples beyond one that the received (at the source) or reported (at report) traces stood
    /// for: a trace drained from the kernel's aggregation stands for its count. Zero when every
    /// record is one sample.
    case extraSamples
    /// Traces whose BPF hash the hash/cache stage had cached: reported as a count, not symbolized.
    case bpfCacheHit
    /// Traces whose BPF hash was not cached: sent to symbolize, or coalesced. Not counted for a
    /// reporter that takes trace events: there is no cache then.
    case bpfCacheMiss
    /// Converted (or degraded) traces reported as a count only: the reporter had their frames.
    case umCacheHit
    /// Converted (or degraded) traces reported as a count and their frames. Neither user-mode
    /// counter moves for a reporter that takes trace events.
    case umCacheMiss
    /// BPF-cache misses whose hash was already being symbolized: parked, not symbolized again.
    case coalesced
    /// Traces sent to report unsymbolized because the symbolize ring was full (policy `degrade`).
    case degraded
    /// Records the source could not read as traces: skipped and counted.
    case malformed

    // The unwind stage (records with a user stack snapshot). How each walk ended, per worker:
    /// Reached the outermost frame: the whole stack.
    case unwindComplete
    /// Stopped at a PC in no mapping the unwinder could use (anonymous code, a vanished process).
    case unwindNoMapping
    /// Stopped at a PC its file has no CFI row for.
    case unwindNoRule
    /// Stopped at a CFI row of a form the unwinder does not follow.
    case unwindUnsupportedRule
    /// Stopped at a return address above the copied stack window: the snapshot was too short.
    case unwindSnapshotTooShort
    /// Stopped at the frame limit.
    case unwindFrameLimit
    /// Stopped where the registers or stack led nowhere sensible (SP not increasing, a loop).
    case unwindBadFrame
    /// The snapshot could not be read (sizes that do not add up): the record went on with its
    /// frame-pointer stack.
    case unwindMalformedSnapshot
    /// Walks that found fewer frames than the frame-pointer stack, which was kept instead.
    case unwindKeptFramePointers
    /// At the source: snapshots sent on with their frame-pointer stack, not unwound, because the
    /// unwind stage was full (policy `degrade`) or the record was larger than a snapshot slot.
    case degradedUnwind

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
    /// The unwind stage had no free snapshot slot or its rings were full (policy `drop`).
    case dropUnwindFull

    /// Every drop counter, one per reason. With `malformed` they count every sample never reported
    /// (`EngineStatistics.dropped`).
    public static let drops: [EngineCounter] = [
        .dropPoolExhausted, .dropSourceRingFull, .dropSymbolizeRingFull, .dropReportRingFull, .dropCoalescedWithDropped,
        .dropShutdown, .dropUnwindFull,
    ]

    /// The counter of a walk's ending.
    static func unwind(_ stop: UnwindStop) -> EngineCounter {
        switch stop {
        case .complete: .unwindComplete
        case .noMapping: .unwindNoMapping
        case .noRule: .unwindNoRule
        case .unsupportedRule: .unwindUnsupportedRule
        case .snapshotTooShort: .unwindSnapshotTooShort
        case .frameLimit: .unwindFrameLimit
        case .badFrame: .unwindBadFrame
        case .malformedSnapshot: .unwindMalformedSnapshot
        }
    }

    /// The counter's name as statistics print it, and as the engine's metrics are named
    /// (`tracehandler_engine_<name>`).
    public var description: String {
        switch self {
        case .received: "received"
        case .emitted: "emitted"
        case .reported: "reported"
        case .extraSamples: "extra_samples"
        case .bpfCacheHit: "bpf_cache_hit"
        case .bpfCacheMiss: "bpf_cache_miss"
        case .umCacheHit: "um_cache_hit"
        case .umCacheMiss: "um_cache_miss"
        case .coalesced: "coalesced"
        case .degraded: "degraded"
        case .malformed: "malformed"
        case .unwindComplete: "unwind_complete"
        case .unwindNoMapping: "unwind_no_mapping"
        case .unwindNoRule: "unwind_no_rule"
        case .unwindUnsupportedRule: "unwind_unsupported_rule"
        case .unwindSnapshotTooShort: "unwind_snapshot_too_short"
        case .unwindFrameLimit: "unwind_frame_limit"
        case .unwindBadFrame: "unwind_bad_frame"
        case .unwindMalformedSnapshot: "unwind_malformed_snapshot"
        case .unwindKeptFramePointers: "unwind_kept_frame_pointers"
        case .degradedUnwind: "degraded_unwind"
        case .dropPoolExhausted: "drop_pool_exhausted"
        case .dropSourceRingFull: "drop_source_ring_full"
        case .dropSymbolizeRingFull: "drop_symbolize_ring_full"
        case .dropReportRingFull: "drop_report_ring_full"
        case .dropCoalescedWithDropped: "drop_coalesced_with_dropped"
        case .dropShutdown: "drop_shutdown"
        case .dropUnwindFull: "drop_unwind_full"
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
