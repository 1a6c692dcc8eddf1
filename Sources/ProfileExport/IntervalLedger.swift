/// What became of one interval's samples at the exporter, once none of its requests waits any
/// more: `sent + dropped + spooled = samples`.
public struct IntervalExportOutcome: Hashable, Sendable, CustomStringConvertible {
    /// The interval's number (`IntervalProfile.number`).
    public var interval: Int
    /// The samples it handed to the exporter.
    public var samples: UInt64
    /// In requests the receiver accepted.
    public var sent: UInt64 = 0
    /// Dropped for any reason (queue full, refused, oversize, shutdown): the totals say which.
    public var dropped: UInt64 = 0
    /// Written to `export.spool-dir` at shutdown, for the next run.
    public var spooled: UInt64 = 0

    public var isConserved: Bool { sent + dropped + spooled == samples }

    public var description: String {
        "interval \(interval): \(samples) samples: \(sent) sent, \(dropped) dropped, \(spooled) spooled"
    }
}

/// The exporter's account of each interval of this run while any of its requests waits: as the
/// last one is sent, dropped or spooled, the interval's outcome is settled and kept until taken.
/// Requests read back from a spool (negative interval numbers) are not this run's intervals and
/// are not tracked. A plain value; `ProfileExporter` keeps it under its lock.
struct IntervalLedger {
    enum Fate { case sent, dropped, spooled }

    private var open: [Int: (outcome: IntervalExportOutcome, waiting: Int)] = [:]
    private var settled: [IntervalExportOutcome] = []

    /// An interval handed over: `requests` are queued, `unsent` of its samples were dropped
    /// before queueing (a single sample over the message limit).
    mutating func open(_ interval: Int, samples: UInt64, unsent: UInt64, requests: Int) {
        guard interval >= 0 else { return }
        // An interval handed over twice (a caller's mistake) adds to its open account.
        var entry = open[interval] ?? (IntervalExportOutcome(interval: interval, samples: 0), 0)
        entry.outcome.samples += samples
        entry.outcome.dropped += unsent
        entry.waiting += requests
        if entry.waiting == 0 {
            open[interval] = nil
            settled.append(entry.outcome)
        } else {
            open[interval] = entry
        }
    }

    /// One of an interval's requests is done with.
    mutating func settle(_ request: ExportQueue.Request, _ fate: Fate) {
        guard var entry = open[request.interval] else { return }
        switch fate {
        case .sent: entry.outcome.sent += request.samples
        case .dropped: entry.outcome.dropped += request.samples
        case .spooled: entry.outcome.spooled += request.samples
        }
        entry.waiting -= 1
        if entry.waiting == 0 {
            open[request.interval] = nil
            settled.append(entry.outcome)
        } else {
            open[request.interval] = entry
        }
    }

    /// The outcomes settled since the last call, in the order they settled.
    mutating func takeSettled() -> [IntervalExportOutcome] {
        defer { settled = [] }
        return settled
    }
}
