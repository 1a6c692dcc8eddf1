/// A task's command name: at most 15 bytes and a NUL, as the kernel keeps it (`TASK_COMM_LEN`).
///
/// Kept as 16 raw bytes so that carrying it through the engine costs two word copies; `description`
/// decodes it for output.
public struct Comm: Hashable, Sendable, BitwiseCopyable, CustomStringConvertible {
    @usableFromInline var low: UInt64
    @usableFromInline var high: UInt64

    /// The kernel's `TASK_COMM_LEN`: 16 bytes, the NUL included.
    public static let byteCount = 16

    /// All zero: no name.
    public static let empty = Comm(low: 0, high: 0)

    @inlinable
    init(low: UInt64, high: UInt64) {
        self.low = low
        self.high = high
    }

    /// Raw bytes; anything after the first NUL is ignored on output but kept as given.
    public init(bytes: UnsafeRawBufferPointer) {
        var words: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &words) { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes.prefix(Comm.byteCount)))
        }
        (low, high) = words
    }

    /// The first 15 UTF-8 bytes of `name`, NUL-terminated, as the kernel truncates a comm.
    public init(_ name: String) {
        var utf8 = Array(name.utf8.prefix(Comm.byteCount - 1))
        utf8.append(0)
        self = utf8.withUnsafeBytes { Comm(bytes: $0) }
    }

    /// Both words folded into one, for a key that hashes a comm beside a trace hash in a single
    /// word (equality still compares all 16 bytes).
    @inlinable
    public var hashWord: UInt64 { low &+ high &* 0x9E37_79B9_7F4A_7C15 }

    /// The 16 raw bytes.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: (low, high), body)
    }

    public var description: String {
        withBytes { bytes in
            let end = bytes.firstIndex(of: 0) ?? bytes.count
            return String(decoding: bytes[..<end], as: UTF8.self)
        }
    }
}

/// An APM trace id (W3C trace-context `trace-id`, 16 bytes); all zero when no APM agent is involved.
public struct APMTraceID: Hashable, Sendable, BitwiseCopyable {
    /// Bytes 8..<16 of the record's id field, loaded as one word.
    public var high: UInt64
    /// Bytes 0..<8 of the record's id field, loaded as one word.
    public var low: UInt64

    /// An id from its halves; all zero (the default) means no APM trace.
    public init(high: UInt64 = 0, low: UInt64 = 0) {
        self.high = high
        self.low = low
    }
}

/// An APM transaction (span) id, 8 bytes; zero when no APM agent is involved.
public struct APMTransactionID: Hashable, Sendable, BitwiseCopyable {
    /// The record's 8-byte id field, loaded as one word; 0 means no APM transaction.
    public var rawValue: UInt64

    /// An id; 0 (the default) means no APM transaction.
    public init(rawValue: UInt64 = 0) { self.rawValue = rawValue }
}
