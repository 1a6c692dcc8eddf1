import Foundation
import LinuxSystem
import Synchronization
import Symbolization
import Testing
import TraceModel

@Suite struct ELFSymbolTests {
    @Test(arguments: ["pie", "nonPIE", "library"])
    func everyFixtureFunctionIsFoundWhereNmSaysItIs(which: String) throws {
        let built = try Fixtures.built.get()
        let path = which == "pie" ? built.pie : which == "nonPIE" ? built.nonPIE : built.library
        let table = try SymbolTable.load(path: path)
        let expected = try Fixtures.nm(path)
        let names = which == "library" ? ["th_lib_spin", "th_lib_work"] : ["th_alpha", "th_beta", "main"]
        for name in names {
            let address = try #require(expected[name], "nm lists \(name)")
            // The start, and an address inside the function.
            for probe in [address, address + 2] {
                let index = try #require(table.symbolIndex(containing: probe), "\(name) at 0x\(String(probe, radix: 16))")
                #expect(table.rawName(index) == name)
            }
        }
        #expect(!table.isDynamicOnly)
        #expect(table.buildID?.count ?? 0 >= 16, "clang links a GNU build id")
    }

    @Test func aStrippedLibraryIsSymbolizedFromDynsym() throws {
        let built = try Fixtures.built.get()
        let table = try SymbolTable.load(path: built.strippedLibrary)
        #expect(table.isDynamicOnly)
        let address = try #require(try Fixtures.nm(built.strippedLibrary, dynamic: true)["th_lib_spin"])
        let index = try #require(table.symbolIndex(containing: address + 4))
        #expect(table.rawName(index) == "th_lib_spin")
    }

    @Test func theFileIDDependsOnContentNotPath() throws {
        let built = try Fixtures.built.get()
        let copy = built.directory.appendingPathComponent("copy.so").path
        try? FileManager.default.removeItem(atPath: copy)
        try FileManager.default.copyItem(atPath: built.library, toPath: copy)
        #expect(try FileIdentity.of(path: copy) == FileIdentity.of(path: built.library))
        #expect(try FileIdentity.of(path: built.pie) != FileIdentity.of(path: built.library))
    }

    @Test(arguments: [0, 16, 64, 2000])
    func truncatedOrCorruptFilesFailCleanly(keep: Int) throws {
        let built = try Fixtures.built.get()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: built.pie))
        let path = built.directory.appendingPathComponent("truncated-\(keep)").path
        try bytes.prefix(keep).write(to: URL(fileURLWithPath: path))
        #expect(throws: SymbolizationError.self) { _ = try SymbolTable.load(path: path) }
    }

    @Test func garbageIsNotELF() throws {
        let built = try Fixtures.built.get()
        let path = built.directory.appendingPathComponent("garbage").path
        var random = SystemRandomNumberGenerator()
        try Data((0..<8192).map { _ in UInt8.random(in: 0...255, using: &random) }).write(to: URL(fileURLWithPath: path))
        #expect(throws: SymbolizationError.self) { _ = try SymbolTable.load(path: path) }
    }
}

@Suite(.serialized) struct NativeSymbolizerTests {
    /// A leaf in the library and its callers in the executable, at the running process's addresses.
    func trace(_ fixture: RunningFixture) throws -> RawTrace {
        try RawTrace(
            pid: fixture.pid, tid: fixture.pid, comm: Comm("fixture-pie"),
            userFrames: [
                Frame(addressOrLine: fixture.libWork + 4, type: .native),
                Frame(addressOrLine: fixture.alpha + 8, type: .native, isReturnAddress: true),
                Frame(addressOrLine: fixture.beta + 8, type: .native, isReturnAddress: true),
            ])
    }

