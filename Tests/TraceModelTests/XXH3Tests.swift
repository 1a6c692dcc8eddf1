import CTraceRecord
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

    /// `th_xxh3_128` runs an AVX2 build of XXH3 where the CPU has AVX2: it must give the portable
    /// build's hash for every length, across the 240-byte switch to the stripe loop and the block
    /// boundaries (1024 bytes) of the long-input path.
    @Test(.enabled(if: th_xxh3_uses_avx2() == 1, "this CPU has no AVX2: only the portable build runs here"))
    func theAVX2BuildAgreesWithThePortableOne() {
        var random: UInt64 = 0x9e37_79b9_7f4a_7c15
        let bytes = (0..<4096).map { _ -> UInt8 in
            random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: random >> 56)
        }
        var mismatches: [Int] = []
        bytes.withUnsafeBytes { buffer in
            for length in 0...buffer.count {
                let portable = th_xxh3_128_portable(buffer.baseAddress, length)
                let avx2 = th_xxh3_128_avx2(buffer.baseAddress, length)
                let chosen = th_xxh3_128(buffer.baseAddress, length)
                if portable.low != avx2.low || portable.high != avx2.high || chosen.low != avx2.low || chosen.high != avx2.high {
                    mismatches.append(length)
                }
            }
        }
        #expect(mismatches.isEmpty, "lengths whose hashes differ: \(mismatches.prefix(10))")
    }
}
