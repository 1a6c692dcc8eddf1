import FuzzSupport
// Testable: the debug-link, build-id and `.gnu_debugdata` readers are internal to the module.
// scripts/fuzz builds in debug, where SwiftPM compiles every module for testing.
@testable import Symbolization

// The input is a whole ELF file (seeds: small real executables and libraries, stripped and not,
// with build ids, debug links and a `.gnu_debugdata` mini symbol table). The symbolizer opens any
// file a sampled process maps, and that file belongs to whoever wrote it. On each input:
// - `SymbolTable.load` must return a table or throw, and a table must answer every question the
//   symbolizer asks of it;
// - the references to debug information (build id note, `.gnu_debuglink` name and CRC) read as
//   well-formed values or not at all, and `.gnu_debugdata` is decompressed within its limits,
//   refused and counted once, or absent;
// - the same bytes, read as an ELF image in memory (what a `.gnu_debugdata` stream may decode
//   to), give sorted symbols or an error;
// - the names copied into a table and the names left in the file (as a large string section's
//   are, read one by one when a frame is named) are cut by one rule: every symbol the copy keeps,
//   the file keeps under the same name.

/// One file for every run, opened by path as the symbolizer opens `/proc/<pid>/map_files/...`.
private let file = MemoryFile(name: "fuzz-elf")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzELF(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    file.replaceContents(with: bytes)
    checkSymbolTable(probe: bytes)
    checkDebugReferences(probe: bytes)
    checkImageInMemory(bytes)
    checkNamesLeftInTheFile()
    return 0
}

private func checkSymbolTable(probe bytes: UnsafeRawBufferPointer) {
    guard let table = try? SymbolTable.load(path: file.path) else { return }
    precondition(table.symbolCount > 0, "a table without symbols is an error, not a table")
    precondition(table.byteCount > 0)
    _ = table.buildID
    _ = table.isDynamicOnly
    lookUp(in: table, probe: bytes)
    // Names through the demanglers (Swift's and the C++ one), at most a few per file: mangled
    // names from the input are what they are most exposed to.
    for index in stride(from: 0, to: table.symbolCount, by: max(1, table.symbolCount / 8)) {
        _ = table.displayName(index)
    }
}

/// Lookups at addresses the file names: each symbol's start, and file offsets through the
/// PT_LOAD segments (both from the input, so the fuzzer steers them too).
private func lookUp(in table: SymbolTable, probe bytes: UnsafeRawBufferPointer) {
    var probe = FuzzInput(bytes)
    for _ in 0..<16 {
        let address = probe.read(UInt64.self)
        if let index = table.symbolIndex(containing: address) {
            precondition(index >= 0 && index < table.symbolCount, "symbol index \(index) of \(table.symbolCount)")
            _ = table.rawName(index)
        }
        if let virtualAddress = table.virtualAddress(forFileOffset: address), let index = table.symbolIndex(containing: virtualAddress) {
            precondition(index >= 0 && index < table.symbolCount)
        }
    }
}

/// What the symbol table cache reads of a stripped file, whatever the file holds.
private func checkDebugReferences(probe bytes: UnsafeRawBufferPointer) {
    guard let elf = try? ELFFile(path: file.path), let sections = try? elf.sections() else { return }
    if let buildID = elf.buildID(sections.notes) {
        precondition(buildID.utf8.count % 2 == 0 && buildID.allSatisfy(\.isHexDigit), "build id \(buildID)")
    }
    if let link = elf.debugLink(sections) {
        precondition(!link.name.isEmpty && link.name.utf8.count <= 255 && !link.name.contains("/"), "debug link \(link.name)")
    }
    // No directories and no original directory: both references are read, no file is opened.
    var locator = DebugFileLocator(directories: [])
    precondition(locator.debugFile(for: elf, sections: sections, originalDirectory: nil) == nil)

    var miniDebugInfo = MiniDebugInfo()
    let functions = miniDebugInfo.functions(of: elf, sections: sections)
    let outcomes = miniDebugInfo.used + miniDebugInfo.overLimit + miniDebugInfo.corrupt
    precondition(outcomes == (sections.debugData == nil ? 0 : 1), "one outcome per section, \(outcomes) counted")
    precondition(functions.isEmpty == (miniDebugInfo.used == 0), "functions only from a section used")
    checkSorted(functions)
    if !functions.isEmpty, let table = try? elf.symbolTable(from: sections, miniDebugInfo: functions) {
        precondition(table.symbolCount > 0 && !table.isDynamicOnly)
        lookUp(in: table, probe: bytes)
    }
}

/// The symbols read twice: names copied, and names left in the file whatever the section's size.
private func checkNamesLeftInTheFile() {
    guard let elf = try? ELFFile(path: file.path), let sections = try? elf.sections(), let section = sections.symtab ?? sections.dynsym,
        let copied = try? elf.readSymbols(section), let left = try? elf.readSymbols(section, leavingLargeNames: true, largeNames: 0)
    else { return }
    checkSorted(left)
    guard left.nameSection != nil else { return }  // no descriptor left to duplicate: nothing to compare
    // The file's reading keeps symbols whose name it has not read yet (the copy drops those whose
    // name has no end): a superset, and one address for each. Where every name it kept reads,
    // both kept the same symbols (of aliases, the same one) and must name them alike.
    precondition(left.count >= copied.count, "\(copied.count) symbols copied, \(left.count) from the file")
    let names = left.symbols.map { left.name(of: $0) }
    guard left.count == copied.count, names.allSatisfy({ $0 != nil }) else { return }
    for (index, kept) in copied.symbols.enumerated() {
        let fromFile = left.symbols[index]
        precondition(kept.start == fromFile.start && kept.size == fromFile.size && kept.isGlobal == fromFile.isGlobal, "the same symbols")
        precondition(copied.name(of: kept).map(Array.init) == names[index].map(Array.init), "one name, however it is read")
    }
}

/// The input as the reader sees a decompressed `.gnu_debugdata`: an ELF file in memory.
private func checkImageInMemory(_ bytes: UnsafeRawBufferPointer) {
    guard !bytes.isEmpty else { return }
    let image = ELFImage(count: bytes.count)
    image.withUnsafeMutableBytes { $0.copyMemory(from: bytes) }
    guard let elf = try? ELFFile(image: image, path: "fuzz-image"), let sections = try? elf.sections() else { return }
    precondition(elf.fd == nil)
    _ = elf.buildID(sections.notes)
    _ = elf.debugLink(sections)
    guard let symbols = sections.symtab ?? sections.dynsym, let functions = try? elf.readSymbols(symbols) else { return }
    checkSorted(functions)
}

private func checkSorted(_ functions: FunctionSymbols) {
    for (previous, next) in zip(functions.symbols, functions.symbols.dropFirst()) {
        precondition(previous.start < next.start, "functions sorted, one per address")
    }
    // Every name lies in the buffer, NUL-terminated.
    for symbol in functions.symbols { _ = functions.name(of: symbol) }
}
