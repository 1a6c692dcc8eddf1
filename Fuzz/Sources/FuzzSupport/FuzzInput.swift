/// Reads a fuzz input front to back as the values a harness needs (sizes, positions, flags, byte
/// runs). An exhausted input reads as zeros and empty runs: every input is a valid script, so
/// libFuzzer's mutations never fall off a parsing cliff that hides the code under test.
public struct FuzzInput {
    public let bytes: UnsafeRawBufferPointer
    public private(set) var offset = 0

    public init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    public var isEmpty: Bool { offset >= bytes.count }
    public var remaining: Int { bytes.count - offset }

    /// The next little-endian integer; missing bytes read as 0.
    public mutating func read<T: FixedWidthInteger & UnsignedInteger>(_: T.Type = T.self) -> T {
        var value: T = 0
        for index in 0..<MemoryLayout<T>.size where offset < bytes.count {
            value |= T(bytes[offset]) << (8 * index)
            offset += 1
        }
        return value
    }

    /// A value in `0 ..< bound` (bound > 0) from one or two bytes: small ranges stay one byte,
    /// so a mutation of one byte changes one decision.
    public mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0)
        return bound <= 256 ? Int(read(UInt8.self)) % bound : Int(read(UInt16.self)) % bound
    }

    /// Up to `count` bytes (fewer at the end of the input).
    public mutating func take(_ count: Int) -> UnsafeRawBufferPointer {
        let end = offset + min(max(count, 0), remaining)
        defer { offset = end }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<end])
    }

    /// Everything not yet read.
    public mutating func rest() -> UnsafeRawBufferPointer { take(remaining) }
}
