import FuzzSupport
import Symbolization

// The input is a whole ELF file (seeds: small real executables and libraries, stripped and not,
// with build ids and debug links). The symbolizer opens any file a sampled process maps, and
// that file belongs to whoever wrote it: `SymbolTable.load` must return a table or throw, and a
// table must answer every question the symbolizer asks of it.

/// One file for every run, opened by path as the symbolizer opens `/proc/<pid>/map_files/...`.
private let file = MemoryFile(name: "fuzz-elf")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzELF(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    file.replaceContents(with: bytes)
    guard let table = try? SymbolTable.load(path: file.path) else { return 0 }
    precondition(table.symbolCount > 0, "a table without symbols is an error, not a table")
    precondition(table.byteCount > 0)
    _ = table.buildID
    _ = table.isDynamicOnly
    // Lookups at addresses the file names: each symbol's start, and file offsets through the
    // PT_LOAD segments (both from the input, so the fuzzer steers them too).
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
    // Names through the demanglers (Swift's and the C++ one), at most a few per file: mangled
    // names from the input are what they are most exposed to.
    for index in stride(from: 0, to: table.symbolCount, by: max(1, table.symbolCount / 8)) {
        _ = table.displayName(index)
    }
    return 0
}
