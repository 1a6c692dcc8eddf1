/// The unwind rules of one ELF file, from its `.eh_frame` and optionally `.debug_frame`: sorted
/// start addresses (file virtual addresses) and one 8-byte rule each. A row's rule holds from its
/// start to the next row's start; gaps between FDEs have explicit `noRule` rows, so an address
/// in a gap is not attributed to the function before it. Immutable, shared by every process
/// that maps the file.
public final class UnwindTable: Sendable {
    private let starts: [UInt64]
    private let rules: [UnwindRule]
    /// What the build found and skipped.
    public let statistics: UnwindTableStatistics

    init(starts: [UInt64], rules: [UnwindRule], statistics: UnwindTableStatistics) {
        self.starts = starts
        self.rules = rules
        self.statistics = statistics
    }

    /// Builds the table of a file from its CFI sections. Entries in `.eh_frame` win where both
    /// sections describe an address (`.debug_frame` FDEs overlapping any `.eh_frame` FDE are
    /// dropped); within one section an FDE overlapping an earlier-starting one loses the overlap.
    /// Malformed entries are skipped and counted in `statistics`; never traps on any bytes.
    public convenience init(ehFrame: CFISection?, debugFrame: CFISection? = nil, limits: UnwindTableLimits = UnwindTableLimits()) throws(UnwindTableError) {
        var collector = FrameEntryCollector(limits: limits)
        if let ehFrame { try collector.collect(ehFrame, source: 0) }
        if let debugFrame { try collector.collect(debugFrame, source: 1) }
        let merged = UnwindRowMerger.merge(collector)
        self.init(starts: merged.starts, rules: merged.rules, statistics: merged.statistics)
    }

    /// Rows in the table.
    public var rowCount: Int { starts.count }

    /// Approximate memory held, for a cache's bound: 8 bytes of start and 8 of rule per row.
    public var byteCount: Int {
        starts.capacity * MemoryLayout<UInt64>.stride + rules.capacity * MemoryLayout<UnwindRule>.stride + 256
    }

    /// The row at `index` (0 ..< rowCount): its start address and rule.
    public func row(_ index: Int) -> (start: UInt64, rule: UnwindRule) {
        (starts[index], rules[index])
    }

    /// The rule for `address`, a virtual address of this file; `noRule` outside all FDEs.
    public func rule(at address: UInt64) -> UnwindRule {
        starts.withUnsafeBufferPointer { starts in
            guard let index = starts.lastIndex(atOrBelow: address) else { return .noRule }
            return rules[index]
        }
    }
}
