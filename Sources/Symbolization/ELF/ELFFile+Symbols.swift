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
        from sections: Sections, debugFile: (file: ELFFile, sections: Sections)? = nil, miniDebugInfo: FunctionSymbols = FunctionSymbols()
    ) throws(SymbolizationError) -> SymbolTable {
        var functions = FunctionSymbols()
        var isDynamicOnly = sections.symtab == nil && sections.dynsym != nil
        // Names stay in the file unless a mini table's join them (those are in memory).
        let leavingLargeNames = miniDebugInfo.isEmpty
        if let debugFile, let symtab = debugFile.sections.symtab {
            functions = try debugFile.file.readSymbols(symtab, leavingLargeNames: leavingLargeNames)
            isDynamicOnly = false
        }
        if functions.isEmpty, let section = sections.symtab ?? sections.dynsym {
            functions = try readSymbols(section, leavingLargeNames: leavingLargeNames)
        }
        if !miniDebugInfo.isEmpty {
            functions.merge(miniDebugInfo)
            isDynamicOnly = false
        }
        if functions.isEmpty { throw .notELF(path: path, reason: "no function symbols") }
        return SymbolTable(
            fileID: try fileID(), buildID: buildID(sections.notes), isDynamicOnly: isDynamicOnly, segments: segments(), functions: functions)
    }

    /// The defined function symbols of a symbol section, sorted by address, one per address.
    ///
    /// `leavingLargeNames`: a string section of at least `largeNames` bytes (by default
    /// `SymbolNameSection.minimumBytes`) in a file on disk is left there
    /// (`FunctionSymbols.nameSection`), and not even read now. Either way a name is cut as
    /// `functionNameLength(_:)` says.
    func readSymbols(
        _ section: OpaquePointer, leavingLargeNames: Bool = false, largeNames: UInt64 = SymbolNameSection.minimumBytes
    ) throws(SymbolizationError) -> FunctionSymbols {
        var sectionHeader = GElf_Shdr()
        // A symbol entry is 24 bytes (ELF64) or 16 (ELF32); anything else is not a symbol table.
        guard gelf_getshdr(section, &sectionHeader) != nil, sectionHeader.sh_entsize >= 16, sectionHeader.sh_entsize <= 64,
            let data = try boundedData(section),
            sectionHeader.sh_link < UInt32.max, let namesSection = elf_getscn(elf, Int(sectionHeader.sh_link))
        else { return FunctionSymbols() }
        var namesHeader = GElf_Shdr()
        guard gelf_getshdr(namesSection, &namesHeader) != nil, namesHeader.sh_type == UInt32(SHT_STRTAB) else { return FunctionSymbols() }
        var functions = FunctionSymbols()
        if leavingLargeNames, let fd, namesHeader.sh_size >= largeNames, namesHeader.sh_size <= Self.maximumSectionBytes {
            functions.nameSection = SymbolNameSection(duplicating: fd, offset: namesHeader.sh_offset, size: namesHeader.sh_size)
        }
        // The names' section is read only within the same bound.
        var names = UnsafeRawBufferPointer(start: nil, count: 0)
        if functions.nameSection == nil {
            guard let namesData = try boundedData(namesSection), let buffer = namesData.pointee.d_buf else { return FunctionSymbols() }
            names = UnsafeRawBufferPointer(start: buffer, count: namesData.pointee.d_size)
            // Room for the section's bytes, a guess (shared names are copied once per symbol);
            // one reservation touches no page it does not fill.
            functions.names.reserveCapacity(names.count)
        }
        let count = data.pointee.d_size / Int(sectionHeader.sh_entsize)
        functions.symbols.reserveCapacity(count / 2)
        for index in 0..<count {
            var symbol = GElf_Sym()
            guard gelf_getsym(data, Int32(truncatingIfNeeded: index), &symbol) != nil else { continue }
            let type = symbol.st_info & 0xf
            guard type == UInt8(STT_FUNC) || type == UInt8(STT_GNU_IFUNC), symbol.st_shndx != UInt16(SHN_UNDEF), symbol.st_value != 0
            else { continue }
            let isGlobal = symbol.st_info >> 4 == UInt8(STB_GLOBAL)
            if functions.nameSection != nil {
                // Read when the function is first named; an offset outside the section never is.
                guard UInt64(symbol.st_name) < namesHeader.sh_size else { continue }
                functions.symbols.append(.init(start: symbol.st_value, size: symbol.st_size, nameOffset: symbol.st_name, isGlobal: isGlobal))
                continue
            }
            let offset = Int(symbol.st_name)
            guard offset < names.count,
                let length = Self.functionNameLength(UnsafeRawBufferPointer(rebasing: names[offset..<min(names.count, offset + Self.maximumNameBytes + 1)]))
            else { continue }
            // Many symbols can share one long name: bound what the copies add up to, too.
            guard UInt64(functions.names.count + length) < Self.maximumSectionBytes else {
                throw .notELF(path: path, reason: "symbol names of more than \(Self.maximumSectionBytes) bytes")
            }
            functions.append(start: symbol.st_value, size: symbol.st_size, isGlobal: isGlobal, name: UnsafeRawBufferPointer(rebasing: names[offset..<(offset + length)]))
        }
        functions.sortByAddress()
        return functions
    }

    /// How many of `bytes` — a symbol's name and what follows it in its string section, at most
    /// `maximumNameBytes + 1` of them — are the function's name: up to the NUL, at most
    /// `maximumNameBytes`, and before an `@VERSION` / `@@VERSION` suffix (versioned symbols in a
    /// debug file's .symtab; a name that starts with `@` is kept whole). Nil for a name whose NUL
    /// is not in the section (unless it is longer than the bound: then it is cut). The one rule
    /// for names copied into a table and names read later from the file (`SymbolNameSection`).
    static func functionNameLength(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard var length = bytes.firstIndex(of: 0) ?? (bytes.count > maximumNameBytes ? maximumNameBytes : nil) else { return nil }
        length = min(length, maximumNameBytes)
        if let at = bytes[..<length].firstIndex(of: UInt8(ascii: "@")), at > 0 { length = at }
        return length
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
