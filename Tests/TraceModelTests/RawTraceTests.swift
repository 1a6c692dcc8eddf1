import CTraceRecord
import Testing
import TraceModel

@Suite struct RawTraceTests {
    static let userFrames = [
        Frame(addressOrLine: 0x401000, type: .native),
        Frame(addressOrLine: 0x402000, type: .native, isReturnAddress: true),
    ]
    static let kernelFrames = [Frame(addressOrLine: 0xffff_ffff_8100_1000, type: .kernel)]

    static func trace(pid: UInt32 = 42, tid: UInt32 = 43, cpu: UInt32 = 1, ktime: UInt64 = 7, comm: String = "worker",
                      apm: UInt64 = 0, user: [Frame] = userFrames) throws -> RawTrace {
        try RawTrace(
            pid: pid, tid: tid, cpu: cpu, ktime: KTime(rawValue: ktime), comm: Comm(comm),
            apmTraceID: APMTraceID(high: apm, low: apm), apmTransactionID: APMTransactionID(rawValue: apm),
            kernelFrames: kernelFrames, userFrames: user)
    }

    @Test func hashIgnoresCommKtimeCPUAndAPMIds() throws {
        let base = try Self.trace()
        #expect(try Self.trace(comm: "other").hash == base.hash)
        #expect(try Self.trace(ktime: 999_999).hash == base.hash)
        #expect(try Self.trace(cpu: 7).hash == base.hash)
        #expect(try Self.trace(apm: 0xdead_beef).hash == base.hash)
    }

    @Test func hashCoversPidTidAndFrames() throws {
        let base = try Self.trace()
        #expect(try Self.trace(pid: 41).hash != base.hash)
        #expect(try Self.trace(tid: 44).hash != base.hash)
        #expect(try Self.trace(user: [Self.userFrames[0]]).hash != base.hash)
        var moved = Self.userFrames
        moved[1] = Frame(addressOrLine: 0x402001, type: .native, isReturnAddress: true)
        #expect(try Self.trace(user: moved).hash != base.hash)
        moved[1] = Frame(addressOrLine: 0x402000, type: .native, isReturnAddress: false)
        #expect(try Self.trace(user: moved).hash != base.hash)
    }

    /// The definition, computed independently: XXH3-128 of the wire record with bytes 8..<12 (cpu)
    /// and 24..<80 (ktime, comm, APM ids, off-CPU time) zeroed; the BPF hash is its low 64 bits.
    @Test func hashIsLow64BitsOfXXH3OverTheZeroedRecord() throws {
        let trace = try RawTrace(
            pid: 42, tid: 43, cpu: 1, ktime: KTime(rawValue: 7), comm: Comm("worker"), apmTraceID: APMTraceID(high: 5, low: 5),
            apmTransactionID: APMTransactionID(rawValue: 5), origin: .offCPU, offTime: 123_456,
            kernelFrames: Self.kernelFrames, userFrames: Self.userFrames)
        var bytes = [UInt8](repeating: 0xaa, count: trace.encodedByteCount)
        bytes.withUnsafeMutableBytes { _ = trace.encode(into: $0) }
        #expect(bytes.count == 80 + 3 * 24)
        #expect(bytes[16] == 1, "the origin, hashed")
        for i in 8..<12 { bytes[i] = 0 }
        for i in 24..<80 { bytes[i] = 0 }
        let reference = bytes.withUnsafeBytes { TraceHash(xxh3Of: $0) }
        #expect(trace.hash.rawValue == reference.low)
    }

