import Testing
@testable import Unwinding

/// Untrusted bytes: truncations, flips, absurd lengths and pointers. Nothing may trap; what is
/// skipped must be counted under the right reason; the table's invariants must hold.
@Suite struct MalformedInputTests {
    /// libc's `.eh_frame` and its address.
    static let libc: Result<(address: UInt64, bytes: [UInt8]), Error> = Result {
        guard let section = try ELFSections(path: "/lib/x86_64-linux-gnu/libc.so.6").bytes(of: ".eh_frame") else {
            throw TestFailure("libc has no .eh_frame")
        }
        return section
    }

    static func table(_ bytes: ArraySlice<UInt8>, address: UInt64, limits: UnwindTableLimits = UnwindTableLimits()) throws -> UnwindTable {
        try bytes.withUnsafeBytes { try UnwindTable(ehFrame: CFISection(bytes: $0, virtualAddress: address, format: .ehFrame), limits: limits) }
    }

    @Test func everyPrefixOfARealEhFrameKeepsTheEntriesItHolds() throws {
        let libc = try Self.libc.get()
        // Every length of the first 6 KiB, then a stride through the whole section.
        let lengths = Array(0 ... 6144) + Array(stride(from: 6145, through: libc.bytes.count, by: 4093)) + [libc.bytes.count]
        var previousEntries = 0
        for length in lengths {
            let table = try Self.table(libc.bytes[..<length], address: libc.address)
            let skipped = table.statistics.skippedEntries
            #expect(skipped.isEmpty || skipped == [.lengthOutOfBounds: 1], "prefix \(length): \(skipped)")
            #expect(table.statistics.frameEntries >= previousEntries, "prefix \(length)")
            #expect(table.checkInvariants(), "prefix \(length)")
            previousEntries = table.statistics.frameEntries
        }
        #expect(previousEntries > 3000)
    }

    @Test func thousandsOfByteFlipsNeverTrap() throws {
        let libc = try Self.libc.get()
        let original = Array(libc.bytes[..<16384])
        var random = SplitMix64(seed: 0x5eed)
        var skipped = 0
        for _ in 0 ..< 3000 {
            var mutated = original
            for _ in 0 ... random.next() % 4 {
                let index = Int(random.next() % UInt64(mutated.count))
                mutated[index] = random.next() % 3 == 0 ? 0xff : UInt8(truncatingIfNeeded: random.next())
            }
            let table = try Self.table(mutated[...], address: libc.address)
            #expect(table.checkInvariants())
            skipped += table.statistics.skippedEntryCount
            _ = table.rule(at: libc.address &+ random.next() % 0x200000)
        }
        #expect(skipped > 0, "flips must have broken some entries")
    }

    @Test func randomGarbageNeverTraps() throws {
        var random = SplitMix64(seed: 7)
        for size in [1, 3, 4, 7, 8, 12, 24, 64, 300, 4096] {
            for _ in 0 ..< 200 {
                let bytes = (0 ..< size).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                for format in [CFISection.Format.ehFrame, .debugFrame] {
                    let table = try bytes.withUnsafeBytes { try UnwindTable(ehFrame: nil, debugFrame: CFISection(bytes: $0, virtualAddress: random.next(), format: format)) }
                    #expect(table.checkInvariants())
                }
            }
        }
    }

