import Testing
@testable import Unwinding

/// The table's six-byte rows (32-bit offsets from the first start, 16-bit indices into the
/// distinct rules) answer as 64-bit starts and 8-byte rules would, and what does not fit them is
/// counted rather than misread.
@Suite struct CompactRowsTests {
    private static let push = UnwindRule(cfa: .spOffset(16), savedBP: .atCFA(-16))
    private static let entry = UnwindRule(cfa: .spOffset(8))

    @Test func rowsKeepTheirStartsAndRules() {
        let starts: [UInt64] = [0x40_0000, 0x40_0001, 0x40_0010, 0x40_0020, 0x40_0030]
        let rules = [Self.entry, Self.push, .noRule, Self.entry, .noRule]
        let table = UnwindTable(starts: starts, rules: rules, statistics: UnwindTableStatistics())
        #expect(table.rowCount == 5)
        #expect(table.distinctRuleCount == 3)
        #expect(table.byteCount == 5 * 6 + 3 * 8 + 256)
        for index in starts.indices {
            #expect(table.row(index).start == starts[index])
            #expect(table.row(index).rule == rules[index])
        }
        #expect(table.rule(at: 0x3f_ffff) == .noRule)
        #expect(table.rule(at: 0x40_0000) == Self.entry)
        #expect(table.rule(at: 0x40_000f) == Self.push)
        #expect(table.rule(at: 0x40_0015) == .noRule)
        #expect(table.rule(at: 0x40_0025) == Self.entry)
        #expect(table.rule(at: UInt64.max) == .noRule)
    }

    @Test func aRowFourGiBAboveTheFirstIsCountedAndHasNoRule() {
        let base: UInt64 = 0x1000
        let far = base + (1 << 32) + 0x100
        let starts: [UInt64] = [base, base + 0x10, far, far + 0x10]
        let rules = [Self.entry, Self.push, Self.entry, .noRule]
        let table = UnwindTable(starts: starts, rules: rules, statistics: UnwindTableStatistics())
        #expect(table.statistics.rowsBeyondSpan == 2)
        #expect(table.rowCount == 3)
        #expect(table.rule(at: base + 0x20) == Self.push)
        #expect(table.rule(at: base + UInt64(UInt32.max) - 1) == Self.push)
        // Past the span: no rule, where 64-bit rows would have had `far`'s rule.
        #expect(table.rule(at: far) == .noRule)
        #expect(table.rule(at: UInt64.max) == .noRule)
    }

    @Test func rulesPastTheIndexRangeAreUnsupportedAndCounted() {
        // 65 535 distinct rules fill the 16-bit indices after `noRule`'s; the rows after them
        // share one `unsupported(.tooManyRules)`, and a gap after them still has no rule.
        let ownIndices = Int(UInt16.max) - 1
        let distinct = ownIndices + 10
        var starts = (0..<distinct).map { UInt64(0x10_0000 + 4 * $0) }
        var rules = (0..<distinct).map { UnwindRule(cfa: .spOffset(Int32(8 + 8 * $0))) }
        starts.append(starts[distinct - 1] + 4)
        rules.append(.noRule)
        let table = UnwindTable(starts: starts, rules: rules, statistics: UnwindTableStatistics())
        #expect(table.distinctRuleCount == Int(UInt16.max) + 1)
        #expect(table.statistics.unsupportedRows[.tooManyRules] == 10)
        #expect(table.rule(at: starts[ownIndices - 1]) == rules[ownIndices - 1])
        #expect(table.rule(at: starts[ownIndices]) == UnwindRule(cfa: .unsupported(.tooManyRules)))
        #expect(table.rule(at: starts[distinct - 1] + 1) == UnwindRule(cfa: .unsupported(.tooManyRules)))
        #expect(table.rule(at: starts[distinct]) == .noRule)
    }
}
