/// The rows of one FDE, as the collector stores them: a slice of the collector's row arrays.
struct CollectedFrameEntry {
    let start: UInt64
    let end: UInt64
    let firstRow: Int
    let rowCount: Int
    /// 0 for `.eh_frame`, 1 for `.debug_frame`: on equal starts the lower wins.
    let source: UInt8
}

/// Scans CFI sections entry by entry and runs every FDE's program, keeping each FDE's rows
/// (already classified into `UnwindRule`s, equal neighbours merged). Bad entries are skipped
/// and counted; only the row limit ends the build.
struct FrameEntryCollector {
    let limits: UnwindTableLimits
    private(set) var entries: [CollectedFrameEntry] = []
    private(set) var rowStarts: [UInt64] = []
    /// Each row's rule as an index into `rules`: two bytes a row while a large file is collected.
    private(set) var rowRules: [UInt16] = []
    private(set) var rules = RulePalette()
    var statistics = UnwindTableStatistics()
    /// `remember_state` scratch, shared by every program of the build.
    private var stateStack: [FrameState] = []

    init(limits: UnwindTableLimits) {
        self.limits = limits
        stateStack.reserveCapacity(min(limits.maximumRememberedStates, 64))
    }

    mutating func collect(_ section: CFISection, source: UInt8) throws(UnwindTableError) {
        let bases = PointerBases(sectionAddress: section.virtualAddress, textBase: section.textBase, dataBase: section.dataBase)
        // Parsed CIEs by section offset, failures included, so a bad CIE shared by many FDEs is
        // parsed once and counted once. Only CIEs the scan itself finds may be used: entries do
        // not overlap, so parsing every CIE costs the section's length once, whatever FDEs point at.
        var commonEntries: [Int: Result<CommonInformationEntry, CFISkipReason>] = [:]
        var cieOffsets: [Int] = []
        _ = try? Self.forEachEntry(in: section) { entry in
            if entry.isCIE(in: section.format) { cieOffsets.append(entry.offset) }
        }
        let problems = try Self.forEachEntry(in: section) { entry throws(UnwindTableError) in
            if entry.isCIE(in: section.format) {
                _ = commonEntry(entry, section: section, bases: bases, cache: &commonEntries)
            } else {
                try collectFrameEntry(entry, section: section, bases: bases, source: source, cieOffsets: cieOffsets, cache: &commonEntries)
            }
        }
        for problem in problems { statistics.skipped(problem) }
    }

    /// Calls `body` with each entry of a section in order, up to the terminator or a length
    /// that cannot be trusted. Returns the framing problems met: entries too short for their id,
    /// and the length that ended the scan.
    private static func forEachEntry(
        in section: CFISection, _ body: (CFIEntry) throws(UnwindTableError) -> Void
    ) throws(UnwindTableError) -> [CFISkipReason] {
        var problems: [CFISkipReason] = []
        var offset = 0
        while offset < section.bytes.count {
            let framing: CFIEntry.Framing
            do {
                framing = try CFIEntry.read(at: offset, in: section.bytes, format: section.format)
            } catch {
                problems.append(error)
                break
            }
            switch framing {
            case .terminator:
                return problems
            case .padding(let next):
                offset = next
            case .tooShort(let next):
                problems.append(.truncated)
                offset = next
            case .entry(let entry):
                offset = entry.end
                try body(entry)
            }
        }
        return problems
    }

    /// The CIE framed by `entry`, parsed on first use.
    private mutating func commonEntry(
        _ entry: CFIEntry, section: CFISection, bases: PointerBases,
        cache: inout [Int: Result<CommonInformationEntry, CFISkipReason>]
    ) -> CommonInformationEntry? {
        if let known = cache[entry.offset] { return try? known.get() }
        let result: Result<CommonInformationEntry, CFISkipReason>
        do {
            result = .success(try CommonInformationEntry(entry: entry, format: section.format, bases: bases, limits: limits, stack: &stateStack))
            statistics.commonEntries += 1
        } catch {
            result = .failure(error)
            statistics.skipped(error)
        }
        cache[entry.offset] = result
        return try? result.get()
    }

