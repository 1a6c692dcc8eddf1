/// What made a trace (upstream `libpf.Origin`): a CPU sample, or a task's return to a CPU after it
/// blocked (`TH_ORIGIN_*`).
public enum TraceOrigin: UInt32, Sendable, Hashable, CaseIterable {
    /// The CPU sampler: the trace is where a task was running.
    case sampling = 0
    /// The off-CPU sampler: the trace is where a task blocked, `offTime` how long it stayed off.
    case offCPU = 1
}

/// A set of origins: what a profile samples (`sampling.mode`), which fixes the sample types of
/// the profiles it writes.
public struct TraceOrigins: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// CPU samples.
    public static let cpu = TraceOrigins(rawValue: 1 << 0)
    /// Off-CPU samples.
    public static let offCPU = TraceOrigins(rawValue: 1 << 1)

    /// The set holding one origin.
    public init(_ origin: TraceOrigin) {
        self = origin == .sampling ? .cpu : .offCPU
    }

    /// The origins in the set, CPU samples first.
    public var origins: [TraceOrigin] { TraceOrigin.allCases.filter { contains(TraceOrigins($0)) } }

    /// How the configuration spells a set (`cpu`, `off-cpu`, `cpu,off-cpu`), and back.
    public var text: String { origins.map { $0 == .sampling ? "cpu" : "off-cpu" }.joined(separator: ",") }

    /// The set a comma-separated list names; nil for an empty list or an unknown name.
    public init?(text: String) {
        var set: TraceOrigins = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            switch part.filter({ !$0.isWhitespace }) {
            case "cpu": set.insert(.cpu)
            case "off-cpu": set.insert(.offCPU)
            default: return nil
            }
        }
        if set.isEmpty { return nil }
        self = set
    }
}
