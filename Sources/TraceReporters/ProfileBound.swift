import TraceModel

/// How much a profile may hold: at most `maximumStacks` distinct traces (their frames) and
/// `maximumStacks` distinct samples (a sample being a trace with its comm, and pid where the
/// output keeps it). Under process churn every new process brings new samples, and without
/// symbols new stacks, for the whole length of a profile: the bound keeps the reporters' memory
/// flat. What does not fit is not dropped: its samples are counted in one `[overflow]` entry.
public struct ProfileBound: Hashable, Sendable {
    /// `output.max-stacks`. Default 16384.
    public var maximumStacks: Int

    /// A bound of `maximumStacks` traces and as many samples. Not checked here: the agent's
    /// configuration allows 1 ... 16777216.
    public init(maximumStacks: Int = 16_384) {
        self.maximumStacks = maximumStacks
    }

    /// The name the overflow entry's one frame carries.
    public static let overflowFrame = "[overflow: stacks beyond output.max-stacks]"

    /// Whether one more trace's frames may be kept, `kept` being kept already.
    func admitsNewTrace(kept: Int) -> Bool { kept < maximumStacks }

    /// Whether a sample may have an entry of its own: an existing one, or room for one whose
    /// trace is kept (or whose frames have yet to come, while there is room for them).
    func admitsSample(known: Bool, samples: Int, traceKnown: Bool, stacks: Int) -> Bool {
        known || (samples < maximumStacks && (traceKnown || stacks < maximumStacks))
    }
}
