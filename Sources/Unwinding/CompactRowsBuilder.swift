/// Rows appended in ascending order of start, packed as they come into what `UnwindTable.Rows`
/// holds: 32-bit offsets from the first start and 16-bit indices into the distinct rules. A large
/// file's merged rows then never exist at 16 bytes a row (half a million rows of a 110 MB binary:
/// 3 MiB instead of 8 while its table is built).
///
/// What does not fit is counted, never misread: rows 2³² − 1 bytes or more above the first
/// (`rowsBeyondSpan`; `finish()` closes the table with one `noRule` row at the last offset there
/// is), and rules past 65 535 distinct ones (`RulePalette`). A start below the first, which
/// ascending rows never have, counts as beyond the span.
struct CompactRowsBuilder {
    private(set) var base: UInt64?
    private(set) var offsets: [UInt32] = []
    private(set) var ruleIndices: [UInt16] = []
    private(set) var palette: RulePalette
    private(set) var rowsBeyondSpan = 0

    /// Rows whose rules `palette` numbers (a collector's), or any rules (`append(_:_:)`).
    init(palette: RulePalette = RulePalette()) {
        self.palette = palette
    }

    var count: Int { offsets.count }

    /// The start of row `index` (0 ..< count).
    func start(_ index: Int) -> UInt64 { (base ?? 0) &+ UInt64(offsets[index]) }

    mutating func reserveCapacity(_ rows: Int) {
        offsets.reserveCapacity(rows)
        ruleIndices.reserveCapacity(rows)
    }

    /// Appends a row whose start is at or above the last one's. Once one row is beyond the span,
    /// every later one is: they are counted, not kept.
    mutating func append(_ start: UInt64, _ rule: UnwindRule) {
        append(start, index: palette.index(of: rule))
    }

    /// Appends a row by its rule's index in `palette`.
    mutating func append(_ start: UInt64, index rule: UInt16) {
        let base = self.base ?? start
        self.base = base
        let offset = start &- base
        guard rowsBeyondSpan == 0, offset < UInt64(UInt32.max) else {
            rowsBeyondSpan += 1
            return
        }
        offsets.append(UInt32(offset))
        ruleIndices.append(rule)
    }

    /// Gives the last row kept another rule, by its index in `palette`.
    mutating func replaceLastRule(index rule: UInt16) {
        ruleIndices[ruleIndices.count - 1] = rule
    }

    mutating func removeLast() {
        offsets.removeLast()
        ruleIndices.removeLast()
    }

    /// After the last row: a table whose far rows were dropped ends in `noRule`, so that an address
    /// past the span is not read as the last kept row's.
    mutating func finish() {
        if rowsBeyondSpan > 0, let last = ruleIndices.last, last != RulePalette.noRuleIndex {
            offsets.append(UInt32.max)
            ruleIndices.append(RulePalette.noRuleIndex)
        }
    }
}
