/// Turns the collected FDEs into the table's sorted rows: orders FDEs by start, resolves
/// overlaps, inserts `noRule` rows at gaps, merges neighbours with equal rules.
enum UnwindRowMerger {
    struct Merged {
        /// Packed as they are merged (`CompactRowsBuilder`), numbered by the collector's palette.
        var rows: CompactRowsBuilder
        var statistics: UnwindTableStatistics
    }

    /// Orders and filters `collector`'s entries in place (a large file's FDEs number in the
    /// hundred thousands: copies of them were most of a table build's peak memory).
    static func merge(_ collector: inout FrameEntryCollector) -> Merged {
        var merged = Merged(rows: CompactRowsBuilder(palette: collector.rules), statistics: collector.statistics)
        keepUsableEntries(&collector, statistics: &merged.statistics)
        let entries = collector.entries
        merged.rows.reserveCapacity(collector.rowStarts.count + entries.count)

        // Everything below `coveredUntil` belongs to an FDE already emitted.
        var coveredUntil: UInt64 = 0
        for entry in entries {
            if entry.end <= coveredUntil {
                merged.statistics.overlappingFrameEntries += 1
                continue
            }
            if entry.start < coveredUntil { merged.statistics.overlappingFrameEntries += 1 }
            // The rule in force where a clipped entry takes over.
            var clipped: UInt16?
            for index in entry.firstRow ..< entry.firstRow + entry.rowCount {
                let start = collector.rowStarts[index]
                let rule = collector.rowRules[index]
                if start < coveredUntil {
                    clipped = rule
                    continue
                }
                if let rule = clipped, start > coveredUntil { append(coveredUntil, rule, to: &merged.rows) }
                clipped = nil
                append(start, rule, to: &merged.rows)
            }
            if let rule = clipped { append(coveredUntil, rule, to: &merged.rows) }
            append(entry.end, RulePalette.noRuleIndex, to: &merged.rows)
            coveredUntil = entry.end
        }
        return merged
    }

    /// Sorts the entries by start (`.eh_frame` first on ties) and removes the `.debug_frame`
    /// entries that overlap any `.eh_frame` entry.
    private static func keepUsableEntries(_ collector: inout FrameEntryCollector, statistics: inout UnwindTableStatistics) {
        collector.sortEntries { ($0.start, $0.source, $0.firstRow) < ($1.start, $1.source, $1.firstRow) }
        // The preferred entries' starts, and the furthest end among those starting at or before each.
        var starts: [UInt64] = []
        var furthestEnd: [UInt64] = []
        var others = 0
        for entry in collector.entries {
            guard entry.source == 0 else {
                others += 1
                continue
            }
            starts.append(entry.start)
            furthestEnd.append(max(furthestEnd.last ?? 0, entry.end))
        }
        guard others > 0, !starts.isEmpty else { return }
        var shadowed = 0
        collector.removeEntries { entry in
            guard entry.source != 0 else { return false }
            // The last preferred entry starting before this one ends; overlap iff some preferred
            // entry starting before our end ends after our start.
            var low = 0
            var high = starts.count
            while low < high {
                let middle = (low + high) / 2
                if starts[middle] < entry.end { low = middle + 1 } else { high = middle }
            }
            let overlaps = low > 0 && furthestEnd[low - 1] > entry.start
            if overlaps { shadowed += 1 }
            return overlaps
        }
        statistics.debugFrameEntriesShadowed += shadowed
    }

    /// Appends a row: a row at the same address replaces the last one (the later FDE starts
    /// where the earlier ended), and a row repeating the rule before it is not needed.
    /// (Rules by their palette index: one palette numbers each rule once, so equal indices are
    /// equal rules.)
    private static func append(_ start: UInt64, _ rule: UInt16, to rows: inout CompactRowsBuilder) {
        // Read through `rows`, never held: a copy of its array would be copied on the next write.
        let count = rows.count
        if count > 0, rows.start(count - 1) == start {
            rows.replaceLastRule(index: rule)
            if count >= 2, rows.ruleIndices[count - 2] == rule { rows.removeLast() }
            return
        }
        if count > 0, rows.ruleIndices[count - 1] == rule { return }
        // A leading noRule row says nothing that "below the first row" doesn't.
        if count == 0, rule == RulePalette.noRuleIndex { return }
        rows.append(start, index: rule)
    }
}
