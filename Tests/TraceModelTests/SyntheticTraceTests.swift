import SyntheticTraces
import Testing
import TraceModel

@Suite struct SyntheticTraceTests {
    @Test func distinctStacksHaveDistinctHashes() throws {
        var configuration = SyntheticTraceConfiguration()
        configuration.distinctStacks = 500
        configuration.userDepth = 4
        let generator = try SyntheticTraceGenerator(configuration)
        var trace = RawTrace()
        var hashes = Set<HostTraceHash>()
        for stack in 0..<500 {
            generator.write(stack: stack, into: &trace, ktime: KTime(rawValue: 1))
            #expect(trace.userFrameCount == 4 && trace.kernelFrameCount == 2)
            hashes.insert(trace.hash)
        }
        #expect(hashes.count == 500)
    }

    @Test func theSameSeedGivesTheSameSequence() throws {
        var a = try SyntheticTraceGenerator(SyntheticTraceConfiguration())
        var b = try SyntheticTraceGenerator(SyntheticTraceConfiguration())
        for _ in 0..<100 { #expect(a.next(ktime: KTime(rawValue: 1)).hash == b.next(ktime: KTime(rawValue: 1)).hash) }
    }

    @Test func zipfConcentratesOnFewStacks() throws {
        var configuration = SyntheticTraceConfiguration()
        configuration.distinctStacks = 1000
        configuration.zipfSkew = 1.2
        var generator = try SyntheticTraceGenerator(configuration)
        var counts: [HostTraceHash: Int] = [:]
        for _ in 0..<10_000 { counts[generator.next(ktime: KTime(rawValue: 1)).hash, default: 0] += 1 }
        let hottest = counts.values.max() ?? 0
        #expect(hottest > 10_000 / 10, "the hottest of 1000 Zipf(1.2) stacks takes over a tenth")
        configuration.zipfSkew = 0
        var uniform = try SyntheticTraceGenerator(configuration)
        counts = [:]
        for _ in 0..<10_000 { counts[uniform.next(ktime: KTime(rawValue: 1)).hash, default: 0] += 1 }
        #expect((counts.values.max() ?? 0) < 100)
    }

    @Test func invalidConfigurationNamesTheKey() {
        var configuration = SyntheticTraceConfiguration()
        configuration.userDepth = 200
        #expect(throws: ConfigurationError(key: "depth", value: "200", allowed: "1...126")) {
            try SyntheticTraceGenerator(configuration)
        }
        configuration = SyntheticTraceConfiguration()
        configuration.distinctStacks = 0
        #expect(throws: ConfigurationError.self) { try SyntheticTraceGenerator(configuration) }
    }
}
