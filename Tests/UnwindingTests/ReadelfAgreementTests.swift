import Foundation
import Testing
@testable import Unwinding

/// Our tables against `readelf --debug-dump=frames-interp`: every row readelf prints must have
/// the same CFA, return-address and RBP rule in our table at that address, and every FDE's end
/// that starts no other FDE must have no rule.
@Suite struct ReadelfAgreementTests {
    struct Comparison {
        var rowsCompared = 0
        var entriesCompared = 0
        var mismatches: [String] = []
    }

    /// `coveringSections`: the sections the table was built from, whose FDEs may start where one
    /// of `section` ends.
    static func compare(_ table: UnwindTable, with readelf: ReadelfFrames, section: String, coveringSections: Set<String>? = nil) -> Comparison {
        var comparison = Comparison()
        let entries = readelf.entries.filter { !$0.isCIE && $0.section == section && $0.end > $0.start }
        let covering = coveringSections ?? [section]
        let ranges = readelf.entries.filter { !$0.isCIE && covering.contains($0.section) && $0.end > $0.start }
            .map { $0.start ..< $0.end }.sorted { $0.lowerBound < $1.lowerBound }
        /// Whether some FDE covers `address`: those starting at or below it, ending above it.
        func covered(_ address: UInt64) -> Bool {
            var low = 0
            var high = ranges.count
            while low < high {
                let middle = (low + high) / 2
                if ranges[middle].lowerBound <= address { low = middle + 1 } else { high = middle }
            }
            // FDEs do not nest in practice; look back a few for safety.
            return ranges[max(0, low - 4) ..< low].contains { $0.contains(address) }
        }
        for entry in entries {
            comparison.entriesCompared += 1
            let signal = readelf.augmentation(ofCIEAt: entry.cieOffset, section: section).contains("S")
            for row in readelf.rows(of: entry) {
                comparison.rowsCompared += 1
                if let problem = disagreement(table.rule(at: row.location), row, signalFrame: signal) {
                    comparison.mismatches.append(problem)
                }
            }
            // The gap after an FDE: unless another FDE covers that address.
            if !covered(entry.end), table.rule(at: entry.end) != .noRule {
                comparison.mismatches.append("0x\(String(entry.end, radix: 16)) (end of an FDE) has \(table.rule(at: entry.end).cfa)")
            }
        }
        return comparison
    }

    @Test func libcAgreesWithReadelf() throws {
        let path = "/lib/x86_64-linux-gnu/libc.so.6"
        let table = try UnwindTable.load(path: path)
        let comparison = Self.compare(table, with: try ReadelfFrames(path: path), section: ".eh_frame")
        #expect(comparison.mismatches.isEmpty, "\(comparison.mismatches.prefix(10))")
        #expect(comparison.rowsCompared > 10_000)
        #expect(table.statistics.skippedEntryCount == 0)
        // The PLT expression and the signal trampoline are both in libc.
        #expect((0 ..< table.rowCount).contains { if case .pltStub(8, 11) = table.row($0).rule.cfa { true } else { false } })
        #expect((0 ..< table.rowCount).contains { table.row($0).rule.cfa == .signalFrame })
        print("libc.so.6: \(table.rowCount) rows, \(table.distinctRuleCount) distinct rules, \(table.byteCount) bytes, \(comparison.rowsCompared) readelf rows agree, \(table.statistics)")
    }

    @Test func anOptimisedFixtureAgreesWithReadelf() throws {
        let path = try Tools.compile(FixturePrograms.capture, name: "agreement", flags: FixturePrograms.captureFlags)
        let table = try UnwindTable.load(path: path)
        let comparison = Self.compare(table, with: try ReadelfFrames(path: path), section: ".eh_frame")
        #expect(comparison.mismatches.isEmpty, "\(comparison.mismatches.prefix(10))")
        // The VLA function's RBP-based CFA, and _start's undefined return address.
        let kinds = (0 ..< table.rowCount).map { table.row($0).rule.cfa }
        #expect(kinds.contains { if case .bpOffset(16) = $0 { true } else { false } })
        #expect(kinds.contains(.outermost))
    }

    @Test func gdbAgreesWithReadelf() throws {
        let path = "/usr/bin/gdb"
        try #require(FileManager.default.fileExists(atPath: path))
        let clock = ContinuousClock()
        let start = clock.now
        let table = try UnwindTable.load(path: path)
        let built = clock.now - start
        let comparison = Self.compare(table, with: try ReadelfFrames(path: path), section: ".eh_frame")
        #expect(comparison.mismatches.isEmpty, "\(comparison.mismatches.prefix(10))")
        #expect(comparison.rowsCompared > 100_000)
        print("gdb: \(table.rowCount) rows, \(table.distinctRuleCount) distinct rules, \(table.byteCount) bytes, built in \(built), \(comparison.rowsCompared) readelf rows agree, \(table.statistics)")
    }

    @Test func debugFrameAgreesWithReadelf() throws {
        let path = try Tools.compile(FixturePrograms.capture, name: "debugframe", flags: FixturePrograms.debugFrameFlags)
        let elf = try ELFSections(path: path)
        let debug = try #require(elf.bytes(of: ".debug_frame"))
        let table = try debug.bytes.withUnsafeBytes { bytes in
            try UnwindTable(ehFrame: nil, debugFrame: CFISection(bytes: bytes, virtualAddress: debug.address, format: .debugFrame))
        }
        let readelf = try ReadelfFrames(path: path)
        let comparison = Self.compare(table, with: readelf, section: ".debug_frame")
        #expect(comparison.mismatches.isEmpty, "\(comparison.mismatches.prefix(10))")
        #expect(comparison.entriesCompared >= 4)
        #expect(table.statistics.skippedEntryCount == 0)

        // With both sections, the fixture's functions (only in .debug_frame) are found, and
        // nothing in .eh_frame (crt code) is overridden.
        let both = try UnwindTable.load(path: path, debugFrame: true)
        let ehOnly = try UnwindTable.load(path: path)
        let functions = try Tools.symbols(path).filter { $0.name.hasPrefix("uw_") }
        #expect(functions.count == 4)  // uw_a, uw_b, uw_c, uw_on_signal
        for function in functions {
            #expect(ehOnly.rule(at: function.start) == .noRule)
            #expect(both.rule(at: function.start) == table.rule(at: function.start))
            #expect(both.rule(at: function.start).cfa == .spOffset(8))
        }
        let ehComparison = Self.compare(both, with: readelf, section: ".eh_frame", coveringSections: [".eh_frame", ".debug_frame"])
        #expect(ehComparison.mismatches.isEmpty, "\(ehComparison.mismatches.prefix(10))")
    }
}