    @Test(arguments: ["pie", "nonPIE"])
    func aRunningProcessIsSymbolized(which: String) throws {
        let built = try Fixtures.built.get()
        let fixture = try RunningFixture(path: which == "pie" ? built.pie : built.nonPIE)
        defer { fixture.kill() }
        // Revalidation (which rereads the maps) only after an hour: on a loaded machine the first
        // conversion can take longer than the default second.
        var configuration = SymbolizerConfiguration()
        configuration.revalidateAfter = .seconds(3600)
        let symbolizer = try NativeSymbolizer(configuration: configuration)
        let converted = symbolizer.convertTrace(try trace(fixture))
        #expect(converted.symbols == ["th_lib_work", "th_alpha", "th_beta"])
        #expect(converted.frameTypes.allSatisfy { $0 == .native })
        #expect(converted.isSymbolized)
        #expect(converted.hash == converted.computeHash())
        // Normalized addresses: the library frame's lineno is its ELF virtual address.
        let libraryAddress = try #require(try Fixtures.nm(built.library)["th_lib_work"])
        #expect(converted.linenos[0] == libraryAddress + 4)
        #expect(converted.files[0] == (try FileIdentity.of(path: built.library)))
        // Warm: the second time reads no maps and parses no ELF file.
        let before = symbolizer.statistics()
        _ = symbolizer.convertTrace(try trace(fixture))
        let after = symbolizer.statistics()
        #expect(after.mapsReads == before.mapsReads && after.elfParses == before.elfParses)
    }

    @Test func aProcessThatExitedKeepsItsFramesMarked() throws {
        let built = try Fixtures.built.get()
        let fixture = try RunningFixture(path: built.pie)
        let raw = try trace(fixture)
        fixture.kill()
        let converted = try NativeSymbolizer().convertTrace(raw)
        #expect(converted.frameCount == 3)
        #expect(converted.frameTypes.allSatisfy { $0.isError && $0.interpreter == .native })
        #expect(converted.linenos == [fixture.libWork + 4, fixture.alpha + 8, fixture.beta + 8])
    }

    @Test(.enabled(if: KernelSymbols().isAvailable, "kallsyms addresses are hidden from this process (kptr_restrict)"))
    func aKernelFunctionIsNamedFromKallsyms() throws {
        // /proc files report size 0: read to the end rather than by size.
        let text = String(decoding: try #require(FileHandle(forReadingAtPath: "/proc/kallsyms")).readDataToEndOfFile(), as: UTF8.self)
        let line = try #require(text.split(separator: "\n").first { $0.hasSuffix(" T vfs_read") })
        let address = try #require(UInt64(line.split(separator: " ")[0], radix: 16))
        let raw = try RawTrace(pid: 1, tid: 1, kernelFrames: [Frame(addressOrLine: address + 16, type: .kernel)])
        let converted = try NativeSymbolizer().convertTrace(raw)
        #expect(converted.symbols == ["vfs_read"])
        #expect(converted.frameTypes == [.kernel])
    }
}

@Suite struct NamesAndMapsTests {
    @Test func demanglesSwiftAndCxxAndLeavesCAlone() {
        #expect(Demangler.demangle("$sSi") == "Swift.Int")
        #expect(Demangler.demangle("$s4main5helloyyF") == "main.hello() -> ()")
        #expect(Demangler.demangle("_ZN3foo3barEv") == "foo::bar()")
        #expect(Demangler.demangle("_ZN4core3fmt5write17h5a8e3b2f1c4d6e7fE").hasPrefix("core::fmt::write"))
        #expect(Demangler.demangle("main") == "main")
        #expect(Demangler.demangle("_Znotvalid") == "_Znotvalid")
    }

    @Test func parsesMapsLinesWithSpacesAnonymousAndPseudoMappings() {
        let maps = """
            55d0c5a00000-55d0c5a01000 r--p 00000000 08:01 1234 /usr/bin/my app
            55d0c5a01000-55d0c5a02000 r-xp 00001000 08:01 1234 /usr/bin/my app
            7ffd1e5f0000-7ffd1e5f2000 r-xp 00000000 00:00 0                          [vdso]
            7f0000000000-7f0000001000 rwxp 00000000 00:00 0
            garbage line
            """
        let mappings = ProcessMaps.parse(maps)
        #expect(mappings.count == 4)
        #expect(mappings[1].path == "/usr/bin/my app" && mappings[1].isExecutable && mappings[1].fileOffset == 0x1000)
        #expect(mappings[1].moduleName == "my app")
        #expect(!mappings[2].isFile && mappings[2].path == "[vdso]")
        #expect(mappings[3].path == "" && !mappings[3].isFile)
        var bytes = Array(maps.utf8)
        let executable = bytes.withUnsafeMutableBytes { ProcessMaps.parse(UnsafeRawBufferPointer($0), executableOnly: true) }
        #expect(executable == mappings.filter(\.isExecutable) && executable.count == 3)
    }

