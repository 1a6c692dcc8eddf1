/// The unwind rules of one ELF file, from its `.eh_frame` and optionally `.debug_frame`: sorted
/// start addresses (file virtual addresses) and a rule each. A row's rule holds from its start to
/// the next row's start; gaps between FDEs have explicit `noRule` rows, so an address in a gap is
/// not attributed to the function before it. Immutable, shared by every process that maps the
/// file.
///
/// Six bytes a row: a start is 32 bits from the first row's start (a file's code spans far less
/// than 4 GiB), a rule is a 16-bit index into the table's distinct rules (a few hundred: 302 in
/// glibc, 312 in gdb — the same prologues and epilogues again and again). Half a million rows of a
/// 110 MB binary take 3 MiB, not the 8 MiB of 64-bit starts and 8-byte rules. What does not fit —
/// rows 2³² − 1 bytes or more above the first, more than 65 535 distinct rules, only in crafted CFI —
/// is counted (`rowsBeyondSpan`, `unsupportedRows[.tooManyRules]`) and unwinds no frame.
public final class UnwindTable: @unchecked Sendable {
    // @unchecked: `rows` points at memory this table allocates in `init`, writes there only,
    // never changes afterwards and frees in `deinit`.
    /// The rows, readable without retaining the table (see `Rows`).
    public let rows: Rows
    /// What the build found and skipped.
    public let statistics: UnwindTableStatistics

    /// A table of `starts` and their `rules` as they are (no merging): for tests and fixtures.
    convenience init(starts: [UInt64], rules: [UnwindRule], statistics: UnwindTableStatistics) {
        precondition(starts.count == rules.count, "one rule per start")
        var rows = CompactRowsBuilder()
        rows.reserveCapacity(starts.count)
        for (start, rule) in zip(starts, rules) { rows.append(start, rule) }
        self.init(rows, statistics: statistics)
    }

    /// The table of `rows`, which it copies into memory of its own; counts in `statistics` the
    /// rows beyond the span and every row whose rule is unsupported (`.tooManyRules` included).
    init(_ rows: consuming CompactRowsBuilder, statistics: UnwindTableStatistics) {
        var statistics = statistics
        rows.finish()
        statistics.rowsBeyondSpan = rows.rowsBeyondSpan
        for index in rows.ruleIndices {
            if case .unsupported(let reason) = rows.palette[index].cfa { statistics.unsupportedRows[reason, default: 0] += 1 }
        }
        let offsets = UnsafeMutableBufferPointer<UInt32>.allocate(capacity: rows.count)
        _ = offsets.initialize(from: rows.offsets)
        let ruleIndices = UnsafeMutableBufferPointer<UInt16>.allocate(capacity: rows.count)
        _ = ruleIndices.initialize(from: rows.ruleIndices)
        let palette = UnsafeMutableBufferPointer<UnwindRule>.allocate(capacity: rows.palette.rules.count)
        _ = palette.initialize(from: rows.palette.rules)
        self.rows = Rows(
            base: rows.base ?? 0, offsets: UnsafeBufferPointer(offsets), ruleIndices: UnsafeBufferPointer(ruleIndices),
            palette: UnsafeBufferPointer(palette))
        self.statistics = statistics
    }

    deinit {
        UnsafeMutableBufferPointer(mutating: rows.offsets).deallocate()
        UnsafeMutableBufferPointer(mutating: rows.ruleIndices).deallocate()
        UnsafeMutableBufferPointer(mutating: rows.palette).deallocate()
    }

    /// A table's rows as plain pointers: what the walker reads at every frame. Several unwind
    /// workers walk the same files, and retaining and releasing a shared table per frame made
    /// its reference count a cache line the CPUs fought over (two workers spent twice the CPU of
    /// one per trace); a `Rows` is copied without reference counting. Valid while its table lives.
    public struct Rows: @unchecked Sendable {
        // @unchecked: read-only views of memory that does not change (see `UnwindTable`).
        /// The first row's start.
        let base: UInt64
        /// Each row's start − `base`, ascending.
        let offsets: UnsafeBufferPointer<UInt32>
        /// Each row's rule, as an index into `palette`.
        let ruleIndices: UnsafeBufferPointer<UInt16>
        /// The table's distinct rules.
        let palette: UnsafeBufferPointer<UnwindRule>

        /// The rule for `address`, a virtual address of the table's file; `noRule` outside all FDEs.
        public func rule(at address: UInt64) -> UnwindRule {
            guard address >= base else { return .noRule }
            // Clamped: an address 4 GiB or more above the first row is in the last row, as it
            // would be with 64-bit starts.
            guard let index = offsets.lastIndex(atOrBelow: UInt32(clamping: address &- base)) else { return .noRule }
            return palette[Int(ruleIndices[index])]
        }
    }

    /// Builds the table of a file from its CFI sections. Entries in `.eh_frame` win where both
    /// sections describe an address (`.debug_frame` FDEs overlapping any `.eh_frame` FDE are
    /// dropped); within one section an FDE overlapping an earlier-starting one loses the overlap.
    /// Malformed entries are skipped and counted in `statistics`; never traps on any bytes.
    public convenience init(ehFrame: CFISection?, debugFrame: CFISection? = nil, limits: UnwindTableLimits = UnwindTableLimits()) throws(UnwindTableError) {
        var collector = FrameEntryCollector(limits: limits)
        if let ehFrame { try collector.collect(ehFrame, source: 0) }
        if let debugFrame { try collector.collect(debugFrame, source: 1) }
        let merged = UnwindRowMerger.merge(&collector)
        self.init(merged.rows, statistics: merged.statistics)
    }

    /// Rows in the table.
    public var rowCount: Int { rows.offsets.count }

    /// Distinct rules in the table.
    public var distinctRuleCount: Int { rows.palette.count }

    /// Approximate memory held, for a cache's bound: 6 bytes a row, 8 a distinct rule.
    public var byteCount: Int {
        rows.offsets.count * (MemoryLayout<UInt32>.stride + MemoryLayout<UInt16>.stride)
            + rows.palette.count * MemoryLayout<UnwindRule>.stride + 256
    }

    /// The row at `index` (0 ..< rowCount): its start address and rule.
    public func row(_ index: Int) -> (start: UInt64, rule: UnwindRule) {
        (rows.base &+ UInt64(rows.offsets[index]), rows.palette[Int(rows.ruleIndices[index])])
    }

    /// The rule for `address`, a virtual address of this file; `noRule` outside all FDEs.
    public func rule(at address: UInt64) -> UnwindRule { rows.rule(at: address) }
}