    @Test func encodeThenParseRoundTrips() throws {
        let trace = try Self.trace(apm: 9)
        var bytes = [UInt8](repeating: 0, count: trace.encodedByteCount + 4)  // kernel pads records
        bytes.withUnsafeMutableBytes { _ = trace.encode(into: $0) }
        let parsed = try bytes.withUnsafeBytes { try RawTrace(parsing: $0) }
        #expect(parsed.hash == trace.hash)
        #expect(parsed.pid == 42 && parsed.tid == 43 && parsed.cpu == 1 && parsed.ktime.rawValue == 7)
        #expect(parsed.comm.description == "worker")
        #expect(parsed.apmTraceID == APMTraceID(high: 9, low: 9))
        #expect(parsed.apmTransactionID.rawValue == 9)
        #expect(parsed.kernelFrameCount == 1 && parsed.userFrameCount == 2)
        #expect(parsed.frames == Self.kernelFrames + Self.userFrames)
        #expect(parsed.origin == .sampling && parsed.offTime == 0)
    }

    /// An off-CPU record keeps its origin (hashed: the same stack on the CPU is another trace) and
    /// its time off the CPU (not hashed: every block of one stack is one trace).
    @Test func anOffCPURecordKeepsItsOriginAndTime() throws {
        let onCPU = try Self.trace()
        let offCPU = try RawTrace(
            pid: 42, tid: 43, origin: .offCPU, offTime: 5_000_000, kernelFrames: Self.kernelFrames, userFrames: Self.userFrames)
        let longer = try RawTrace(
            pid: 42, tid: 43, origin: .offCPU, offTime: 9_000_000, kernelFrames: Self.kernelFrames, userFrames: Self.userFrames)
        #expect(offCPU.hash != onCPU.hash)
        #expect(offCPU.hash == longer.hash)
        var bytes = [UInt8](repeating: 0, count: offCPU.encodedByteCount)
        bytes.withUnsafeMutableBytes { _ = offCPU.encode(into: $0) }
        let parsed = try bytes.withUnsafeBytes { try RawTrace(parsing: $0) }
        #expect(parsed.origin == .offCPU && parsed.offTime == 5_000_000 && parsed.hash == offCPU.hash)
        var copy = RawTrace()
        withUnsafePointer(to: parsed) { source in withUnsafeMutablePointer(to: &copy) { RawTrace.copy(source, to: $0) } }
        #expect(copy.origin == .offCPU && copy.offTime == 5_000_000 && copy.hash == offCPU.hash)
    }

    @Test func aDeferredHashEqualsTheLoadedOne() throws {
        let original = try Self.trace()
        var bytes = [UInt8](repeating: 0, count: original.encodedByteCount)
        bytes.withUnsafeMutableBytes { _ = original.encode(into: $0) }
        var deferred = RawTrace()
        try bytes.withUnsafeBytes { try deferred.loadDeferringHash($0) }
        deferred.updateHash()
        #expect(deferred.hash == original.hash)
        #expect(deferred.frames == original.frames)
    }

    @Test func loadInPlaceReplacesALongerTrace() throws {
        var slot = try Self.trace(user: (0..<100).map { Frame(addressOrLine: UInt64($0), type: .native) })
        let short = try Self.trace()
        var bytes = [UInt8](repeating: 0, count: short.encodedByteCount)
        bytes.withUnsafeMutableBytes { _ = short.encode(into: $0) }
        try bytes.withUnsafeBytes { try slot.load($0) }
        #expect(slot.hash == short.hash)
        #expect(slot.frames == short.frames)
    }

