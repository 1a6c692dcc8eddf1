/// The engine's stages, as statistics name them.
public enum EngineStage: Hashable, Sendable, CustomStringConvertible {
    case source
    case unwind(worker: Int)
    case hashCache
    case symbolize(worker: Int)
    case report

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
    public var stage: EngineStage
    public var counts: [EngineCounter: UInt64]
    public var outputHighWaterMark: Int

    public subscript(counter: EngineCounter) -> UInt64 { counts[counter, default: 0] }
}

/// A snapshot of every stage, with the conservation law the engine keeps:
/// `produced = reported + Σ drops + in flight`, where `produced` counts every trace the source
/// offered (malformed records are drops too: they never become traces).
public struct EngineStatistics: Hashable, Sendable, CustomStringConvertible {
    public var stages: [StageStatistics]

    public func total(_ counter: EngineCounter) -> UInt64 { stages.reduce(0) { $0 + $1[counter] } }

    public var produced: UInt64 { stage(.source)?[.received] ?? 0 }
    public var reported: UInt64 { total(.reported) }
    public var dropped: UInt64 { EngineCounter.drops.reduce(0) { $0 + total($1) } + total(.malformed) }
    /// What the counts say is still inside the engine. Zero after a draining stop.
    public var inFlight: Int64 { Int64(bitPattern: produced &- reported &- dropped) }
    /// After a draining stop: every produced trace was reported or counted as a drop.
    public var isConserved: Bool { inFlight == 0 }

    public func stage(_ stage: EngineStage) -> StageStatistics? { stages.first { $0.stage == stage } }

    public var description: String {
        var lines = ["produced \(produced) = reported \(reported) + dropped \(dropped) + in flight \(inFlight)"]
        for stage in stages {
            let counts = EngineCounter.allCases.compactMap { c in stage[c] == 0 ? nil : "\(c) \(stage[c])" }
            lines.append("  \(stage.stage): \(counts.joined(separator: ", ")); ring high-water \(stage.outputHighWaterMark)")
        }
        return lines.joined(separator: "\n")
    }
}
