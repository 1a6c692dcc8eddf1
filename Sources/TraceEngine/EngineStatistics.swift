/// The engine's stages, as statistics name them.
public enum EngineStage: Hashable, Sendable, CustomStringConvertible {
    /// The engine's entry, `EngineSource`, on the source thread (printed `source`).
    case source
    /// Unwind worker `worker`, from 0 (printed `unwind-<worker>`).
    case unwind(worker: Int)
    /// The hash/cache stage, on its own thread or the source's (printed `hash-cache`).
    case hashCache
    /// Symbolize worker `worker`, from 0 (printed `symbolize-<worker>`).
    case symbolize(worker: Int)
    /// The report stage, the reporter's only caller (printed `report`).
    case report

    /// The stage's name as statistics print it, and as the engine's metrics carry it (dimension
    /// `stage`).
    public var description: String {
        switch self {
        case .source: "source"
        case .unwind(let worker): "unwind-\(worker)"
        case .hashCache: "hash-cache"
        case .symbolize(let worker): "symbolize-\(worker)"
        case .report: "report"
        }
    }
}

/// One stage's counts and the high-water mark of the ring(s) it produces into.
public struct StageStatistics: Hashable, Sendable {
    /// The stage counted.
    public var stage: EngineStage
    /// Its nonzero counters; a counter absent here is zero (as the subscript reads it).
    public var counts: [EngineCounter: UInt64]
    /// The most items the next stage found waiting in any ring this stage produces into (0 for
    /// report, which has none): `SPSCRing.highWaterMark`.
    public var outputHighWaterMark: Int

    /// The count of `counter`; 0 when absent.
    public subscript(counter: EngineCounter) -> UInt64 { counts[counter, default: 0] }
}

/// A snapshot of every stage, with the conservation law the engine keeps:
/// `produced = reported + Σ drops + in flight`, where `produced` counts every trace the source
/// offered (malformed records are drops too: they never become traces).
public struct EngineStatistics: Hashable, Sendable, CustomStringConvertible {
    /// Every stage: source, unwind workers, hash/cache, symbolize workers, report, in that order.
    public var stages: [StageStatistics]

    /// `counter` summed over every stage.
    public func total(_ counter: EngineCounter) -> UInt64 { stages.reduce(0) { $0 + $1[counter] } }

    /// Traces the source took in (its `received`): every record offered, malformed ones included.
    public var produced: UInt64 { stage(.source)?[.received] ?? 0 }
    /// Traces handed to the reporter.
    public var reported: UInt64 { total(.reported) }
    /// Samples the produced traces stood for: one each, more for traces the kernel aggregated.
    public var producedSamples: UInt64 { produced.addingSaturating(stage(.source)?[.extraSamples] ?? 0) }
    /// Samples handed to the reporter (counts, or trace events).
    public var reportedSamples: UInt64 { reported.addingSaturating(stage(.report)?[.extraSamples] ?? 0) }
    /// Samples in traces dropped or still in flight; after a draining stop, those of the dropped
    /// traces (a dropped aggregated trace loses every sample it stood for).
    public var unreportedSamples: UInt64 { producedSamples.subtractingSaturating(reportedSamples) }
    /// Traces that will never be reported: every drop counter, and `malformed`.
    public var dropped: UInt64 { EngineCounter.drops.reduce(0) { $0 + total($1) } + total(.malformed) }
    /// What the counts say is still inside the engine. Zero after a draining stop.
    public var inFlight: Int64 { Int64(bitPattern: produced &- reported &- dropped) }
    /// After a draining stop: every produced trace was reported or counted as a drop.
    public var isConserved: Bool { inFlight == 0 }

    /// The statistics of `stage`; nil when the engine has no such stage (no unwind stage, a worker
    /// index too high).
    public func stage(_ stage: EngineStage) -> StageStatistics? { stages.first { $0.stage == stage } }

    public var description: String {
        var lines = ["produced \(produced) = reported \(reported) + dropped \(dropped) + in flight \(inFlight)"]
        if producedSamples != produced {
            lines[0] += "; samples produced \(producedSamples), reported \(reportedSamples)"
        }
        for stage in stages {
            let counts = EngineCounter.allCases.compactMap { c in stage[c] == 0 ? nil : "\(c) \(stage[c])" }
            lines.append("  \(stage.stage): \(counts.joined(separator: ", ")); ring high-water \(stage.outputHighWaterMark)")
        }
        return lines.joined(separator: "\n")
    }
}
