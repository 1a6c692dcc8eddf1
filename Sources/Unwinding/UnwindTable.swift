/// The unwind rules of one ELF file, from its `.eh_frame` and optionally `.debug_frame`: sorted
/// start addresses (file virtual addresses) and one 8-byte rule each. A row's rule holds from its
/// start to the next row's start; gaps between FDEs have explicit `noRule` rows, so an address
/// in a gap is not attributed to the function before it. Immutable, shared by every process
/// that maps the file.
public final class UnwindTable: @unchecked Sendable {
    // @unchecked: `rows` points at memory this table allocates in `init`, writes there only,
    // never changes afterwards and frees in `deinit`.
    /// The rows, readable without retaining the table (see `Rows`).
    public let rows: Rows
    /// What the build found and skipped.
    public let statistics: UnwindTableStatistics

    init(starts: [UInt64], rules: [UnwindRule], statistics: UnwindTableStatistics) {
        precondition(starts.count == rules.count, "one rule per start")
        let startStorage = UnsafeMutableBufferPointer<UInt64>.allocate(capacity: starts.count)
        _ = startStorage.initialize(from: starts)
        let ruleStorage = UnsafeMutableBufferPointer<UnwindRule>.allocate(capacity: rules.count)
        _ = ruleStorage.initialize(from: rules)
        rows = Rows(starts: UnsafeBufferPointer(startStorage), rules: UnsafeBufferPointer(ruleStorage))
        self.statistics = statistics
    }

    deinit {
        UnsafeMutableBufferPointer(mutating: rows.starts).deallocate()
        UnsafeMutableBufferPointer(mutating: rows.rules).deallocate()
    }

    /// A table's rows as plain pointers: what the walker reads at every frame. Several unwind
    /// workers walk the same files, and retaining and releasing a shared table per frame made
    /// its reference count a cache line the CPUs fought over (two workers spent twice the CPU of
    /// one per trace); a `Rows` is copied without reference counting. Valid while its table lives.
    public struct Rows: @unchecked Sendable {
        // @unchecked: read-only views of memory that does not change (see `UnwindTable`).
        let starts: UnsafeBufferPointer<UInt64>
        let rules: UnsafeBufferPointer<UnwindRule>

        /// The rule for `address`, a virtual address of the table's file; `noRule` outside all FDEs.
        public func rule(at address: UInt64) -> UnwindRule {
            guard let index = starts.lastIndex(atOrBelow: address) else { return .noRule }
            return rules[index]
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
        let merged = UnwindRowMerger.merge(collector)
        self.init(starts: merged.starts, rules: merged.rules, statistics: merged.statistics)
    }

    /// Rows in the table.
    public var rowCount: Int { rows.starts.count }

    /// Approximate memory held, for a cache's bound: 8 bytes of start and 8 of rule per row.
    public var byteCount: Int {
        rows.starts.count * MemoryLayout<UInt64>.stride + rows.rules.count * MemoryLayout<UnwindRule>.stride + 256
    }

    /// The row at `index` (0 ..< rowCount): its start address and rule.
    public func row(_ index: Int) -> (start: UInt64, rule: UnwindRule) {
        (rows.starts[index], rows.rules[index])
    }

    /// The rule for `address`, a virtual address of this file; `noRule` outside all FDEs.
    public func rule(at address: UInt64) -> UnwindRule { rows.rule(at: address) }
}
