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

    public init() {}

    public static func + (a: Self, b: Self) -> Self {
        var sum = a
        sum.records += b.records
        sum.lost += b.lost
        sum.corrupt += b.corrupt
        sum.other += b.other
        sum.bytes += b.bytes
        return sum
    }

    public var description: String {
        "records \(records), lost \(lost), corrupt \(corrupt), other \(other), bytes \(bytes)"
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
