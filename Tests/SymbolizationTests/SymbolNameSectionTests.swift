import Foundation
import Testing
import TraceModel

@testable import Symbolization

/// A large binary's names stay in its file and are read when a function is first named: the
/// same names as read into memory, and none (not a trap, not another function's) once the file
/// lost them.
@Suite struct SymbolNameSectionTests {
    /// This test binary: tens of MiB of Swift names in its `.symtab`'s string section.
    private static let largeBinary = "/proc/self/exe"

    @Test func namesReadFromTheFileAreTheNamesReadIntoMemory() throws {
        let table = try SymbolTable.load(path: Self.largeBinary)
        #expect(table.namesStayInFile)
        let file = try ELFFile(path: Self.largeBinary)
        let symtab = try #require(try file.sections().symtab)
        let inMemory = try file.readSymbols(symtab)
        #expect(inMemory.nameSection == nil)
        #expect(inMemory.count == table.symbolCount)
        // The names alone are most of a table held in memory; left in the file, a descriptor.
        #expect(table.byteCount < inMemory.count * 20 + inMemory.names.count / 2)
        for index in stride(from: 0, to: inMemory.count, by: 97) {
            let expected = try #require(inMemory.name(of: inMemory.symbols[index]))
            #expect(table.rawName(index) == String(decoding: expected, as: UTF8.self))
        }
    }

    @Test func aFileCutShortAfterTheTableWasBuiltNamesNothingPastTheCut() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("names-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let copy = directory.appendingPathComponent("large").path
        try FileManager.default.copyItem(atPath: try FileManager.default.destinationOfSymbolicLink(atPath: Self.largeBinary), toPath: copy)
        let table = try SymbolTable.load(path: copy)
        #expect(table.namesStayInFile)
        // Every 13th symbol: enough to cross the cut, few enough for a debug build under ASan.
        let sample = Array(stride(from: 0, to: table.symbolCount, by: 13))
        let names = sample.map { table.rawName($0) }
        #expect(names.allSatisfy { $0 != nil })

        // Cut in the middle of the string section (the last section but one of a linked binary,
        // before .shstrtab): names before the cut are still read, those after are none.
        let size = try #require(try FileManager.default.attributesOfItem(atPath: copy)[.size] as? Int)
        #expect(truncate(copy, off_t(size - 4 << 20)) == 0, "truncate: errno \(errno)")
        let after = sample.map { table.rawName($0) }
        let kept = zip(names, after).filter { $0.1 != nil }
        #expect(kept.allSatisfy { $0.0 == $0.1 })
        #expect(kept.count < names.count)
        // Emptied: no names at all, and no trap.
        #expect(truncate(copy, 0) == 0)
        #expect(sample.allSatisfy { table.rawName($0) == nil })
    }
}