    @Test func malformedRecordsAreRejectedWithAReason() throws {
        let short = [UInt8](repeating: 0, count: 63)
        #expect(throws: RawTraceError.truncatedHeader(byteCount: 63)) {
            try short.withUnsafeBytes { try RawTrace(parsing: $0) }
        }
        var header = [UInt8](repeating: 0, count: 80)
        header[12] = 100  // kernel_frame_count
        header[14] = 29  // user_frame_count
        #expect(throws: RawTraceError.tooManyFrames(kernel: 100, user: 29)) {
            try header.withUnsafeBytes { try RawTrace(parsing: $0) }
        }
        header[12] = 2
        header[14] = 0
        #expect(throws: RawTraceError.truncatedFrames(byteCount: 80, expected: 128)) {
            try header.withUnsafeBytes { try RawTrace(parsing: $0) }
        }
        #expect(RawTraceError.truncatedFrames(byteCount: 80, expected: 128).description.contains("128"))
        header[12] = 0
        header[16] = 2  // origin: neither a CPU sample (0) nor off-CPU (1)
        #expect(throws: RawTraceError.unknownOrigin(2)) {
            try header.withUnsafeBytes { try RawTrace(parsing: $0) }
        }
    }

    @Test func aFailedLoadLeavesTheTraceUnchanged() throws {
        var trace = try Self.trace()
        let before = trace.hash
        let garbage = [UInt8](repeating: 0xff, count: 64)
        #expect(throws: RawTraceError.self) { try garbage.withUnsafeBytes { try trace.load($0) } }
        #expect(trace.hash == before)
        #expect(trace.frames == Self.kernelFrames + Self.userFrames)
    }

    @Test func tooManyFramesAreRejectedWhenBuilding() {
        let frames = (0..<129).map { Frame(addressOrLine: UInt64($0), type: .native) }
        #expect(throws: RawTraceError.tooManyFrames(kernel: 0, user: 129)) {
            try RawTrace(pid: 1, tid: 1, userFrames: frames)
        }
    }

    @Test func commKeepsFifteenBytesAndANul() {
        #expect(Comm("a-very-long-command-name").description == "a-very-long-com")
        #expect(Comm("").description == "")
        #expect(Comm.empty == Comm(""))
    }
}

@Suite struct FrameTypeTests {
    @Test func upstreamValues() {
        #expect(FrameType.native.rawValue == 3)
        #expect(FrameType.kernel.rawValue == 4)
        #expect(FrameType.python.rawValue == 1)
        #expect(FrameType.dotnet.rawValue == 10)
        #expect(FrameType.abort.rawValue == 0xff)
    }

    /// The kinds are literals in Swift (inlinable constants); the BPF side's header defines them.
    @Test func everyKindIsTheBPFSidesValue() {
        let kinds: [(FrameType, Int32)] = [
            (.unknown, TH_FRAME_UNKNOWN), (.python, TH_FRAME_PYTHON), (.php, TH_FRAME_PHP), (.native, TH_FRAME_NATIVE),
            (.kernel, TH_FRAME_KERNEL), (.hotSpot, TH_FRAME_HOTSPOT), (.ruby, TH_FRAME_RUBY), (.perl, TH_FRAME_PERL),
            (.v8, TH_FRAME_V8), (.phpJIT, TH_FRAME_PHP_JIT), (.dotnet, TH_FRAME_DOTNET), (.luaJIT, TH_FRAME_LUAJIT),
            (.abort, TH_FRAME_ABORT),
        ]
        for (kind, value) in kinds { #expect(Int32(kind.rawValue) == value, "\(kind)") }
    }

    @Test func errorBitMarksUnresolvedFramesAndKeepsTheirKind() {
        let unresolved = FrameType.native.asError
        #expect(unresolved.isError)
        #expect(unresolved.interpreter == .native)
        #expect(!FrameType.native.isError)
        #expect(unresolved.description == "native-error")
        #expect(FrameType.abort.isError && FrameType.abort.interpreter == .unknown)
        #expect(FrameType.abort.description == "abort-marker")
    }
}

@Suite struct TraceTests {
    @Test func unsymbolizedConversionKeepsEveryFrame() throws {
        let raw = try RawTraceTests.trace()
        let trace = Trace(unsymbolized: raw)
        #expect(trace.frameCount == 3)
        #expect(trace.linenos == [0xffff_ffff_8100_1000, 0x401000, 0x402000])
        #expect(trace.frameTypes == [.kernel, .native, .native])
        #expect(!trace.isSymbolized)
        #expect(trace.hash == trace.computeHash())
    }

