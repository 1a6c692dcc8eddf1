import Synchronization
import TraceModel

/// What one kernel buffer (a CPU's perf buffer, or the BPF ring buffer) delivered and lost.
public struct KernelBufferStatistics: Hashable, Sendable, CustomStringConvertible {
    /// Records handed on (each one raw trace, well-formed or not: the engine judges the trace).
    public var records: UInt64 = 0
    /// Records the kernel could not write because the buffer was full (the sum of the
    /// `PERF_RECORD_LOST` counts; always 0 for a ring buffer, whose program counts refusals).
    public var lost: UInt64 = 0
    /// Headers that made no sense (size 0, not 8-aligned, larger than the buffer or than what
    /// the kernel published); the reader skipped to the kernel's head and went on.
    public var corrupt: UInt64 = 0
    /// Records of other types (neither samples nor lost notices), skipped.
    public var other: UInt64 = 0
    /// Bytes consumed, headers included.
    public var bytes: UInt64 = 0

    /// All zero.
    public init() {}

    /// Field by field, saturating: `lost` is summed from counts the kernel writes.
    public static func + (a: Self, b: Self) -> Self {
        var sum = a
        sum.records = sum.records.addingSaturating(b.records)
        sum.lost = sum.lost.addingSaturating(b.lost)
        sum.corrupt = sum.corrupt.addingSaturating(b.corrupt)
        sum.other = sum.other.addingSaturating(b.other)
        sum.bytes = sum.bytes.addingSaturating(b.bytes)
        return sum
    }

    public var description: String {
        "records \(records), lost \(lost), corrupt \(corrupt), other \(other), bytes \(bytes)"
    }
}

/// A buffer's statistics as its poll thread publishes them to other threads (the progress line,
/// the summary): one writer, any readers. Each field is an atomic, stored and loaded relaxed: a
/// reader may see one field of a drain before another, but never a torn value, and needs no
/// lock the poll thread would wait for.
public final class PublishedBufferStatistics: Sendable {
    private let records = Atomic<UInt64>(0)
    private let lost = Atomic<UInt64>(0)
    private let corrupt = Atomic<UInt64>(0)
    private let other = Atomic<UInt64>(0)
    private let bytes = Atomic<UInt64>(0)

    init() {}

    /// Only the buffer's poll thread publishes.
    func publish(_ statistics: KernelBufferStatistics) {
        records.store(statistics.records, ordering: .relaxed)
        lost.store(statistics.lost, ordering: .relaxed)
        corrupt.store(statistics.corrupt, ordering: .relaxed)
        other.store(statistics.other, ordering: .relaxed)
        bytes.store(statistics.bytes, ordering: .relaxed)
    }

    /// The latest published values, from any thread.
    public func load() -> KernelBufferStatistics {
        var statistics = KernelBufferStatistics()
        statistics.records = records.load(ordering: .relaxed)
        statistics.lost = lost.load(ordering: .relaxed)
        statistics.corrupt = corrupt.load(ordering: .relaxed)
        statistics.other = other.load(ordering: .relaxed)
        statistics.bytes = bytes.load(ordering: .relaxed)
        return statistics
    }
}

/// How a drain ended.
public enum DrainEnd: Equatable, Sendable {
    /// Nothing is left that the kernel had published when the drain looked.
    case empty
    /// The batch limit was reached; more records are waiting.
    case batchLimit
    /// The consumer refused a record (no room downstream): it stays in the kernel buffer.
    case refused
}
