/// What the synthetic source generates. Every field is checked by `validate()`.
public struct SyntheticTraceConfiguration: Hashable, Sendable {
    /// How many different stacks exist (each with its own BPF hash).
    public var distinctStacks: Int = 1024
    /// User frames per trace.
    public var userDepth: Int = 16
    /// Kernel frames per trace (below the user frames, as a syscall or interrupt would put them).
    public var kernelDepth: Int = 2
    /// How many processes the stacks are spread over; stack `s` belongs to process `s % processes`.
    public var processes: Int = 8
    /// Zipf exponent of stack popularity: 0 is uniform, 1 is classic Zipf (a few hot stacks).
    public var zipfSkew: Double = 0
    /// Seed of the generator: the same configuration and seed give the same sequence.
    public var seed: UInt64 = 0x5eed

    public init() {}

    public func validate() throws(SyntheticTraceConfigurationError) {
        func check(_ ok: Bool, _ key: String, _ value: String, _ allowed: String) throws(SyntheticTraceConfigurationError) {
            if !ok { throw SyntheticTraceConfigurationError(key: key, value: value, allowed: allowed) }
        }
        try check(distinctStacks >= 1 && distinctStacks <= 1 << 26, "distinct", "\(distinctStacks)", "1...\(1 << 26)")
        try check(userDepth >= 1, "depth", "\(userDepth)", "1...\(128 - kernelDepth)")
        try check(kernelDepth >= 0 && kernelDepth <= 64, "kernel-depth", "\(kernelDepth)", "0...64")
        try check(userDepth + kernelDepth <= 128, "depth", "\(userDepth)", "1...\(128 - kernelDepth)")
        try check(processes >= 1 && processes <= 1 << 20, "processes", "\(processes)", "1...\(1 << 20)")
        try check(zipfSkew >= 0 && zipfSkew <= 10, "zipf", "\(zipfSkew)", "0...10")
    }
}

/// A configuration value out of range: names the key, the value and what is allowed.
public struct SyntheticTraceConfigurationError: Error, Hashable, Sendable, CustomStringConvertible {
    public var key: String
    public var value: String
    public var allowed: String

    public init(key: String, value: String, allowed: String) {
        self.key = key
        self.value = value
        self.allowed = allowed
    }

    public var description: String { "synthetic source: \(key) = \(value) is out of range (allowed: \(allowed))" }
}
