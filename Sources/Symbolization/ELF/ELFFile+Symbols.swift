internal import CSystemLibraries
import TraceModel

#if canImport(Glibc)
import Glibc
#endif

/// Function symbols and PT_LOAD segments: what a `SymbolTable` is made of.
extension ELFFile {
    /// The symbol table from the sections `sections()` found: here section data is read, and
    /// the file may have shrunk since (see the type's comment).
    ///
    /// `debugFile`: a separate debug file of this one (`DebugFileLocator`) whose `.symtab` names
    /// the functions when this file has only `.dynsym`; identity, build id and segments still
    /// come from this file.
    ///
    /// `miniDebugInfo`: the local functions of this file's `.gnu_debugdata` (`MiniDebugInfo`),
    /// named beside its `.dynsym` — the mini table leaves out the exported functions that
    /// `.dynsym` already names.
    func symbolTable(
        from sections: Sections, debugFile: (file: ELFFile, sections: Sections)? = nil, miniDebugInfo: [RawSymbol] = []
    ) throws(SymbolizationError) -> SymbolTable {
        var symbols: [RawSymbol] = []
        var isDynamicOnly = sections.symtab == nil && sections.dynsym != nil
        if let debugFile, let symtab = debugFile.sections.symtab {
            symbols = try debugFile.file.readSymbols(symtab)
            isDynamicOnly = false
        }
        if symbols.isEmpty, let section = sections.symtab ?? sections.dynsym { symbols = try readSymbols(section) }
        if !miniDebugInfo.isEmpty {
            symbols = Self.sortedByAddress(symbols + miniDebugInfo)
            isDynamicOnly = false
        }
        if symbols.isEmpty { throw .notELF(path: path, reason: "no function symbols") }
        return SymbolTable(
            fileID: try fileID(), buildID: buildID(sections.notes), isDynamicOnly: isDynamicOnly,
            segments: segments(), symbols: symbols.map { ($0.start, $0.size, $0.name.utf8) })
    }

    /// A function symbol as a symbol section holds it, before it joins a `SymbolTable`.
    struct RawSymbol {
        var start: UInt64
        var size: UInt64
        var name: Substring
        var isGlobal: Bool
    }

    /// The defined function symbols of a symbol section, sorted by address, one per address.
    func readSymbols(_ section: OpaquePointer) throws(SymbolizationError) -> [RawSymbol] {
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
            var length = strnlen(name, Self.maximumNameBytes)
            // `name@VERSION` / `name@@VERSION` (versioned symbols in a debug file's .symtab):
            // the function's name is the part before.
            if let at = memchr(name, Int32(UInt8(ascii: "@")), length), UnsafeRawPointer(at) > UnsafeRawPointer(name) {
                length = UnsafeRawPointer(at) - UnsafeRawPointer(name)
            }
            nameBytes += UInt64(length)
            guard nameBytes <= Self.maximumSectionBytes else {
                throw .notELF(path: path, reason: "symbol names of more than \(Self.maximumSectionBytes) bytes")
            }
            let text = String(decoding: UnsafeRawBufferPointer(start: name, count: length), as: UTF8.self)
            symbols.append(RawSymbol(
                start: symbol.st_value, size: symbol.st_size, name: Substring(text),
                isGlobal: symbol.st_info >> 4 == UInt8(STB_GLOBAL)))
        }
        return Self.sortedByAddress(symbols)
    }

    /// Sorted by address; of aliases at one address, the sized, global one is kept.
    static func sortedByAddress(_ symbols: [RawSymbol]) -> [RawSymbol] {
        let sorted = symbols.sorted { a, b in
            if a.start != b.start { return a.start < b.start }
            if (a.size != 0) != (b.size != 0) { return a.size != 0 }
            return a.isGlobal && !b.isGlobal
        }
        var unique: [RawSymbol] = []
        unique.reserveCapacity(sorted.count)
        for symbol in sorted where unique.last?.start != symbol.start { unique.append(symbol) }
        return unique
    }

    func segments() -> LoadSegments {
        var count = 0
        guard elf_getphdrnum(elf, &count) == 0, count <= Self.maximumHeaderCount else { return LoadSegments(segments: []) }
        var segments: [LoadSegments.Segment] = []
        for index in 0..<count {
            var header = GElf_Phdr()
            guard gelf_getphdr(elf, Int32(index), &header) != nil, header.p_type == UInt32(PT_LOAD) else { continue }
            segments.append(LoadSegments.Segment(virtualAddress: header.p_vaddr, fileOffset: header.p_offset, fileSize: header.p_filesz))
        }
        return LoadSegments(segments: segments)
    }

}