    /// Rows written in place, into a fresh trace and over one that held more frames and symbols
    /// before, give the trace `append` would build; the rows past the new count are gone.
    @Test(arguments: [0, 2, 5, 9])
    func frameRowsMatchAppendedFrames(count: Int) {
        func frame(_ i: Int) -> (file: FileID, lineno: UInt64, type: FrameType, start: UInt64, end: UInt64, offset: UInt64, symbol: String?) {
            (FileID(high: UInt64(i), low: 1), UInt64(0x1000 + i), i.isMultiple(of: 2) ? .native : .kernel,
             UInt64(i) << 12, UInt64(i + 1) << 12, UInt64(i), i == 3 ? nil : "f\(i)")
        }
        var expected = Trace()
        for f in (0..<count).map(frame) {
            expected.append(file: f.file, lineno: f.lineno, type: f.type, mappingStart: f.start, mappingEnd: f.end,
                            mappingFileOffset: f.offset, symbol: f.symbol)
        }
        var reused = Trace()
        for i in 0..<7 { reused.append(file: FileID(high: 9, low: 9), lineno: 99, type: .python, symbol: "old\(i)") }
        for var trace in [Trace(), reused] {
            trace.withFrameRows(count: count) { rows in
                for (i, f) in (0..<count).map(frame).enumerated() {
                    rows.set(i, file: f.file, lineno: f.lineno, type: f.type, mappingStart: f.start, mappingEnd: f.end,
                             mappingFileOffset: f.offset, symbol: f.symbol)
                }
            }
            #expect(trace == expected)
        }
    }

    @Test func unsymbolizedConversionInPlaceEqualsAFreshOne() throws {
        let long = Trace(unsymbolized: try RawTraceTests.trace())
        var raw = RawTrace()
        try raw.assign(
            pid: 7, tid: 7, cpu: 0, ktime: KTime(rawValue: 1), comm: .empty, kernelFrameCount: 0, userFrameCount: 1,
            frameAt: { _ in Frame(addressOrLine: 0x5000, type: .native) })
        var reused = long
        withUnsafePointer(to: raw) { reused.assignUnsymbolized(inPlace: UnsafeBufferPointer(start: $0, count: 1).span) }
        #expect(reused.hash == long.hash)  // in place, the hash is left to the handler
        reused.updateHash()
        #expect(reused == Trace(unsymbolized: raw))
        #expect(reused.frameCount == 1)
    }

    @Test func hashDependsOnFramesNotOnProcess() throws {
        let a = Trace(unsymbolized: try RawTraceTests.trace(pid: 1))
        let b = Trace(unsymbolized: try RawTraceTests.trace(pid: 2))
        #expect(a.hash == b.hash)
        var c = a
        c.linenos[0] += 1
        #expect(c.computeHash() != a.hash)
        var d = a
        d.frameTypes[0] = .native
        #expect(d.computeHash() != a.hash)
    }

    /// The hash is XXH3-128 over (file id high, file id low, address, type) per frame, laid end
    /// to end; traces longer than a raw record take the streaming path, which must agree.
    @Test(arguments: [0, 1, 3, 128, 129, 300])
    func hashIsXXH3OverTheFrameColumns(frames: Int) {
        var trace = Trace()
        var bytes: [UInt8] = []
        for i in 0..<frames {
            let file = FileID(high: UInt64(i) &* 0x9e37_79b9_7f4a_7c15, low: ~UInt64(i))
            let type: FrameType = i % 3 == 0 ? .kernel : .native
            trace.append(file: file, lineno: 0x40_0000 + UInt64(i) * 16, type: type)
            withUnsafeBytes(of: file.high) { bytes += $0 }
            withUnsafeBytes(of: file.low) { bytes += $0 }
            withUnsafeBytes(of: 0x40_0000 + UInt64(i) * 16) { bytes += $0 }
            bytes.append(type.rawValue)
        }
        #expect(trace.computeHash() == bytes.withUnsafeBytes { TraceHash(xxh3Of: $0) })
    }
}
