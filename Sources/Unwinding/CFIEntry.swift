/// The framing of one CIE or FDE: its extent, and the id field that tells the two apart.
struct CFIEntry {
    /// Section offset of the entry's length field.
    let offset: Int
    /// Section offset one past the entry's last byte.
    let end: Int
    /// Section offset of the CIE id / CIE pointer field.
    let idFieldOffset: Int
    let id: UInt64
    /// True for the 64-bit DWARF format (length escape 0xffffffff): 8-byte ids and offsets.
    let is64Bit: Bool
    /// The bytes after the id field, up to `end`.
    let body: ByteCursor

    func isCIE(in format: CFISection.Format) -> Bool {
        switch format {
        case .ehFrame: return id == 0
        case .debugFrame: return id == (is64Bit ? UInt64.max : 0xffff_ffff)
        }
    }

    /// What the length field at `offset` announces.
    enum Framing {
        case entry(CFIEntry)
        /// A zero length: the end marker of `.eh_frame`.
        case terminator
        /// A zero length in `.debug_frame`, where it is padding; the next entry is at `next`.
        case padding(next: Int)
        /// A length too short to hold the id field; the next entry is at `next`.
        case tooShort(next: Int)
    }

    /// Reads the framing at `offset`. Throws `lengthOutOfBounds` when the length cannot be
    /// trusted; the caller then stops scanning the section.
    static func read(at offset: Int, in bytes: UnsafeRawBufferPointer, format: CFISection.Format) throws(CFISkipReason) -> Framing {
        guard offset >= 0, offset < bytes.count else { throw .lengthOutOfBounds }
        var cursor = ByteCursor(bytes: bytes, offset: offset)
        guard let length32 = try? cursor.readUInt32() else { throw .lengthOutOfBounds }
        let length: UInt64
        let is64Bit = length32 == 0xffff_ffff
        if length32 == 0 {
            return format == .ehFrame ? .terminator : .padding(next: cursor.offset)
        } else if is64Bit {
            guard let length64 = try? cursor.readUInt64() else { throw .lengthOutOfBounds }
            length = length64
        } else if length32 >= 0xffff_fff0 {
            // Reserved by DWARF for future escapes.
            throw .lengthOutOfBounds
        } else {
            length = UInt64(length32)
        }
        guard length <= UInt64(cursor.remaining) else { throw .lengthOutOfBounds }
        let end = cursor.offset + Int(length)
        var contents = ByteCursor(bytes: bytes, offset: cursor.offset, end: end)
        let idFieldOffset = contents.offset
        let id: UInt64
        if is64Bit {
            guard let value = try? contents.readUInt64() else { return .tooShort(next: end) }
            id = value
        } else {
            guard let value = try? contents.readUInt32() else { return .tooShort(next: end) }
            id = UInt64(value)
        }
        return .entry(CFIEntry(offset: offset, end: end, idFieldOffset: idFieldOffset, id: id, is64Bit: is64Bit, body: contents))
    }
}
