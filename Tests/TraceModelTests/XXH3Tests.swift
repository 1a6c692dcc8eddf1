import Testing
import TraceModel

/// The reference XXH3-128, checked against what `xxh128sum` (xxhash 0.8.1) prints.
@Suite struct XXH3Tests {
    @Test(arguments: [
        ("", "99aa06d3014798d86001c324468d497f"),
        ("abc", "06b05ab6733a618578af5f94892f3950"),
        ("hello", "b5e9c1ad071b3e7fc779cfaa5e523818"),
    ])
    func knownVectors(input: String, expected: String) {
        let hash = Array(input.utf8).withUnsafeBytes { TraceHash(xxh3Of: $0) }
        #expect(hash.description == expected)
    }

    @Test func longInputTakesTheStripeLoop() {
        // 300 bytes is past XXH3's 240-byte short-input path: the loop a 3-frame record already takes.
        let zeros = [UInt8](repeating: 0, count: 300)
        #expect(zeros.withUnsafeBytes { TraceHash(xxh3Of: $0) }.description == "be8945035b2f421f56d0762b20085f91")
    }

    @Test func hashPartsAreHighThenLow() {
        let hash = Array("hello".utf8).withUnsafeBytes { TraceHash(xxh3Of: $0) }
        #expect(hash.high == 0xb5e9_c1ad_071b_3e7f)
        #expect(hash.low == 0xc779_cfaa_5e52_3818)
    }
}
