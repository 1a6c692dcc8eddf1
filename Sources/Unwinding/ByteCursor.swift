/// A little-endian reader over a window of untrusted bytes. Every read checks the window's end and
/// throws instead of trapping, so a corrupt length or operand can only end the current entry.
struct ByteCursor {
    let bytes: UnsafeRawBufferPointer
    /// The next byte to read, an offset into `bytes`.
    private(set) var offset: Int
    /// One past the last byte this cursor may read.
    let end: Int

    /// A cursor over `bytes[offset ..< end]`; the bounds are clamped to the buffer so a caller's
    /// arithmetic mistake reads nothing rather than out of bounds.
    init(bytes: UnsafeRawBufferPointer, offset: Int = 0, end: Int? = nil) {
        self.bytes = bytes
        let end = min(max(end ?? bytes.count, 0), bytes.count)
        self.end = end
        self.offset = min(max(offset, 0), end)
    }

    var remaining: Int { end - offset }
    var isAtEnd: Bool { offset >= end }

    mutating func skip(_ count: Int) throws(CFISkipReason) {
        guard count >= 0, count <= remaining else { throw .truncated }
        offset += count
    }

    /// Skips `count` bytes given as an untrusted unsigned number.
    mutating func skip(_ count: UInt64) throws(CFISkipReason) {
        guard count <= UInt64(remaining) else { throw .truncated }
        offset += Int(count)
    }

    mutating func readUInt8() throws(CFISkipReason) -> UInt8 {
        guard offset < end else { throw .truncated }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func readUInt16() throws(CFISkipReason) -> UInt16 {
        UInt16(littleEndian: try load(UInt16.self))
    }

    mutating func readUInt32() throws(CFISkipReason) -> UInt32 {
        UInt32(littleEndian: try load(UInt32.self))
    }

    mutating func readUInt64() throws(CFISkipReason) -> UInt64 {
        UInt64(littleEndian: try load(UInt64.self))
    }

    private mutating func load<T: FixedWidthInteger>(_: T.Type) throws(CFISkipReason) -> T {
        guard MemoryLayout<T>.size <= remaining else { throw .truncated }
        defer { offset += MemoryLayout<T>.size }
        return bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
    }

    /// Unsigned LEB128. Redundant continuation bytes are accepted (the format allows padding),
    /// but a value needing more than 64 bits is an overflow, not silently truncated.
    mutating func readULEB128() throws(CFISkipReason) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try readUInt8()
            let payload = UInt64(byte & 0x7f)
            if shift < 64 {
                // Bits shifted out past bit 63 would be lost.
                if shift > 57, payload >> (64 - shift) != 0 { throw .numberOverflow }
                value |= payload << shift
            } else if payload != 0 {
                throw .numberOverflow
            }
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
    }

    /// Signed LEB128, sign-extended from the last byte's bit 6.
    mutating func readSLEB128() throws(CFISkipReason) -> Int64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try readUInt8()
            let payload = UInt64(byte & 0x7f)
            if shift < 64 {
                value |= payload << shift
            } else if payload != 0 && payload != 0x7f {
                // Beyond 64 bits only sign-extension bits may follow.
                throw .numberOverflow
            }
            shift += 7
            if byte & 0x80 == 0 {
                if shift < 64, byte & 0x40 != 0 { value |= ~UInt64(0) << shift }
                return Int64(bitPattern: value)
            }
        }
    }

    /// An unsigned LEB128 that must fit a non-negative Int64 (an offset or a count).
    mutating func readULEB128AsInt64() throws(CFISkipReason) -> Int64 {
        let value = try readULEB128()
        guard value <= UInt64(Int64.max) else { throw .numberOverflow }
        return Int64(value)
    }

    /// Skips a NUL-terminated string and returns where it started and its length (without the NUL).
    mutating func readCString() throws(CFISkipReason) -> Range<Int> {
        let start = offset
        while try readUInt8() != 0 {}
        return start ..< (offset - 1)
    }

    /// A cursor over the next `length` bytes; this cursor moves past them.
    mutating func subCursor(length: UInt64) throws(CFISkipReason) -> ByteCursor {
        guard length <= UInt64(remaining) else { throw .truncated }
        let start = offset
        offset += Int(length)
        return ByteCursor(bytes: bytes, offset: start, end: offset)
    }
}
