public import TraceModel

#if canImport(Glibc)
import Glibc  // pow
#endif

/// Generates raw traces as a sampler would deliver them, deterministically, without allocating per
/// trace: `next(into:ktime:)` rewrites a caller's preallocated trace in place.
///
/// Stack `s` has a fixed shape: its frames near the root are shared with other stacks (frame `r`
/// from the root is one of `2^(r+1)` functions), and its leaf is its own, so stacks form a tree as
/// real profiles do, and `distinctStacks` stacks have `distinctStacks` BPF hashes.
public struct SyntheticTraceGenerator: Sendable {
    /// What it generates, validated.
    public let configuration: SyntheticTraceConfiguration
    private var random: SplitMix64
    /// Cumulative popularity of stacks for Zipf sampling; empty when uniform.
    private let zipfCDF: [Double]
    private let comms: [Comm]

    /// Checks `configuration` (throwing the error of its `validate()`) and seeds the generator with
    /// its `seed`.
    public init(_ configuration: SyntheticTraceConfiguration) throws(ConfigurationError) {
        try configuration.validate()
        self.configuration = configuration
        random = SplitMix64(seed: configuration.seed)
        comms = (0..<min(configuration.processes, 4096)).map { Comm("synthetic-\($0)") }
        if configuration.zipfSkew > 0 {
            var cdf = [Double](repeating: 0, count: configuration.distinctStacks)
            var sum = 0.0
            for rank in 0..<configuration.distinctStacks {
                sum += 1 / pow(Double(rank + 1), configuration.zipfSkew)
                cdf[rank] = sum
            }
            zipfCDF = cdf.map { $0 / sum }
        } else {
            zipfCDF = []
        }
    }

    /// Picks the next stack and writes it into `trace`.
    public mutating func next(into trace: inout RawTrace, ktime: KTime) {
        let stack = nextStackIndex()
        write(stack: stack, into: &trace, ktime: ktime)
    }

    /// The next trace as a new value.
    public mutating func next(ktime: KTime) -> RawTrace {
        var trace = RawTrace()
        next(into: &trace, ktime: ktime)
        return trace
    }

    /// Writes stack `stack` (0..<distinctStacks) into `trace`.
    public func write(stack: Int, into trace: inout RawTrace, ktime: KTime) {
        let c = configuration
        let process = stack % c.processes
        let pid = UInt32(1000 + process)
        let user = c.userDepth
        let kernel = c.kernelDepth
        // Cannot fail: validate() bounded the depths.
        try! trace.assign(
            pid: pid, tid: pid, cpu: UInt32(stack & 1), ktime: ktime, comm: comms[process % comms.count],
            kernelFrameCount: kernel, userFrameCount: user
        ) { i in
            if i < kernel {
                let address = 0xffff_ffff_8100_0000 &+ (mix(UInt64(stack % 64), UInt64(i)) & 0xf_fff0)
                return Frame(addressOrLine: address, type: .kernel, isReturnAddress: i > 0)
            }
            let fromLeaf = i - kernel
            let fromRoot = user - 1 - fromLeaf
            let key = fromLeaf == 0 ? UInt64(stack) : UInt64(stack % (1 << min(fromRoot + 1, 40)))
            let address = 0x40_0000 &+ (mix(key, UInt64(fromRoot)) & 0xf_fff0)
            return Frame(addressOrLine: address, type: .native, isReturnAddress: fromLeaf > 0)
        }
    }

    private mutating func nextStackIndex() -> Int {
        if zipfCDF.isEmpty {
            return Int(random.next() % UInt64(configuration.distinctStacks))
        }
        let u = Double(random.next() >> 11) / Double(1 << 53)
        var low = 0
        var high = zipfCDF.count - 1
        while low < high {
            let mid = (low + high) / 2
            if zipfCDF[mid] < u { low = mid + 1 } else { high = mid }
        }
        return low
    }
}

/// A 64-bit mix of two words (the SplitMix64 finaliser): addresses that look random but repeat.
@inline(__always)
func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
    var z = a &* 0x9e37_79b9_7f4a_7c15 &+ b &+ 0x6a09_e667_f3bc_c909
    z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
    z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
    return z ^ (z >> 31)
}

/// SplitMix64: small, fast, and good enough to pick stacks.
struct SplitMix64: Sendable {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        return mix(state, 0)
    }
}