    @Test func rejectsMapsLinesWithBadNumbers() throws {
        let maps = """
            1ffffffffffffffff-2ffffffffffffffff r-xp 00000000 08:01 1 /overflowing/range
            2000-1000 r-xp 00000000 08:01 1 /backwards
            1000-2000 r-xp 0000zz00 08:01 1 /bad/offset
            1000-2000 r-x 00000000 08:01 1 /short/permissions
            1000-2000-3000 r-xp 00000000 08:01 1 /three/bounds
            1000-2000 r-xp 00000000 08:01 99999999999999999999 /overflowing/inode
            1000-2000 r-xp 00000000 08:01
            3000-4000 r-xp 00000010 fd:00 42
            """
        let mappings = ProcessMaps.parse(maps)
        #expect(mappings.count == 1)
        let mapping = try #require(mappings.first)
        #expect(mapping.start == 0x3000 && mapping.end == 0x4000 && mapping.isExecutable && mapping.fileOffset == 0x10)
        #expect(mapping.device == "fd:00" && mapping.inode == 42 && mapping.path == "")
    }
}

/// The symbolize workers share one `NativeSymbolizer`: traces converted on several threads at once,
/// while the first of them fill its caches, come out as they do converted one at a time.
@Suite struct ParallelSymbolizationTests {
    /// Traces of this process, each frame an address in one of its executable file mappings.
    static func traces(count: Int, depth: Int) throws -> [RawTrace] {
        let maps = try #require(FileContents.text("/proc/self/maps"))
        let ranges = ProcessMaps.parse(maps).filter { $0.isExecutable && $0.isFile }.map { ($0.start, $0.end) }
        #expect(ranges.count >= 3, "a Swift test process maps several libraries")
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        func next() -> UInt64 {  // xorshift: the same traces every run
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        let pid = UInt32(getpid())
        return try (0..<count).map { _ in
            var trace = RawTrace()
            try trace.assign(pid: pid, tid: pid, cpu: 0, ktime: KTime(rawValue: 1), comm: Comm("test"), kernelFrameCount: 0, userFrameCount: depth) { i in
                let (start, end) = ranges[Int(next() % UInt64(ranges.count))]
                return Frame(addressOrLine: start + next() % (end - start), type: .native, isReturnAddress: i > 0)
            }
            return trace
        }
    }

    struct Converted: Equatable {
        var symbols: [String?]
        var linenos: [UInt64]
        var files: [FileID]

        init(_ trace: Trace) {
            symbols = Array(trace.symbols.prefix(trace.frameCount))
            linenos = Array(trace.linenos.prefix(trace.frameCount))
            files = Array(trace.files.prefix(trace.frameCount))
        }
    }

    static func convert(_ raw: RawTrace, with symbolizer: NativeSymbolizer) -> Converted {
        var trace = Trace()
        symbolizer.convertTrace(raw, into: &trace)
        return Converted(trace)
    }

    @Test func fourThreadsAtOnceMatchOneAtATime() throws {
        let traces = try Self.traces(count: 2000, depth: 12)
        let alone = try NativeSymbolizer()
        let expected = traces.map { Self.convert($0, with: alone) }
        #expect(expected.contains { $0.symbols.contains { $0?.contains("+0x") == false } }, "some frames are named")

        let shared = try NativeSymbolizer()
        let threads = 4
        let results = Mutex([[Converted]](repeating: [], count: threads))
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            // Each thread starts elsewhere, so fills and lookups of the same tables overlap.
            let order = Array(traces.indices.dropFirst(thread * 500)) + Array(traces.indices.prefix(thread * 500))
            var converted = [Converted?](repeating: nil, count: traces.count)
            for index in order { converted[index] = Self.convert(traces[index], with: shared) }
            let done = converted.map { $0! }
            results.withLock { $0[thread] = done }
        }
        for thread in 0..<threads { #expect(results.withLock { $0[thread] } == expected, "thread \(thread)") }
    }
}
