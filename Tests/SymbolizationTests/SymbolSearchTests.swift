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

/// Names of frames nothing could name are made in one allocation; they read as the parts did.
@Suite struct OffsetNameTests {
    @Test(arguments: ["/usr/lib/x86_64-linux-gnu/libc.so.6", "noslash", "", "/trailing/", "/tmp/é/app", "[vdso]"])
    func readsAsTheModuleNamePlusHex(path: String) {
        let mapping = Mapping(start: 0x1000, end: 0x2000, isExecutable: true, fileOffset: 0, device: "00:00", inode: 0, path: path)
        for offset: UInt64 in [0, 1, 0xf, 0x10, 0xabc, 0x7fff_ffff_f000, .max] {
            #expect(OffsetName.make(module: mapping, offset) == mapping.moduleName + "+0x" + String(offset, radix: 16))
        }
        #expect(OffsetName.make("[exited]".utf8, 0x401000) == "[exited]+0x401000")
    }
}