    @Test func lengthsRunningPastTheSectionEndTheScan() throws {
        var section = CFIAssembler()
        let cie = section.standardCIE()
        section.ehFDE(cie: cie, start: 0x2000, length: 0x10, sectionAddress: 0x1000, instructions: [])
        let good = section.bytes
        for trailer: [UInt8] in [
            [0xf0, 0xff, 0xff, 0x7f, 0, 0, 0, 0],  // a huge 32-bit length
            [0xf5, 0xff, 0xff, 0xff],  // a reserved length
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],  // 64-bit escape, huge
            [0xff, 0xff, 0xff, 0xff, 0x04],  // 64-bit escape, truncated length
        ] {
            var bytes = good + trailer
            bytes += good  // never reached
            let table = try bytes.withUnsafeBytes { try UnwindTable(ehFrame: CFISection(bytes: $0, virtualAddress: 0x1000, format: .ehFrame)) }
            #expect(table.statistics.skippedEntries == [.lengthOutOfBounds: 1])
            #expect(table.statistics.frameEntries == 1)
        }
    }

    @Test func cieRoutingProblemsSkipTheFDE() throws {
        var section = CFIAssembler()
        let cie = section.standardCIE()
        // A pointer before the section's start, one at itself, one into the middle of the CIE.
        for pointer: UInt32 in [0x7fff_0000, 4, UInt32(section.bytes.count + 4 - cie - 6)] {
            section.entry { fde in
                fde.u32(pointer)
                fde.u32(0)
                fde.u32(0x10)
                fde.uleb(0)
            }
        }
        // A CIE with an unknown augmentation, used by one FDE: counted once for the CIE and once
        // for the FDE.
        let odd = section.standardCIE(augmentation: "zQ")
        section.ehFDE(cie: odd, start: 0x3000, length: 0x10, sectionAddress: 0x1000, instructions: [])
        let table = try section.table()
        #expect(table.statistics.skippedEntries == [.badCIEPointer: 4, .unsupportedAugmentation: 1])
    }

    @Test func badInstructionsSkipOnlyTheirFDE() throws {
        let cases: [([UInt8], CFISkipReason)] = [
            ([0x0a, 0x0a, 0x0a, 0x0a, 0x0a], .stateStackTooDeep),  // 5 > limit 4
            ([0x0b], .badInstruction),  // restore_state with nothing remembered
            ([0x3c], .badInstruction),  // an opcode in the user range nobody defined
            ([0x0e, 0x80, 0x80], .truncated),  // a ULEB cut off by the end of the FDE
            ([0x0c, 7] + [UInt8](repeating: 0xff, count: 10) + [0x01], .numberOverflow),  // a 70-bit ULEB
            ([0x11, 6] + Self.sleb(1 << 62), .numberOverflow),  // 2^62 × −8 overflows
            ([0x04, 0xff, 0xff, 0xff, 0xff], .addressOverflow),  // advancing past the FDE's end ends it
        ]
        for (instructions, reason) in cases {
            var section = CFIAssembler()
            let cie = section.standardCIE()
            section.ehFDE(cie: cie, start: 0x2000, length: 0x10, sectionAddress: 0x1000, instructions: instructions)
            section.ehFDE(cie: cie, start: 0x3000, length: 0x10, sectionAddress: 0x1000, instructions: [])
            let table = try section.table(limits: UnwindTableLimits(maximumRememberedStates: 4))
            if reason == .addressOverflow {
                // Advancing past the FDE's end ends its program: nothing is skipped.
                #expect(table.statistics.skippedEntryCount == 0)
            } else {
                #expect(table.statistics.skippedEntries == [reason: 1], "\(instructions)")
            }
            #expect(table.rule(at: 0x3000) == UnwindRule(cfa: .spOffset(8)))
        }
    }

    static func sleb(_ value: Int64) -> [UInt8] {
        var assembler = CFIAssembler()
        assembler.sleb(value)
        return assembler.bytes
    }

    @Test func deepRememberStateNestingIsBounded() throws {
        var section = CFIAssembler()
        let cie = section.standardCIE()
        section.ehFDE(cie: cie, start: 0x2000, length: 0x10, sectionAddress: 0x1000, instructions: [UInt8](repeating: 0x0a, count: 100_000))
        let table = try section.table()
        #expect(table.statistics.skippedEntries == [.stateStackTooDeep: 1])
        #expect(table.rowCount == 0)
    }

    @Test func anAddressRangeWrappingAroundIsSkipped() throws {
        var section = CFIAssembler()
        let cie = section.standardCIE()
        section.ehFDE(cie: cie, start: 0xffff_ffff_ffff_fff0, length: 0x20, sectionAddress: 0x1000, instructions: [])
        #expect(try section.table().statistics.skippedEntries == [.addressOverflow: 1])
        // A location advancing past 2^64: the FDE is malformed, skipped whole.
        var advancing = CFIAssembler()
        let advancingCIE = advancing.standardCIE()
        advancing.ehFDE(cie: advancingCIE, start: 0xffff_ffff_ffff_ff00, length: 0xff, sectionAddress: 0x1000,
                        instructions: [0x41, 0x0e, 16, 0x1d, 0, 0, 0, 0, 0, 0, 0, 0x80])
        let table = try advancing.table()
        #expect(table.statistics.skippedEntries == [.addressOverflow: 1])
        #expect(table.rowCount == 0)
    }

    @Test func theRowLimitRejectsTheTable() throws {
        let libc = try Self.libc.get()
        #expect(throws: UnwindTableError.tooManyRows(limit: 1000)) {
            try Self.table(libc.bytes[...], address: libc.address, limits: UnwindTableLimits(maximumRows: 1000))
        }
    }
}

/// A small deterministic generator, so a failing mutation can be replayed.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
