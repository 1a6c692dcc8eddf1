internal import CSystemLibraries

/// `.gnu_debugdata` ("MiniDebugInfo" in gdb): the third place, after `.symtab` and a separate
/// debug file, where gdb and perf find the functions of a stripped file. Fedora's packages carry
/// it so that backtraces name static functions without debuginfo installed: an xz-compressed ELF
/// file whose `.symtab` keeps only the local functions (the exported ones are in `.dynsym`).
///
/// The section belongs to whoever wrote the file, so what it may cost is bounded before it is
/// decoded (`XZDecoder`), and the ELF file inside is read by the same reader, with the same
/// bounds, as files on disk. A refused section is counted — over the limits, or corrupt (not one
/// intact xz stream, or no ELF file with function symbols inside) — and the file keeps the names
/// of its `.dynsym`.
struct MiniDebugInfo {
    /// The most bytes a section may decode to. A mini table is a symbol table (24 bytes a
    /// function) and its names, nothing else: a few hundred KiB for a large C library, a few MiB
    /// for the largest C++ libraries. 16 MiB leaves room for several times that and stays a small
    /// part of the agent's memory bound (design/security.md) for the moment of parsing one file;
    /// a section claiming more is refused from its index alone, before anything is allocated.
    static let maximumDecodedBytes = 16 << 20
    /// The most liblzma may allocate to decode. xz's largest preset (`-9`) asks for a 64 MiB
    /// dictionary, 65 MiB in all (Fedora's default `-6`: 9 MiB); only custom filters ask for more.
    /// The dictionary is allocated whole but touched only as far as the output reaches, so what
    /// stays resident is bounded by `maximumDecodedBytes` however large the dictionary.
    static let maximumDecoderBytes: UInt64 = 80 << 20
    /// The most liblzma may allocate for the stream's index: KiB for the few blocks xz writes, so
    /// a crafted index listing millions of blocks is refused before it is built.
    static let maximumIndexBytes: UInt64 = 1 << 20

    static let limits = XZDecoder.Limits(
        outputBytes: maximumDecodedBytes, decoderBytes: maximumDecoderBytes, indexBytes: maximumIndexBytes)

    /// Sections whose functions joined a file's table.
    private(set) var used = 0
    /// Sections refused because they claimed more than the limits allow.
    private(set) var overLimit = 0
    /// Sections refused because they were not one intact xz stream of an ELF file with functions.
    private(set) var corrupt = 0

    /// The local functions of `file`'s `.gnu_debugdata`; none when it has no such section or it
    /// is refused (and counted).
    mutating func functions(of file: ELFFile, sections: ELFFile.Sections) -> FunctionSymbols {
        guard let section = sections.debugData else { return FunctionSymbols() }
        do {
            let functions = try Self.read(section, of: file)
            used += 1
            return functions
        } catch .overLimit {
            overLimit += 1
        } catch {
            corrupt += 1
        }
        return FunctionSymbols()
    }

    /// The defined functions of the `.symtab` of the ELF file compressed in `section`.
    static func read(_ section: OpaquePointer, of file: ELFFile) throws(XZDecoder.Failure) -> FunctionSymbols {
        var header = GElf_Shdr()
        guard gelf_getshdr(section, &header) != nil else { throw .corrupt("no section header") }
        // xz stores what it cannot compress as it is, so a stream is at most a little larger than
        // what it decodes to: a section above the decoded limit holds no stream within it that a
        // real packager wrote. Not even read.
        guard header.sh_size <= UInt64(maximumDecodedBytes) else {
            throw .overLimit("a section of \(header.sh_size) bytes (at most \(maximumDecodedBytes))")
        }
        let name = file.path + " (.gnu_debugdata)"
        do {
            guard let (compressed, _) = try file.contents(of: section) else { throw XZDecoder.Failure.corrupt("no contents") }
            let image = try compressed.withUnsafeBytes { bytes in try XZDecoder.decode(bytes, limits: limits) }
            let mini = try ELFFile(image: image, path: name)
            guard let symtab = try mini.sections().symtab else { throw XZDecoder.Failure.corrupt("\(name) has no .symtab") }
            let functions = try mini.readSymbols(symtab)
            guard !functions.isEmpty else { throw XZDecoder.Failure.corrupt("\(name) has no function symbols") }
            return functions
        } catch let failure as XZDecoder.Failure {
            throw failure
        } catch {
            // The reader's errors: the decoded bytes are no ELF file we can read.
            throw .corrupt(String(describing: error))
        }
    }
}
