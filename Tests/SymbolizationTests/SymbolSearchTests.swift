@testable import Symbolization
import Testing

@Suite struct SymbolSearchTests {
    /// The branch-free binary search against a linear scan, over every size up to 70, with
    /// repeated starts (aliases share an address) and probes below, between, on and above them.
    @Test func lastIndexAtOrBelowMatchesALinearScan() {
        var generator = SystemRandomNumberGenerator()
        for count in 0...70 {
            let starts = (0..<count).map { _ in UInt64.random(in: 10...200, using: &generator) & ~1 }.sorted()
            for probe in UInt64(0)...210 {
                #expect(starts.lastIndex(atOrBelow: probe) == starts.lastIndex(where: { $0 <= probe }), "count \(count), probe \(probe)")
            }
        }
    }
}
