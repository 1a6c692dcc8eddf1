#if canImport(Glibc)
import Glibc
#endif

/// A large string section left in its file: a `SymbolTable` reads a function's name from it
/// when the function is first named, instead of holding every name.
///
/// The names of a large binary are most of its table — 9.6 of the 12 MiB of the agent's own
/// gRPC-linked binary, 167 000 symbols of which a profile names a few hundred — and reading them
/// all cost a second copy while the table was built. Only sections of at least
/// `minimumBytes` are left in their file, so a few large binaries hold a descriptor each
/// (`SymbolTable.byteCount` counts one as `descriptorCost` bytes, which bounds how many the
/// cache keeps open).
///
/// The file belongs to whoever wrote it and may change after the table is built: a name is read
/// with `pread`, at most `ELFFile.maximumNameBytes` (and a byte, to see where a longer one is
/// cut), never past the section's end as it was when the table was built; a short read or a name
/// without its NUL is no name (the frame keeps `module+0xoffset`). The file is never mapped, so
/// truncating it cannot fault the agent. Unlike names read into memory, a symbol whose name is
/// unterminated is found before its name is read: it names nothing, where in memory it would
/// have been left out.
final class SymbolNameSection: Sendable {
    /// Sections smaller than this are copied into the table: 1 MiB, about 12 000 C++ or Swift
    /// names.
    static let minimumBytes: UInt64 = 1 << 20
    /// What one open descriptor counts for in a cache's byte bound: at most 256 open per 64 MiB.
    static let descriptorCost = 256 << 10

    private let descriptor: Int32
    /// The section's offset in the file and its size, from its header.
    private let offset: UInt64
    let size: UInt64

    /// Reads the section at `offset`, `size` bytes, through a duplicate of `fd` (kept for the
    /// table's lifetime); nil when no descriptor is left to duplicate.
    init?(duplicating fd: Int32, offset: UInt64, size: UInt64) {
        // Close-on-exec, as every descriptor the symbolizer opens: a host that embeds the engine
        // and starts programs does not hand them the files it symbolizes.
        descriptor = fcntl(fd, F_DUPFD_CLOEXEC, 0)
        guard descriptor >= 0 else { return nil }
        self.offset = offset
        self.size = size
    }

    deinit { close(descriptor) }

    /// The name at `nameOffset` in the section, up to its NUL (or an `@VERSION` suffix), at most
    /// `ELFFile.maximumNameBytes`; nil when it cannot be read whole.
    func name(at nameOffset: UInt32) -> [UInt8]? {
        let start = UInt64(nameOffset)
        guard start < size else { return nil }
        let (position, overflow) = offset.addingReportingOverflow(start)
        guard !overflow, position <= UInt64(Int.max) else { return nil }
        let wanted = Int(min(size - start, UInt64(ELFFile.maximumNameBytes + 1)))
        var bytes = [UInt8](repeating: 0, count: wanted)
        let read = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, wanted, off_t(position)) }
        guard read > 0,
            let length = bytes.withUnsafeBytes({ ELFFile.functionNameLength(UnsafeRawBufferPointer(rebasing: $0[..<read])) })
        else { return nil }
        bytes.removeSubrange(length...)
        return bytes
    }
}
