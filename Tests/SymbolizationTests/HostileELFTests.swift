import Foundation
@testable import Symbolization
import Testing

/// ELF files as a local user can craft them against a root agent that symbolizes their process:
/// each must give an error (or an unnamed frame), never a trap or a signal.
@Suite struct HostileELFTests {
    /// A copy of the fixture library with `patch` applied to its bytes.
    private func craftedCopy(_ name: String, _ patch: (inout Data) throws -> Void) throws -> String {
        let built = try Fixtures.built.get()
        var bytes = try Data(contentsOf: URL(fileURLWithPath: built.library))
        try patch(&bytes)
        let path = built.directory.appendingPathComponent(name).path
        try bytes.write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func aFileThatFailedIsNotParsedAgainForTheNextProcess() throws {
        let path = try craftedCopy("failed-once.so") { $0.storeLittleEndian(UInt64(0xFFFF_FFFF_FFFF_FFF0), at: 0x28) }
        let cache = SymbolTableCache(byteLimit: 1 << 20)
        for _ in 0..<3 {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            try #require(fd >= 0)
            #expect(cache.table(fd: fd, path: path) == nil)
            close(fd)
        }
        #expect(cache.failedParses == 1)
    }

    @Test func sectionHeadersAtAnOffsetThatOverflowsAreAnError() throws {
        // e_shoff (offset 0x28 of an ELF64 header) near 2^64: offset + count × size wraps.
        let path = try craftedCopy("shoff-overflow.so") { $0.storeLittleEndian(UInt64(0xFFFF_FFFF_FFFF_FFF0), at: 0x28) }
        #expect(throws: SymbolizationError.self) { _ = try SymbolTable.load(path: path) }
    }

    @Test func aSegmentWhoseAddressOverflowsNamesNothing() throws {
        // The first PT_LOAD (offset 0 of the file) claims p_vaddr = 2^64 - 1.
        let path = try craftedCopy("vaddr-overflow.so") { bytes in
            let phoff = Int(bytes.loadLittleEndian(UInt64.self, at: 0x20))
            let phentsize = Int(bytes.loadLittleEndian(UInt16.self, at: 0x36))
            let phnum = Int(bytes.loadLittleEndian(UInt16.self, at: 0x38))
            let load = try #require((0..<phnum).map { phoff + $0 * phentsize }.first { bytes.loadLittleEndian(UInt32.self, at: $0) == 1 })
            bytes.storeLittleEndian(UInt64.max, at: load + 0x10)  // p_vaddr
        }
        let table = try SymbolTable.load(path: path)
        #expect(table.virtualAddress(forFileOffset: 0x10) == nil)
    }

    @Test func aSymbolTableClaimingTerabytesIsNotRead() throws {
        let path = try craftedCopy("huge-symtab.so") { bytes in
            let shoff = Int(bytes.loadLittleEndian(UInt64.self, at: 0x28))
            let shentsize = Int(bytes.loadLittleEndian(UInt16.self, at: 0x3A))
            let shnum = Int(bytes.loadLittleEndian(UInt16.self, at: 0x3C))
            let symtab = try #require((0..<shnum).map { shoff + $0 * shentsize }.first { bytes.loadLittleEndian(UInt32.self, at: $0 + 4) == 2 })
            bytes.storeLittleEndian(UInt64(1) << 40, at: symtab + 0x20)  // sh_size
        }
        #expect(throws: SymbolizationError.self) { _ = try SymbolTable.load(path: path) }
    }

    /// The file's owner truncates it after we read its section headers and before we read the
    /// symbols. Read through a mapping, the parse would touch pages past the new end and die of
    /// SIGBUS; read with `pread`, it is a short read and an error.
    @Test func aFileTruncatedWhileOpenIsAnErrorNotSIGBUS() throws {
        let built = try Fixtures.built.get()
        let path = built.directory.appendingPathComponent("truncated-while-open.so").path
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.copyItem(atPath: built.library, toPath: path)
        let file = try ELFFile(path: path)
        let sections = try file.sections()
        #expect(truncate(path, 64) == 0)
        #expect(throws: SymbolizationError.self) { _ = try file.symbolTable(from: sections) }
    }
}

extension Data {
    func loadLittleEndian<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        T(littleEndian: withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) })
    }

    mutating func storeLittleEndian<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        withUnsafeMutableBytes { $0.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self) }
    }
}
