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
/// build id. Corrupt or truncated files give `SymbolizationError.notELF`, never a crash: libelf
/// bounds-checks what it maps, and every count read from the file is checked against the data.
final class ELFFile {
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
        guard let elf = elf_begin(fd, ELF_C_READ_MMAP, nil) else {
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
        var header = GElf_Ehdr()
        guard gelf_getehdr(elf, &header) != nil else { throw .notELF(path: path, reason: "no ELF header") }
        var sectionNames = 0
        guard elf_getshdrstrndx(elf, &sectionNames) == 0 else { throw .notELF(path: path, reason: "no section name table") }

        var symtab: OpaquePointer?
        var dynsym: OpaquePointer?
        var notes: [OpaquePointer] = []
        var section = elf_nextscn(elf, nil)
        while let current = section {
            var sectionHeader = GElf_Shdr()
            if gelf_getshdr(current, &sectionHeader) != nil {
                switch sectionHeader.sh_type {
                case UInt32(SHT_SYMTAB): symtab = current
                case UInt32(SHT_DYNSYM): dynsym = current
                case UInt32(SHT_NOTE): notes.append(current)
                default: break
                }
            }
            section = elf_nextscn(elf, current)
        }
        var status = stat()
        if fstat(fd, &status) == 0, header.e_shoff + UInt64(header.e_shnum) * UInt64(header.e_shentsize) > UInt64(status.st_size) {
            throw .notELF(path: path, reason: "truncated: the section headers end past the end of the file")
        }
        let symbols = (symtab ?? dynsym).map { readSymbols($0) } ?? []
        if symbols.isEmpty { throw .notELF(path: path, reason: "no function symbols") }
        return SymbolTable(
            fileID: try fileID(), buildID: buildID(notes), isDynamicOnly: symtab == nil && dynsym != nil,
            segments: segments(), symbols: symbols.map { ($0.start, $0.size, $0.name.utf8) })
    }

    private struct RawSymbol {
        var start: UInt64
        var size: UInt64
        var name: Substring
        var isGlobal: Bool
    }

    private func readSymbols(_ section: OpaquePointer) -> [RawSymbol] {
        var sectionHeader = GElf_Shdr()
        guard gelf_getshdr(section, &sectionHeader) != nil, sectionHeader.sh_entsize > 0,
            let data = elf_getdata(section, nil)
        else { return [] }
        let count = Int(data.pointee.d_size / Int(sectionHeader.sh_entsize))
        var symbols: [RawSymbol] = []
        symbols.reserveCapacity(count / 2)
        for index in 0..<count {
            var symbol = GElf_Sym()
            guard gelf_getsym(data, Int32(index), &symbol) != nil else { continue }
            let type = symbol.st_info & 0xf
            guard type == UInt8(STT_FUNC) || type == UInt8(STT_GNU_IFUNC), symbol.st_shndx != UInt16(SHN_UNDEF),
                symbol.st_value != 0, let name = elf_strptr(elf, Int(sectionHeader.sh_link), Int(symbol.st_name))
            else { continue }
            symbols.append(RawSymbol(
                start: symbol.st_value, size: symbol.st_size, name: Substring(String(cString: name)),
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
        guard elf_getphdrnum(elf, &count) == 0 else { return [] }
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
            guard let data = elf_getdata(section, nil), let bytes = data.pointee.d_buf else { continue }
            var offset = 0
            while true {
                var note = GElf_Nhdr()
                var nameOffset = 0
                var descriptorOffset = 0
                let next = gelf_getnote(data, offset, &note, &nameOffset, &descriptorOffset)
                if next == 0 { break }
                offset = next
                guard note.n_type == 3 /* NT_GNU_BUILD_ID */, note.n_namesz == 4,
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
