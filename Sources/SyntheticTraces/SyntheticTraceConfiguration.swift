public import TraceModel

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

    /// The defaults.
    public init() {}

    /// Checks every field: at most 2^26 stacks, 128 frames in all (64 kernel), 2^20 processes and a
    /// skew of 10. The error names the field as the commands' options do (`distinct`, `depth`, `zipf`).
    public func validate() throws(ConfigurationError) {
        try ConfigurationError.check(distinctStacks >= 1 && distinctStacks <= 1 << 26, "distinct", distinctStacks, allowed: "1...\(1 << 26)")
        try ConfigurationError.check(userDepth >= 1, "depth", userDepth, allowed: "1...\(128 - kernelDepth)")
        try ConfigurationError.check(kernelDepth >= 0 && kernelDepth <= 64, "kernel-depth", kernelDepth, allowed: "0...64")
        try ConfigurationError.check(userDepth + kernelDepth <= 128, "depth", userDepth, allowed: "1...\(128 - kernelDepth)")
        try ConfigurationError.check(processes >= 1 && processes <= 1 << 20, "processes", processes, allowed: "1...\(1 << 20)")
        try ConfigurationError.check(zipfSkew >= 0 && zipfSkew <= 10, "zipf", zipfSkew, allowed: "0...10")
    }
}
