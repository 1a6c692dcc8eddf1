internal import CSystemLibraries

/// The bytes of an ELF file held in memory — a decompressed `.gnu_debugdata` — for libelf to read
/// in place (`elf_memory`), where a file on disk is read with `pread`.
///
/// The one owner of that memory. Its invariants:
/// - allocated once at its final size, never moved or resized, freed only in `deinit`;
/// - written only through `withUnsafeMutableBytes`, before `openELF()` is called;
/// - its address leaves this type only through `openELF()`, whose handle reads it in place: the
///   caller (`ELFFile`) keeps this object alive for as long as that handle, and ends the handle
///   (`elf_end`) first;
/// - libelf may rewrite the bytes (`elf_memory` treats them as a private mapping), so once the
///   handle exists nothing else reads them.
///
/// Being ours, the memory cannot shrink under libelf (the SIGBUS a mapped file risks).
final class ELFImage {
    let count: Int
    private let bytes: UnsafeMutableRawPointer

    /// `count` uninitialized bytes; the caller bounds `count` (see `MiniDebugInfo`).
    init(count: Int) {
        precondition(count > 0, "an empty image is refused before it is allocated")
        self.count = count
        // Aligned for the widest ELF structure, so libelf reads headers in place rather than copying.
        bytes = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 16)
    }

    deinit { bytes.deallocate() }

    /// Fills the image: the body gets all of it, and must not keep the pointer.
    func withUnsafeMutableBytes<Result, Failure: Error>(
        _ body: (UnsafeMutableRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try body(UnsafeMutableRawBufferPointer(start: bytes, count: count))
    }

    /// A libelf handle that reads these bytes in place, or nil (libelf's error is in `elf_errmsg`).
    func openELF() -> OpaquePointer? {
        elf_memory(bytes.assumingMemoryBound(to: CChar.self), count)
    }
}
