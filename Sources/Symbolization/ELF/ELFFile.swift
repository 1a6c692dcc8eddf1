internal import CSystemLibraries
import LinuxSystem
import TraceModel

#if canImport(Glibc)
import Glibc
#endif

/// Why a file could not be read as an ELF file with symbols.
public enum SymbolizationError: Error, Hashable, Sendable, CustomStringConvertible {
    case cannotOpen(path: String, errno: Int32)
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

    private let fd: Int32
    private let elf: OpaquePointer
    let path: String

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
        self.fd = fd
        self.elf = elf
        self.path = path
    }

    deinit {
        elf_end(elf)
        close(fd)
    }

    /// The file's identity: XXH3-128 over its first 4 KiB, its last 4 KiB and its length.
    func fileID() throws(SymbolizationError) -> FileID {
        try FileIdentity.of(fd: fd, path: path)
    }

    /// The function symbols (`.symtab`, else `.dynsym`), PT_LOAD segments and build id.
    func symbolTable() throws(SymbolizationError) -> SymbolTable {
        try symbolTable(from: sections())
    }

    /// The sections the symbol table is read from (their headers only; no section data yet).
    struct Sections {
        var symtab: OpaquePointer?
        var dynsym: OpaquePointer?
        var notes: [OpaquePointer] = []
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
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw .cannotOpen(path: path, errno: errno) }
        let (headersBytes, productOverflow) = UInt64(sectionCount).multipliedReportingOverflow(by: UInt64(header.e_shentsize))
        let (headersEnd, sumOverflow) = header.e_shoff.addingReportingOverflow(headersBytes)
        guard !productOverflow, !sumOverflow, headersEnd <= UInt64(max(status.st_size, 0)) else {
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
                default: break
                }
            }
            section = elf_nextscn(elf, current)
        }
        return found
    }

    /// The symbol table from the sections `sections()` found: here section data is read, and
    /// the file may have shrunk since (see the type's comment).
    func symbolTable(from sections: Sections) throws(SymbolizationError) -> SymbolTable {
        var symbols: [RawSymbol] = []
        if let section = sections.symtab ?? sections.dynsym { symbols = try readSymbols(section) }
        if symbols.isEmpty { throw .notELF(path: path, reason: "no function symbols") }
        return SymbolTable(
            fileID: try fileID(), buildID: buildID(sections.notes), isDynamicOnly: sections.symtab == nil && sections.dynsym != nil,
            segments: segments(), symbols: symbols.map { ($0.start, $0.size, $0.name.utf8) })
    }

    private struct RawSymbol {
        var start: UInt64
        var size: UInt64
        var name: Substring
        var isGlobal: Bool
    }

    /// The section's data, read only when its header's size is within `maximumSectionBytes`.
    private func boundedData(_ section: OpaquePointer) throws(SymbolizationError) -> UnsafeMutablePointer<Elf_Data>? {
        var sectionHeader = GElf_Shdr()
        guard gelf_getshdr(section, &sectionHeader) != nil else { return nil }
        guard sectionHeader.sh_size <= Self.maximumSectionBytes else {
            throw .notELF(path: path, reason: "a section of \(sectionHeader.sh_size) bytes (at most \(Self.maximumSectionBytes) are read)")
        }
        return elf_getdata(section, nil)
    }

    private func readSymbols(_ section: OpaquePointer) throws(SymbolizationError) -> [RawSymbol] {
        var sectionHeader = GElf_Shdr()
        // A symbol entry is 24 bytes (ELF64) or 16 (ELF32); anything else is not a symbol table.
        guard gelf_getshdr(section, &sectionHeader) != nil, sectionHeader.sh_entsize >= 16, sectionHeader.sh_entsize <= 64,
            let data = try boundedData(section)
        else { return [] }
        // The names' section is read (by elf_strptr) only within the same bound.
        guard sectionHeader.sh_link < UInt32.max, let names = elf_getscn(elf, Int(sectionHeader.sh_link)), try boundedData(names) != nil else {
            return []
        }
        let count = data.pointee.d_size / Int(sectionHeader.sh_entsize)
        var symbols: [RawSymbol] = []
        symbols.reserveCapacity(count / 2)
        // Many symbols can share one long name: bound what the copies add up to, too.
        var nameBytes: UInt64 = 0
        for index in 0..<count {
            var symbol = GElf_Sym()
            guard gelf_getsym(data, Int32(truncatingIfNeeded: index), &symbol) != nil else { continue }
            let type = symbol.st_info & 0xf
            guard type == UInt8(STT_FUNC) || type == UInt8(STT_GNU_IFUNC), symbol.st_shndx != UInt16(SHN_UNDEF),
                symbol.st_value != 0, let name = elf_strptr(elf, Int(sectionHeader.sh_link), Int(symbol.st_name))
            else { continue }
            let length = strnlen(name, Self.maximumNameBytes)
            nameBytes += UInt64(length)
            guard nameBytes <= Self.maximumSectionBytes else {
                throw .notELF(path: path, reason: "symbol names of more than \(Self.maximumSectionBytes) bytes")
            }
            let text = String(decoding: UnsafeRawBufferPointer(start: name, count: length), as: UTF8.self)
            symbols.append(RawSymbol(
                start: symbol.st_value, size: symbol.st_size, name: Substring(text),
                isGlobal: symbol.st_info >> 4 == UInt8(STB_GLOBAL)))
        }
        // Sorted by address; of aliases at one address, keep the sized, global one.
        symbols.sort { a, b in
            if a.start != b.start { return a.start < b.start }
            if (a.size != 0) != (b.size != 0) { return a.size != 0 }
            return a.isGlobal && !b.isGlobal
        }
        var unique: [RawSymbol] = []
        unique.reserveCapacity(symbols.count)
        for symbol in symbols where unique.last?.start != symbol.start { unique.append(symbol) }
        return unique
    }

    private func segments() -> [SymbolTable.Segment] {
        var count = 0
        guard elf_getphdrnum(elf, &count) == 0, count <= Self.maximumHeaderCount else { return [] }
        var segments: [SymbolTable.Segment] = []
        for index in 0..<count {
            var header = GElf_Phdr()
            guard gelf_getphdr(elf, Int32(index), &header) != nil, header.p_type == UInt32(PT_LOAD) else { continue }
            segments.append(SymbolTable.Segment(virtualAddress: header.p_vaddr, fileOffset: header.p_offset, fileSize: header.p_filesz))
        }
        return segments
    }

    private func buildID(_ notes: [OpaquePointer]) -> String? {
        for section in notes {
            guard let data = try? boundedData(section), let bytes = data.pointee.d_buf else { continue }
            var offset = 0
            while true {
                var note = GElf_Nhdr()
                var nameOffset = 0
                var descriptorOffset = 0
                let next = gelf_getnote(data, offset, &note, &nameOffset, &descriptorOffset)
                if next == 0 { break }
                offset = next
                guard note.n_type == 3 /* NT_GNU_BUILD_ID */, note.n_namesz == 4,
                    nameOffset >= 0, nameOffset <= data.pointee.d_size - 4,
                    descriptorOffset >= 0, descriptorOffset <= data.pointee.d_size,
                    Int(note.n_descsz) <= data.pointee.d_size - descriptorOffset
                else { continue }
                let name = String(decoding: UnsafeRawBufferPointer(start: bytes + nameOffset, count: 3), as: UTF8.self)
                guard name == "GNU" else { continue }
                let descriptor = UnsafeRawBufferPointer(start: bytes + descriptorOffset, count: Int(note.n_descsz))
                return descriptor.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
            }
        }
        return nil
    }
}