    private mutating func collectFrameEntry(
        _ entry: CFIEntry, section: CFISection, bases: PointerBases, source: UInt8, cieOffsets: [Int],
        cache: inout [Int: Result<CommonInformationEntry, CFISkipReason>]
    ) throws(UnwindTableError) {
        // eh_frame: the pointer is the distance back from the pointer field; debug_frame: an offset.
        let cieOffset: UInt64
        switch section.format {
        case .ehFrame:
            let (difference, overflow) = UInt64(entry.idFieldOffset).subtractingReportingOverflow(entry.id)
            cieOffset = overflow ? .max : difference
        case .debugFrame:
            cieOffset = entry.id
        }
        guard cieOffset < UInt64(section.bytes.count), Self.contains(cieOffsets, Int(cieOffset)),
              case .entry(let cieEntry)? = try? CFIEntry.read(at: Int(cieOffset), in: section.bytes, format: section.format),
              let cie = commonEntry(cieEntry, section: section, bases: bases, cache: &cache)
        else {
            statistics.skipped(.badCIEPointer)
            return
        }

        let firstRow = rowStarts.count
        var rowLimitReached = false
        do {
            var body = entry.body
            let start = try body.readEncodedAddress(cie.addressEncoding, bases: bases)
            let length = try body.readEncodedValue(PointerEncoding(rawValue: cie.addressEncoding.format))
            if cie.hasAugmentationData { try body.skip(body.readULEB128()) }
            let (end, overflow) = start.addingReportingOverflow(length)
            guard !overflow else { throw CFISkipReason.addressOverflow }
            guard length > 0 else {
                statistics.emptyFrameEntries += 1
                return
            }
            var state = cie.initialState
            let maximumRows = limits.maximumRows
            // Moved out while the program runs: the row closure below mutates the rest of self.
            var stack = stateStack
            stateStack = []
            defer { stateStack = stack }
            try cie.program(bases: bases, limits: limits).run(
                body, state: &state, initial: cie.initialState, location: start, end: end, stack: &stack
            ) { location, state in
                statistics.rowsBeforeMerging += 1
                let rule = rules.index(of: UnwindRule(state: state, isSignalFrame: cie.isSignalFrame))
                if rowStarts.count > firstRow {
                    // Rows of one FDE arrive in address order; an advance by 0 restates the row.
                    if rowStarts[rowStarts.count - 1] == location {
                        rowRules[rowRules.count - 1] = rule
                        if rowRules.count - 1 > firstRow, rowRules[rowRules.count - 2] == rule {
                            rowStarts.removeLast()
                            rowRules.removeLast()
                        }
                        return
                    }
                    if rowRules[rowRules.count - 1] == rule { return }
                }
                guard rowStarts.count < maximumRows else {
                    rowLimitReached = true
                    return
                }
                rowStarts.append(location)
                rowRules.append(rule)
            }
            guard !rowLimitReached, entries.count < maximumRows else { throw UnwindTableError.tooManyRows(limit: maximumRows) }
            entries.append(CollectedFrameEntry(start: start, end: end, firstRow: firstRow, rowCount: rowStarts.count - firstRow, source: source))
            statistics.frameEntries += 1
        } catch let error as CFISkipReason {
            rowStarts.removeSubrange(firstRow...)
            rowRules.removeSubrange(firstRow...)
            statistics.skipped(error)
        } catch let error as UnwindTableError {
            throw error
        } catch {
            // The block throws only the two types above; kept total rather than trapping.
            rowStarts.removeSubrange(firstRow...)
            rowRules.removeSubrange(firstRow...)
            statistics.skipped(.badInstruction)
        }
    }

    /// Binary search in ascending offsets.
    private static func contains(_ offsets: [Int], _ offset: Int) -> Bool {
        var low = 0
        var high = offsets.count
        while low < high {
            let middle = (low + high) / 2
            if offsets[middle] < offset { low = middle + 1 } else { high = middle }
        }
        return low < offsets.count && offsets[low] == offset
    }
}

extension FrameEntryCollector {
    /// Orders the entries for merging, in place; the rows stay where they are.
    mutating func sortEntries(by areInIncreasingOrder: (CollectedFrameEntry, CollectedFrameEntry) -> Bool) {
        entries.sort(by: areInIncreasingOrder)
    }

    /// Removes the entries merging does not use, in place.
    mutating func removeEntries(where shouldBeRemoved: (CollectedFrameEntry) -> Bool) {
        entries.removeAll(where: shouldBeRemoved)
    }
}
