internal import CSystemLibraries
import LinuxSystem
import TraceModel

#if canImport(Glibc)
import Glibc
#endif

/// Why a file could not be read as an ELF file with symbols.
public enum SymbolizationError: Error, Hashable, Sendable, CustomStringConvertible {
    /// `open` or `fstat` on `path` failed with `errno`.
    case cannotOpen(path: String, errno: Int32)
    /// libelf rejected the file, or one of its headers or sections broke a bound; `reason` says how.
    case notELF(path: String, reason: String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let errno): "cannot open \(path): \(SystemError("open", errno: errno))"
        case .notELF(let path, let reason): "\(path) is not a readable ELF file: \(reason)"
        }
    }
}

/// One opened ELF file (libelf over an fd). Owns both; reads symbols, program headers and the
/// build id. Corrupt or truncated files give `SymbolizationError.notELF`, never a crash.
///
/// The file belongs to whoever can write it — any local user, for a process of theirs that the
/// agent samples as root — so nothing in it is trusted:
/// - libelf reads it with `pread` into its own memory (`ELF_C_READ`), never through a mapping: a
///   mapped file that its owner truncates while we parse it raises SIGBUS on the next page we
///   touch; a `pread` past the new end is a short read, which libelf reports as an error;
/// - no section larger than `maximumSectionBytes` is read, so a sparse file claiming a huge
///   symbol table cannot make us allocate and fill it;
/// - every offset, count and size from the file goes through checked arithmetic.
///
/// An ELF file decompressed from a section (`.gnu_debugdata`) is read the same way, from an
/// `ELFImage` this object holds for as long as libelf reads it.
final class ELFFile {
    /// The largest section read (symbol, string and note sections): above any real binary's
    /// `.symtab`/`.strtab` (tens of MiB for the largest C++ programs), far below the memory that
    /// would hurt the agent.
    static let maximumSectionBytes: UInt64 = 128 << 20
    /// Longest symbol name kept; longer ones (mangled templates can reach kilobytes) are cut.
    static let maximumNameBytes = 4096
    /// Most section or program headers read: the count an ELF header can hold without the
    /// extended numbering that lets a file claim 2^32 of them.
    static let maximumHeaderCount = 0xFFFF

    /// Where libelf reads the bytes.
    private enum Source {
        case file(fd: Int32)
        case image(ELFImage)
    }

    private let source: Source
    let elf: OpaquePointer
    let path: String

    /// The open file; nil for an image in memory.
    var fd: Int32? {
        if case .file(let fd) = source { fd } else { nil }
    }

    private static let libelfReady: Bool = elf_version(UInt32(EV_CURRENT)) != UInt32(EV_NONE)

