import Foundation
import Testing
@testable import Unwinding

/// The walker on a real stack: a gcc -O2 -fomit-frame-pointer program captures its own
/// registers and stack in its deepest function, and we unwind that copy with tables built from
/// the program and libc, as the unwind stage would a perf sample.
@Suite struct CapturedSnapshotTests {
    static let program = Result { try Tools.compile(FixturePrograms.capture, name: "capture", flags: FixturePrograms.captureFlags) }

    @Test func theKnownChainIsFoundThroughLibcToStart() throws {
        let names = try Self.captureAndWalk(throughSignal: false)
        // __libc_start_call_main is a local symbol: not in libc's .dynsym, so "libc?".
        #expect(names == ["uw_c", "uw_b", "uw_a", "main", "libc?", "__libc_start_main", "_start"], "\(names)")
    }

    @Test func theWalkCrossesGlibcsSignalTrampoline() throws {
        let names = try Self.captureAndWalk(throughSignal: true)
        // handler → __restore_rt (local, "libc?") → raise's internals → raise → uw_c → … → _start.
        #expect(names.first == "uw_on_signal")
        #expect(names.count > 2 && names[1] == "libc?", "\(names)")
        #expect(names.contains("raise") || names.contains("gsignal"), "\(names)")
        #expect(names.suffix(7) == ["uw_c", "uw_b", "uw_a", "main", "libc?", "__libc_start_main", "_start"], "\(names)")
    }

    /// Runs the fixture, walks its snapshot, names the frames.
    static func captureAndWalk(throughSignal: Bool) throws -> [String] {
        let program = try program.get()
        let snapshotPath = Tools.scratch.appendingPathComponent("capture-\(throughSignal).stack").path
        let output = try Tools.run(program, [snapshotPath] + (throughSignal ? ["signal"] : [])).split(separator: " ").map(String.init)
        try #require(output.count == 6, "the fixture prints ip sp bp exe-base libc-base libc-path")
        let values = output[0 ..< 5].compactMap { UInt64($0, radix: 16) }
        try #require(values.count == 5)
        let registers = UserRegisters(ip: values[0], sp: values[1], bp: values[2])
        let libcPath = output[5].trimmingCharacters(in: .whitespacesAndNewlines)
        let stack = try [UInt8](Data(contentsOf: URL(fileURLWithPath: snapshotPath)))
        #expect(stack.count > 1024)

        // PIE and libc: the load bias is the base dladdr reports (their first PT_LOAD is at 0).
        let files = [(program, values[3]), (libcPath, values[4])]
        var mappings: [(range: Range<UInt64>, table: UnwindTable, loadBias: UInt64)] = []
        for (path, bias) in files {
            let elf = try ELFSections(path: path)
            mappings.append((bias ..< bias + elf.loadEnd, try UnwindTable.load(path: path), bias))
        }
        let lookup = FakeLookup(mappings: mappings)

        var frames = [UInt64](repeating: 0, count: 64)
        let result = stack.withUnsafeBytes { stack in
            frames.withUnsafeMutableBufferPointer { StackWalker(framePointerFallback: false).walk(registers: registers, stack: stack, lookup: lookup, into: $0) }
        }
        let walked = Array(frames[..<result.frameCount])

        // Name each frame from nm: the program's symbols, libc's dynamic ones.
        let programSymbols = try Tools.symbols(program).map { ($0.name, $0.start + values[3], $0.end + values[3]) }
        let libcSymbols = try Tools.symbols(libcPath, dynamic: true).map { ($0.name, $0.start + values[4], $0.end + values[4]) }
        func name(_ address: UInt64, returnAddress: Bool) -> String {
            let probe = returnAddress ? address - 1 : address
            for (symbolName, start, end) in programSymbols + libcSymbols where probe >= start && probe < end {
                return String(symbolName.prefix { $0 != "@" })
            }
            return mappings[1].range.contains(address) ? "libc?" : "?"
        }
        // After a signal frame the PC is exact: no − 1 when naming it.
        var names: [String] = []
        var exact = true
        for address in walked {
            names.append(name(address, returnAddress: !exact))
            exact = lookup.mapping(containing: address - 1).map { $0.rows.rule(at: address - 1 - $0.loadBias).cfa == .signalFrame } ?? false
        }
        #expect(result.stopReason == .outermostFrame, "\(names) \(result)")
        return names
    }
}
