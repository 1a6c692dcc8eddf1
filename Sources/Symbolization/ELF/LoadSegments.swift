/// The PT_LOAD segments of an ELF file: how the file's bytes are placed at its virtual
/// addresses. A mapping of the file at some runtime address and file offset becomes a file
/// virtual address through them — for symbols and for unwind tables alike.
struct LoadSegments: Sendable {
    struct Segment: Sendable {
        var virtualAddress: UInt64
        var fileOffset: UInt64
        var fileSize: UInt64
    }

    let segments: [Segment]

    var byteCount: Int { segments.count * MemoryLayout<Segment>.stride }

    /// The virtual address of a file offset, through the segment that maps it; nil when none
    /// does, or when the segment's address (read from the file) would overflow.
    func virtualAddress(forFileOffset offset: UInt64) -> UInt64? {
        for segment in segments where offset >= segment.fileOffset && offset - segment.fileOffset < segment.fileSize {
            let (address, overflow) = segment.virtualAddress.addingReportingOverflow(offset - segment.fileOffset)
            return overflow ? nil : address
        }
        return nil
    }

    /// Runtime address − file virtual address for a mapping at `start` of file offset
    /// `fileOffset` (wrapping: a PIE's bias is an address, a non-PIE's is 0); nil when no
    /// segment maps that offset.
    func loadBias(mappingStart start: UInt64, fileOffset: UInt64) -> UInt64? {
        virtualAddress(forFileOffset: fileOffset).map { start &- $0 }
    }
}
