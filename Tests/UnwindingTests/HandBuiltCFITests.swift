import Testing
@testable import Unwinding

/// Shapes of CFI checked byte by byte: formats, encodings and instructions compilers seldom emit.
@Suite struct HandBuiltCFITests {
    @Test func rowsMergeAndGapsHaveNoRule() throws {
        var section = CFIAssembler()
        let cie = section.standardCIE()
        // push rbp at +1; nothing new at +4 (merged); a gap between 0x2010 and 0x2020.
        section.ehFDE(cie: cie, start: 0x2000, length: 0x10, sectionAddress: 0x1000, instructions: [0x41, 0x0e, 16, 0x86, 2, 0x43, 0x0e, 16])
        section.ehFDE(cie: cie, start: 0x2020, length: 0x8, sectionAddress: 0x1000, instructions: [])
        let table = try section.table()
        #expect(table.rule(at: 0x1fff) == .noRule)
        #expect(table.rule(at: 0x2000) == UnwindRule(cfa: .spOffset(8)))
        #expect(table.rule(at: 0x2001) == UnwindRule(cfa: .spOffset(16), savedBP: .atCFA(-16)))
        #expect(table.rule(at: 0x200f) == UnwindRule(cfa: .spOffset(16), savedBP: .atCFA(-16)))
        #expect(table.rule(at: 0x2010) == .noRule)
        #expect(table.rule(at: 0x2020) == UnwindRule(cfa: .spOffset(8)))
        #expect(table.rule(at: 0x2028) == .noRule)
        #expect(table.rowCount == 5)
        #expect(table.checkInvariants())
    }

    @Test func personalityAndLSDAAugmentationsAreSkipped() throws {
        var section = CFIAssembler()
        let cie = section.entry { cie in
            cie.u32(0)
            cie.u8(1)
            cie.string("zPLR")
            cie.uleb(1)
            cie.sleb(-8)
            cie.u8(16)
            cie.uleb(7)
            cie.u8(0x9b)  // personality: indirect pcrel sdata4
            cie.u32(0x1234)
            cie.u8(0x1b)  // LSDA encoding
            cie.u8(0x1b)  // FDE encoding
            cie.bytes += [0x0c, 7, 8, 0x90, 1]
        }
        let offset = section.bytes.count
        section.entry { fde in
            fde.u32(UInt32(offset + 4 - cie))
            fde.u32(UInt32(0x3000 - (0x1000 + offset + 8)))
            fde.u32(0x20)
            fde.uleb(4)  // augmentation data: the LSDA pointer
            fde.u32(0)
            fde.bytes += [0x44, 0x0e, 32]
        }
        let table = try section.table()
        #expect(table.statistics.skippedEntryCount == 0)
        #expect(table.rule(at: 0x3004) == UnwindRule(cfa: .spOffset(32)))
    }

    @Test func signalFrameAndOutermostRules() throws {
        var section = CFIAssembler()
        let signal = section.standardCIE(augmentation: "zRS")
        section.ehFDE(cie: signal, start: 0x2000, length: 0x10, sectionAddress: 0x1000, instructions: [0x0f, 4, 0x77, 0xa0, 0x01, 0x06])
        let plain = section.standardCIE()
        section.ehFDE(cie: plain, start: 0x3000, length: 0x10, sectionAddress: 0x1000, instructions: [0x07, 16])  // undefined rip
        let table = try section.table()
        #expect(table.rule(at: 0x2004).cfa == .signalFrame)
        #expect(table.rule(at: 0x3004).cfa == .outermost)
    }

    @Test func pltAndStackRealignmentExpressions() throws {
        var section = CFIAssembler()
        let cie = section.standardCIE()
        // The PLT expression with threshold 10 (lit10).
        let plt: [UInt8] = [0x0f, 11, 0x77, 8, 0x80, 0, 0x3f, 0x1a, 0x3a, 0x2a, 0x33, 0x24, 0x22]
        section.ehFDE(cie: cie, start: 0x2000, length: 0x40, sectionAddress: 0x1000, instructions: plt)
        // gcc's DRAP prologue: CFA = R10; then RBP saved at [RBP]; then CFA = [RBP − 8].
        let realign: [UInt8] = [0x0c, 10, 0, 0x41, 0x10, 6, 2, 0x76, 0, 0x0f, 3, 0x76, 0x78, 0x06]
        section.ehFDE(cie: cie, start: 0x3000, length: 0x40, sectionAddress: 0x1000, instructions: realign)
        // One more operation makes it a different expression.
        let other: [UInt8] = [0x0f, 4, 0x76, 0x78, 0x06, 0x06]
        section.ehFDE(cie: cie, start: 0x4000, length: 0x40, sectionAddress: 0x1000, instructions: other)
        let table = try section.table()
        #expect(table.rule(at: 0x2008).cfa == .pltStub(spOffset: 8, threshold: 10))
        #expect(table.rule(at: 0x2008).returnAddressOffset == -8)
        #expect(table.rule(at: 0x3000).cfa == .unsupported(.cfaRegister))
        #expect(table.rule(at: 0x3001) == UnwindRule(cfa: .bpDereference(-8), savedBP: .atBP(0)))
        #expect(table.rule(at: 0x4000).cfa == .unsupported(.cfaExpression))
        #expect(table.statistics.unsupportedRows == [.cfaRegister: 1, .cfaExpression: 1])
    }