    /// Opens `path` read-only.
    convenience init(path: String) throws(SymbolizationError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .cannotOpen(path: path, errno: errno) }
        try self.init(fd: fd, path: path)
    }

    /// Takes ownership of `fd`.
    init(fd: Int32, path: String) throws(SymbolizationError) {
        precondition(Self.libelfReady, "libelf version mismatch")
        guard let elf = elf_begin(fd, ELF_C_READ, nil) else {
            close(fd)
            throw .notELF(path: path, reason: String(cString: elf_errmsg(-1)))
        }
        guard elf_kind(elf) == ELF_K_ELF else {
            elf_end(elf)
            close(fd)
            throw .notELF(path: path, reason: "not an ELF object")
        }
        source = .file(fd: fd)
        self.elf = elf
        self.path = path
    }

    /// Reads `image` in place, keeping it alive until this object ends its libelf handle.
    /// `path` names it in errors.
    init(image: ELFImage, path: String) throws(SymbolizationError) {
        precondition(Self.libelfReady, "libelf version mismatch")
        guard let elf = image.openELF() else { throw .notELF(path: path, reason: String(cString: elf_errmsg(-1))) }
        guard elf_kind(elf) == ELF_K_ELF else {
            elf_end(elf)
            throw .notELF(path: path, reason: "not an ELF object")
        }
        source = .image(image)
        self.elf = elf
        self.path = path
    }

    deinit {
        // The handle first: it may still point into an image, which is released after this.
        elf_end(elf)
        if case .file(let fd) = source { close(fd) }
    }

    /// The file's identity: XXH3-128 over its first 4 KiB, its last 4 KiB and its length.
    func fileID() throws(SymbolizationError) -> FileID {
        guard let fd else { throw .notELF(path: path, reason: "an image in memory has no file identity") }
        return try FileIdentity.of(fd: fd, path: path)
    }

    /// The number of bytes libelf may read: the file's size now, or the image's.
    private func byteCount() throws(SymbolizationError) -> UInt64 {
        switch source {
        case .file(let fd):
            var status = stat()
            guard fstat(fd, &status) == 0 else { throw .cannotOpen(path: path, errno: errno) }
            return UInt64(max(status.st_size, 0))
        case .image(let image):
            return UInt64(image.count)
        }
    }

    /// The function symbols (`.symtab`, else `.dynsym`), PT_LOAD segments and build id.
    func symbolTable() throws(SymbolizationError) -> SymbolTable {
        try symbolTable(from: sections())
    }

    /// The sections the agent reads (their headers only; no section data yet).
    struct Sections {
        var symtab: OpaquePointer?
        var dynsym: OpaquePointer?
        var notes: [OpaquePointer] = []
        /// Call-frame information for the unwinder, and the link to a separate debug file.
        var ehFrame: OpaquePointer?
        var debugFrame: OpaquePointer?
        var debugLink: OpaquePointer?
        /// `.gnu_debugdata`: an xz-compressed ELF file whose `.symtab` names the local functions.
        var debugData: OpaquePointer?
    }

    /// Reads and checks the section header table.
    func sections() throws(SymbolizationError) -> Sections {
        var header = GElf_Ehdr()
        guard gelf_getehdr(elf, &header) != nil else { throw .notELF(path: path, reason: "no ELF header") }
        var sectionNames = 0
        guard elf_getshdrstrndx(elf, &sectionNames) == 0 else { throw .notELF(path: path, reason: "no section name table") }
        // libelf reads the whole section header table at the first section it is asked for: check
        // that the table lies inside the file (and is of a sane size) before it does.
        var sectionCount = 0
        guard elf_getshdrnum(elf, &sectionCount) == 0, sectionCount <= Self.maximumHeaderCount else {
            throw .notELF(path: path, reason: "more than \(Self.maximumHeaderCount) sections")
        }
        let size = try byteCount()
        let (headersBytes, productOverflow) = UInt64(sectionCount).multipliedReportingOverflow(by: UInt64(header.e_shentsize))
        let (headersEnd, sumOverflow) = header.e_shoff.addingReportingOverflow(headersBytes)
        guard !productOverflow, !sumOverflow, headersEnd <= size else {
            throw .notELF(path: path, reason: "truncated: the section headers end past the end of the file")
        }

        var found = Sections()
        var section = elf_nextscn(elf, nil)
        while let current = section {
            var sectionHeader = GElf_Shdr()
            if gelf_getshdr(current, &sectionHeader) != nil {
                switch sectionHeader.sh_type {
                case UInt32(SHT_SYMTAB): found.symtab = current
                case UInt32(SHT_DYNSYM): found.dynsym = current
                case UInt32(SHT_NOTE): found.notes.append(current)
                case UInt32(SHT_PROGBITS), UInt32(SHT_X86_64_UNWIND):
                    // By name: only these four are wanted, and the names table is bounded.
                    switch sectionName(sectionHeader, namesIndex: sectionNames) {
                    case ".eh_frame": found.ehFrame = current
                    case ".debug_frame": found.debugFrame = current
                    case ".gnu_debuglink": found.debugLink = current
                    case ".gnu_debugdata": found.debugData = current
                    default: break
                    }
                default: break
                }
            }
            section = elf_nextscn(elf, current)
        }
        return found
    }

    /// The section's data, read only when its header's size is within `maximumSectionBytes`.
    func boundedData(_ section: OpaquePointer) throws(SymbolizationError) -> UnsafeMutablePointer<Elf_Data>? {
        var sectionHeader = GElf_Shdr()
        guard gelf_getshdr(section, &sectionHeader) != nil else { return nil }
        guard sectionHeader.sh_size <= Self.maximumSectionBytes else {
            throw .notELF(path: path, reason: "a section of \(sectionHeader.sh_size) bytes (at most \(Self.maximumSectionBytes) are read)")
        }
        return elf_getdata(section, nil)
    }

    /// A section's name, when the section name table is within the read bound.
    private func sectionName(_ header: GElf_Shdr, namesIndex: Int) -> String? {
        guard let names = elf_getscn(elf, namesIndex), (try? boundedData(names)) != nil,
            let name = elf_strptr(elf, namesIndex, Int(header.sh_name))
        else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: name, count: strnlen(name, 64)), as: UTF8.self)
    }

    /// Whether a section has bytes here that `withContents` would lend: not `SHT_NOBITS` (as a
    /// debug file's `.eh_frame`), within the read bound, readable (libelf keeps what it read).
    func hasContents(_ section: OpaquePointer) -> Bool {
        var header = GElf_Shdr()
        guard gelf_getshdr(section, &header) != nil, header.sh_type != UInt32(SHT_NOBITS) else { return false }
        return ((try? boundedData(section)) ?? nil)?.pointee.d_buf != nil
    }

    /// Calls `body` with a section's bytes where libelf holds them (read into its own memory, never
    /// mapped: see the type's comment), valid for the call, and its address; with nil for no
    /// section or one without contents. For large sections read once: no copy is made.
    func withContents<R>(
        of section: OpaquePointer?, _ body: ((bytes: UnsafeRawBufferPointer, address: UInt64)?) throws -> R
    ) throws -> R {
        var header = GElf_Shdr()
        guard let section, gelf_getshdr(section, &header) != nil, header.sh_type != UInt32(SHT_NOBITS),
            let data = try boundedData(section), let buffer = data.pointee.d_buf
        else { return try body(nil) }
        return try body((UnsafeRawBufferPointer(start: buffer, count: data.pointee.d_size), header.sh_addr))
    }

    /// A copy of a section's bytes and its address (`sh_addr`), within the read bound; nil for a
    /// section without contents in this file (`SHT_NOBITS`, as in a debug file's `.eh_frame`).
    func contents(of section: OpaquePointer) throws(SymbolizationError) -> (bytes: [UInt8], address: UInt64)? {
        var header = GElf_Shdr()
        guard gelf_getshdr(section, &header) != nil, header.sh_type != UInt32(SHT_NOBITS),
            let data = try boundedData(section), let buffer = data.pointee.d_buf
        else { return nil }
        return (Array(UnsafeRawBufferPointer(start: buffer, count: data.pointee.d_size)), header.sh_addr)
    }
}
