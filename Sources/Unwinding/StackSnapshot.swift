/// A copy of user stack memory that starts at a known address (the sampled SP). Every read is
/// bounds-checked: a read below the start or past the end returns nil and says which.
struct StackSnapshot {
    let bytes: UnsafeRawBufferPointer
    /// The address of `bytes[0]`.
    let base: UInt64

    enum Miss: Error {
        /// The address is below the copy: the frame chain went backwards or is garbage.
        case belowStart
        /// The address is past the copy: the stack continues beyond what was captured.
        case pastEnd
    }

    /// The 8 bytes at `address`, or why not.
    @inline(__always)  // a handful of instructions, called two or three times per frame
    func load(_ address: UInt64) -> Result<UInt64, Miss> {
        guard address >= base else { return .failure(.belowStart) }
        let offset = address &- base
        guard offset <= UInt64(bytes.count), UInt64(bytes.count) - offset >= 8 else { return .failure(.pastEnd) }
        return .success(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: Int(offset), as: UInt64.self)))
    }

    /// True when the 16 bytes at `address` (a frame record: saved RBP, return address) are in the copy.
    func containsFrameRecord(at address: UInt64) -> Bool {
        guard address >= base else { return false }
        let offset = address &- base
        return offset <= UInt64(bytes.count) && UInt64(bytes.count) - offset >= 16
    }
}