    @Test func rememberAndRestoreStateIncludeTheCFA() throws {
        var section = CFIAssembler()
        let cie = section.standardCIE()
        // remember; CFA +16 at 1; restore at 2 (back to +8); advance by 0 restates; rbp via
        // GNU_negative_offset_extended; args_size ignored.
        section.ehFDE(cie: cie, start: 0x2000, length: 0x10, sectionAddress: 0x1000,
                      instructions: [0x0a, 0x41, 0x0e, 16, 0x41, 0x0b, 0x2e, 8, 0x41, 0x2f, 6, 2])
        let table = try section.table()
        #expect(table.rule(at: 0x2001) == UnwindRule(cfa: .spOffset(16)))
        #expect(table.rule(at: 0x2002) == UnwindRule(cfa: .spOffset(8)))
        #expect(table.rule(at: 0x2003) == UnwindRule(cfa: .spOffset(8), savedBP: .atCFA(16)))
    }

    @Test func debugFrameIn64BitFormatVersion4() throws {
        var section = CFIAssembler()
        let cie = section.entry(is64Bit: true) { cie in
            cie.u64(.max)  // the 64-bit CIE id
            cie.u8(4)
            cie.string("")
            cie.u8(8)  // address size
            cie.u8(0)  // segment selector size
            cie.uleb(1)
            cie.sleb(-8)
            cie.uleb(16)
            cie.bytes += [0x0c, 7, 8, 0x90, 1]
        }
        section.entry(is64Bit: true) { fde in
            fde.u64(UInt64(cie))
            fde.u64(0x40_0000)
            fde.u64(0x30)
            fde.bytes += [0x01] + withUnsafeBytes(of: UInt64(0x40_0010).littleEndian, Array.init) + [0x0e, 24]  // set_loc, CFA + 24
        }
        // Version 1 with a 32-bit length and a u8 return-address column, and a zero-length padding entry.
        section.u32(0)
        let cie1 = section.entry { cie in
            cie.u32(0xffff_ffff)
            cie.u8(1)
            cie.string("")
            cie.uleb(4)  // code alignment 4
            cie.sleb(-8)
            cie.u8(16)
            cie.bytes += [0x0c, 7, 8, 0x90, 1]
        }
        section.entry { fde in
            fde.u32(UInt32(cie1))
            fde.u64(0x50_0000)
            fde.u64(0x40)
            fde.bytes += [0x42, 0x0e, 16]  // advance 2 × 4
        }
        let table = try section.table(format: .debugFrame)
        #expect(table.statistics.skippedEntryCount == 0)
        #expect(table.rule(at: 0x40_000f) == UnwindRule(cfa: .spOffset(8)))
        #expect(table.rule(at: 0x40_0010) == UnwindRule(cfa: .spOffset(24)))
        #expect(table.rule(at: 0x40_0030) == .noRule)
        #expect(table.rule(at: 0x50_0007) == UnwindRule(cfa: .spOffset(8)))
        #expect(table.rule(at: 0x50_0008) == UnwindRule(cfa: .spOffset(16)))
    }

    @Test func ehFrameWinsOverDebugFrameWhereTheyOverlap() throws {
        var eh = CFIAssembler()
        let cie = eh.standardCIE()
        eh.ehFDE(cie: cie, start: 0x2000, length: 0x10, sectionAddress: 0x1000, instructions: [0x41, 0x0e, 16])
        var debug = CFIAssembler()
        let debugCIE = debug.entry { cie in
            cie.u32(0xffff_ffff)
            cie.u8(3)
            cie.string("")
            cie.uleb(1)
            cie.sleb(-8)
            cie.uleb(16)
            cie.bytes += [0x0c, 7, 8, 0x90, 1]
        }
        for start: UInt64 in [0x2008, 0x3000] {
            debug.entry { fde in
                fde.u32(UInt32(debugCIE))
                fde.u64(start)
                fde.u64(0x10)
                fde.bytes += [0x0e, 48]
            }
        }
        let table = try eh.bytes.withUnsafeBytes { ehBytes in
            try debug.bytes.withUnsafeBytes { debugBytes in
                try UnwindTable(ehFrame: CFISection(bytes: ehBytes, virtualAddress: 0x1000, format: .ehFrame),
                                debugFrame: CFISection(bytes: debugBytes, virtualAddress: 0, format: .debugFrame))
            }
        }
        #expect(table.rule(at: 0x200c) == UnwindRule(cfa: .spOffset(16)))
        #expect(table.rule(at: 0x2014) == .noRule)
        #expect(table.rule(at: 0x3000) == UnwindRule(cfa: .spOffset(48)))
        #expect(table.statistics.debugFrameEntriesShadowed == 1)
    }

    @Test func overlappingFDEsKeepTheEarlierOne() throws {
        var section = CFIAssembler()
        let cie = section.standardCIE()
        section.ehFDE(cie: cie, start: 0x2000, length: 0x10, sectionAddress: 0x1000, instructions: [0x0e, 16])
        section.ehFDE(cie: cie, start: 0x2008, length: 0x10, sectionAddress: 0x1000, instructions: [0x0e, 32, 0x4c, 0x0e, 48])
        let table = try section.table()
        #expect(table.rule(at: 0x200f) == UnwindRule(cfa: .spOffset(16)))
        #expect(table.rule(at: 0x2010) == UnwindRule(cfa: .spOffset(32)))  // the later FDE's rule in force there
        #expect(table.rule(at: 0x2014) == UnwindRule(cfa: .spOffset(48)))
        #expect(table.rule(at: 0x2018) == .noRule)
        #expect(table.statistics.overlappingFrameEntries == 1)
        #expect(table.checkInvariants())
    }
}
