internal import CTraceRecord

/// The 64-bit hash the BPF side's record is known by (upstream `host.TraceHash`): the low 64 bits
/// of XXH3-128 over the raw record with its unhashed fields zeroed. See `RawTrace`.
public struct HostTraceHash: RawRepresentable, Hashable, Sendable, BitwiseCopyable, CustomStringConvertible {
    /// The low 64 bits of the record's XXH3-128.
    public var rawValue: UInt64

    @inlinable
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public var description: String { hex(rawValue) }
}

/// A file identifier as the BPF side knows it (upstream `host.FileID`); 0 when unknown.
public struct HostFileID: RawRepresentable, Hashable, Sendable, BitwiseCopyable, CustomStringConvertible {
    /// The BPF side's 64-bit id; 0 when unknown.
    public var rawValue: UInt64

    @inlinable
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public var description: String { hex(rawValue) }
}

/// The 128-bit hash of a converted, user-mode trace (upstream `libpf.TraceHash`).
public struct TraceHash: Hashable, Sendable, BitwiseCopyable, CustomStringConvertible {
    /// The upper 64 bits of the XXH3-128 digest.
    public var high: UInt64
    /// The lower 64 bits; `LRUCache` takes its buckets from them.
    public var low: UInt64

    /// A hash from its two halves, high word first (as `description` prints them).
    @inlinable
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// XXH3-128 of `bytes`.
    public init(xxh3Of bytes: UnsafeRawBufferPointer) {
        let h = th_xxh3_128(bytes.baseAddress, bytes.count)
        self.init(high: h.high, low: h.low)
    }

    /// 32 hex digits, high word first: the canonical form `xxh128sum` prints.
    public var description: String { hex(high) + hex(low) }
}

/// A 128-bit identifier of an executable or library by its content (upstream `libpf.FileID`).
public struct FileID: Hashable, Sendable, BitwiseCopyable, CustomStringConvertible {
    /// The upper 64 bits; 0 for an id made from a `HostFileID`.
    public var high: UInt64
    /// The lower 64 bits: the whole `HostFileID` for an id made from one.
    public var low: UInt64

    /// An id from its two halves, high word first (as `description` prints them).
    @inlinable
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The file id a converter uses when only the BPF side's 64-bit id is known.
    @inlinable
    public init(_ host: HostFileID) { self.init(high: 0, low: host.rawValue) }

    public var description: String { hex(high) + hex(low) }
}

/// 16 lower-case hex digits.
func hex(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}
