/// What a table build found, for counters: entries used and skipped (by reason), rows, and the
/// table rows the walker cannot follow (by reason).
public struct UnwindTableStatistics: Sendable, Equatable {
    /// CIEs parsed successfully.
    public internal(set) var commonEntries = 0
    /// FDEs whose rows are in the table (possibly clipped by an overlapping FDE).
    public internal(set) var frameEntries = 0
    /// FDEs covering no addresses (zero length).
    public internal(set) var emptyFrameEntries = 0
    /// FDEs that overlap an FDE starting earlier in the same source: the earlier one wins.
    public internal(set) var overlappingFrameEntries = 0
    /// `.debug_frame` FDEs dropped because an `.eh_frame` FDE overlaps them.
    public internal(set) var debugFrameEntriesShadowed = 0
    /// CIEs and FDEs skipped, by reason.
    public internal(set) var skippedEntries: [CFISkipReason: Int] = [:]
    /// Rows the call-frame programs produced, before merging equal neighbours.
    public internal(set) var rowsBeforeMerging = 0
    /// Table rows whose rule is `unsupported`, by reason.
    public internal(set) var unsupportedRows: [UnsupportedRuleReason: Int] = [:]
    /// Rows 2³² − 1 bytes or more above the table's first row (`UnwindTable`): dropped;
    /// addresses there have no rule.
    public internal(set) var rowsBeyondSpan = 0

    /// All skipped entries, whatever the reason.
    public var skippedEntryCount: Int { skippedEntries.values.reduce(0, +) }

    mutating func skipped(_ reason: CFISkipReason) {
        skippedEntries[reason, default: 0] += 1
    }
}
