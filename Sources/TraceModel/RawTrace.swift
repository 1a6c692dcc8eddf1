public import CTraceRecord

/// Why a record from the kernel could not be read as a trace. The reader counts and skips such a
/// record; it never guesses at its contents.
public enum RawTraceError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Fewer bytes than the 80-byte header.
    case truncatedHeader(byteCount: Int)
    /// The frame counts add up to more than `RawTrace.maxFrames`.
    case tooManyFrames(kernel: Int, user: Int)
    /// The frame counts promise more frames than the record holds.
    case truncatedFrames(byteCount: Int, expected: Int)
    /// The origin is none this reader knows (`TraceOrigin`).
    case unknownOrigin(UInt32)

    public var description: String {
        switch self {
        case .truncatedHeader(let n):
            return "raw trace record of \(n) bytes is shorter than its \(RawTrace.headerSize)-byte header"
        case .tooManyFrames(let k, let u):
            return "raw trace record claims \(k) kernel + \(u) user frames; at most \(RawTrace.maxFrames) fit"
        case .truncatedFrames(let n, let expected):
            return "raw trace record of \(n) bytes is shorter than the \(expected) bytes its frame counts need"
        case .unknownOrigin(let origin):
            return "raw trace record of unknown origin \(origin)"
        }
    }
}

/// One trace as the BPF side produced it (upstream `host.Trace`), with its BPF hash.
///
/// The C record is kept in place, with the fields the hash excludes (ktime, cpu, comm, both APM
/// ids and the off-CPU time) moved out into properties and zeroed in the record, exactly as
/// upstream's `loadBpfTrace` zeroes them before hashing. So `hash` is the low 64 bits of XXH3-128
/// over the record's wire bytes with those fields zeroed: pid, tid, frame counts, origin and
/// frames decide it. (Upstream's record has no cpu field; zeroing ours keeps one stack seen on two
/// CPUs one BPF hash.)
///
/// A `RawTrace` is a fixed-size value (about 3 KiB, `maxFrames` frames inline) so that it can live
/// in preallocated slots and move through rings without allocating.
public struct RawTrace: Sendable, BitwiseCopyable {
    /// The most frames one record carries, kernel and user together (128, `TH_MAX_FRAMES`).
    public static let maxFrames = Int(TH_MAX_FRAMES)
    /// Bytes of a record's header, before its frames (80).
    public static let headerSize = Int(TH_TRACE_RECORD_HEADER_SIZE)
    /// Bytes of one frame in a record (24, `th_frame`).
    public static let frameSize = MemoryLayout<th_frame>.size

    /// When the sample was taken (CLOCK_MONOTONIC); not hashed.
    public var ktime: KTime
    /// The CPU the sample was taken on; not hashed.
    public var cpu: UInt32
    /// The sampled thread's command name; not hashed.
    public var comm: Comm
    /// The APM trace the sampled thread was serving (all zero when none); not hashed.
    public var apmTraceID: APMTraceID
    /// The APM transaction (span) the sampled thread was serving (zero when none); not hashed.
    public var apmTransactionID: APMTransactionID
    /// The BPF hash (upstream `host.TraceHash`), computed whenever the hashed fields are set.
    public private(set) var hash: HostTraceHash
    /// The samples this trace stands for: 1 for a record sent per sample; a trace drained from
    /// the kernel's aggregation (`kernel.aggregation = bpf`) carries what was counted there.
    /// Not hashed, not part of the wire record; loading or assigning a trace resets it to 1. An
    /// off-CPU trace is one block: the engine takes it as one sample, whatever this says.
    public var count: UInt32
    /// Nanoseconds the task was off the CPU, for a trace of `.offCPU` origin (one block: the
    /// engine reports such a trace as one sample); 0 for CPU samples. Not hashed.
    public var offTime: UInt64

    /// The wire record with the unhashed fields zeroed; only the first `frameCount` frames are valid.
    @usableFromInline
    var record: th_trace_record

    /// An empty trace: pid 0, no frames.
    public init() {
        ktime = KTime(rawValue: 0)
        cpu = 0
        comm = .empty
        apmTraceID = APMTraceID()
        apmTransactionID = APMTransactionID()
        hash = HostTraceHash(rawValue: 0)
        count = 1
        offTime = 0
        record = th_trace_record()
        rehash()
    }

    /// A trace built from its parts, as the BPF side would emit it. Frames are leaf first.
    public init(
        pid: UInt32, tid: UInt32, cpu: UInt32 = 0, ktime: KTime = KTime(rawValue: 0), comm: Comm = Comm(""),
        apmTraceID: APMTraceID = APMTraceID(), apmTransactionID: APMTransactionID = APMTransactionID(),
        origin: TraceOrigin = .sampling, offTime: UInt64 = 0,
        kernelFrames: [Frame] = [], userFrames: [Frame] = []
    ) throws(RawTraceError) {
        self.init()
        try assign(
            pid: pid, tid: tid, cpu: cpu, ktime: ktime, comm: comm, origin: origin, offTime: offTime,
            kernelFrameCount: kernelFrames.count, userFrameCount: userFrames.count
        ) { i in i < kernelFrames.count ? kernelFrames[i] : userFrames[i - kernelFrames.count] }
        self.apmTraceID = apmTraceID  // after `assign`, which clears them; they are not hashed
        self.apmTransactionID = apmTransactionID
    }

    /// Overwrites this trace in place (APM ids are cleared) with frames produced by `frameAt`, for
    /// index 0 (the leaf-most kernel frame) up to `kernelFrameCount + userFrameCount`. Allocates
    /// nothing: generators reuse one preallocated trace. On error the trace is left unchanged.
    public mutating func assign(
        pid: UInt32, tid: UInt32, cpu: UInt32, ktime: KTime, comm: Comm,
        origin: TraceOrigin = .sampling, offTime: UInt64 = 0,
        kernelFrameCount: Int, userFrameCount: Int, frameAt: (Int) -> Frame
    ) throws(RawTraceError) {
        guard kernelFrameCount >= 0, userFrameCount >= 0,
            kernelFrameCount + userFrameCount <= RawTrace.maxFrames
        else { throw .tooManyFrames(kernel: kernelFrameCount, user: userFrameCount) }
        self.ktime = ktime
        self.cpu = cpu
        self.comm = comm
        count = 1
        self.offTime = offTime
        apmTraceID = APMTraceID()
        apmTransactionID = APMTransactionID()
        record.pid = pid
        record.tid = tid
        record.origin = origin.rawValue
        record.reserved = 0
        record.kernel_frame_count = UInt16(kernelFrameCount)
        record.user_frame_count = UInt16(userFrameCount)
        let count = kernelFrameCount + userFrameCount
        withUnsafeMutableBytes(of: &record) { bytes in
            let frames = bytes.baseAddress!.advanced(by: RawTrace.headerSize)
                .assumingMemoryBound(to: th_frame.self)
            for i in 0..<count { frames[i] = frameAt(i).raw }
        }
        rehash()
    }

    /// Reads a record as the kernel delivered it (the kernel may pad it: extra bytes are ignored).
    public init(parsing bytes: UnsafeRawBufferPointer) throws(RawTraceError) {
        self.init()
        try load(bytes)
    }

    /// Replaces this trace with the record in `bytes`, copying only the header and the used frames.
    /// This is the engine's in-place path: a preallocated slot is reused without being cleared.
    /// On error the trace is left unchanged.
    public mutating func load(_ bytes: UnsafeRawBufferPointer) throws(RawTraceError) {
        try loadDeferringHash(bytes)
        rehash()
    }

    /// `load` without computing the BPF hash, for a pipeline that hashes on another thread (the
    /// engine's hash/cache stage hashes every trace it receives): `hash` is stale until
    /// `updateHash()`.
    public mutating func loadDeferringHash(_ bytes: UnsafeRawBufferPointer) throws(RawTraceError) {
        guard bytes.count >= RawTrace.headerSize else { throw .truncatedHeader(byteCount: bytes.count) }
        let kernel = Int(bytes.loadUnaligned(fromByteOffset: Offsets.kernelFrameCount, as: UInt16.self))
        let user = Int(bytes.loadUnaligned(fromByteOffset: Offsets.userFrameCount, as: UInt16.self))
        guard kernel + user <= RawTrace.maxFrames else { throw .tooManyFrames(kernel: kernel, user: user) }
        let origin = bytes.loadUnaligned(fromByteOffset: Offsets.origin, as: UInt32.self)
        guard TraceOrigin(rawValue: origin) != nil else { throw .unknownOrigin(origin) }
        let size = RawTrace.headerSize + (kernel + user) * RawTrace.frameSize
        guard bytes.count >= size else { throw .truncatedFrames(byteCount: bytes.count, expected: size) }

        withUnsafeMutableBytes(of: &record) { dst in
            dst.baseAddress!.copyMemory(from: bytes.baseAddress!, byteCount: size)
        }
        ktime = KTime(rawValue: bytes.loadUnaligned(fromByteOffset: Offsets.ktime, as: UInt64.self))
        cpu = bytes.loadUnaligned(fromByteOffset: Offsets.cpu, as: UInt32.self)
        count = 1
        offTime = bytes.loadUnaligned(fromByteOffset: Offsets.offTime, as: UInt64.self)
        comm = Comm(bytes: UnsafeRawBufferPointer(rebasing: bytes[Offsets.comm..<Offsets.comm + Comm.byteCount]))
        apmTraceID = APMTraceID(
            high: bytes.loadUnaligned(fromByteOffset: Offsets.apmTraceID + 8, as: UInt64.self),
            low: bytes.loadUnaligned(fromByteOffset: Offsets.apmTraceID, as: UInt64.self))
        apmTransactionID = APMTransactionID(
            rawValue: bytes.loadUnaligned(fromByteOffset: Offsets.apmTransactionID, as: UInt64.self))
        // Zero what the hash excludes: bytes 8..<12 (cpu) and 24..<80 (ktime, comm, APM ids, off time),
        // and the reserved word, which a record must not use to make one stack two traces.
        withUnsafeMutableBytes(of: &record) { dst in
            dst.storeBytes(of: 0, toByteOffset: Offsets.cpu, as: UInt32.self)
            dst.storeBytes(of: 0, toByteOffset: Offsets.reserved, as: UInt32.self)
            UnsafeMutableRawBufferPointer(rebasing: dst[Offsets.ktime..<RawTrace.headerSize]).initializeMemory(
                as: UInt8.self, repeating: 0)
        }
    }

    /// Computes `hash` from the record (after `loadDeferringHash`).
    public mutating func updateHash() { rehash() }

    /// Copies the trace at `source` over the one at `destination`: its fields and the used part of
    /// its record (the header and `frameCount` frames, a sixth of the 3 KiB at 18 frames). The
    /// engine moves a trace from the source thread's scratch into a pool slot this way.
    public static func copy(_ source: UnsafePointer<RawTrace>, to destination: UnsafeMutablePointer<RawTrace>) {
        destination.pointee.ktime = source.pointee.ktime
        destination.pointee.cpu = source.pointee.cpu
        destination.pointee.comm = source.pointee.comm
        destination.pointee.apmTraceID = source.pointee.apmTraceID
        destination.pointee.apmTransactionID = source.pointee.apmTransactionID
        destination.pointee.hash = source.pointee.hash
        destination.pointee.count = source.pointee.count
        destination.pointee.offTime = source.pointee.offTime
        let size = source.pointee.encodedByteCount
        // Through pointers to the records in place: `pointee.record` as a value would be a copy.
        let from = UnsafeMutablePointer(mutating: source)
        withUnsafeMutablePointer(to: &destination.pointee.record) { to in
            withUnsafeMutablePointer(to: &from.pointee.record) { from in
                UnsafeMutableRawPointer(to).copyMemory(from: from, byteCount: size)
            }
        }
    }

    /// The sampled process's id (the kernel's tgid); hashed.
    @inlinable public var pid: UInt32 { record.pid }
    /// The sampled thread's id; hashed.
    @inlinable public var tid: UInt32 { record.tid }
    /// What made the record: a CPU sample or an off-CPU block; hashed (`load` refuses others).
    @inlinable public var origin: TraceOrigin { TraceOrigin(rawValue: record.origin) ?? .sampling }
    /// Frames of the kernel stack: the first ones of the frame array.
    @inlinable public var kernelFrameCount: Int { Int(record.kernel_frame_count) }
    /// Frames of the user stack: those after the kernel frames.
    @inlinable public var userFrameCount: Int { Int(record.user_frame_count) }
    /// Kernel and user frames together; at most `maxFrames`.
    @inlinable public var frameCount: Int { kernelFrameCount + userFrameCount }

    /// The frames, kernel frames first, each part leaf first.
    @inlinable
    public func withFrames<R, E: Error>(_ body: (UnsafeBufferPointer<Frame>) throws(E) -> R) throws(E) -> R {
        try withUnsafePointer(to: self) { (trace) throws(E) -> R in try RawTrace.withFrames(at: trace, body) }
    }

    /// The frames of the trace `trace` views (its first element), read in place: how a processor
    /// reads the engine's slot (`TraceProcessor.convertTrace(inPlace:into:)`) without copying it.
    @inlinable
    public static func withFrames<R, E: Error>(
        in trace: Span<RawTrace>, _ body: (UnsafeBufferPointer<Frame>) throws(E) -> R
    ) throws(E) -> R {
        try trace.withUnsafeBufferPointer { (traces) throws(E) -> R in try withFrames(at: traces.baseAddress!, body) }
    }

    /// The frames of the trace at `trace`, read in place. Hot paths that hold a trace in memory of
    /// their own (the engine's slots) use this: a `borrowing` read of `pointee` passed to a call that
    /// is not inlined copies the whole 3 KiB value first, since the memory behind a pointer is not
    /// known to stay unchanged during the call.
    @inlinable
    public static func withFrames<R, E: Error>(
        at trace: UnsafePointer<RawTrace>, _ body: (UnsafeBufferPointer<Frame>) throws(E) -> R
    ) throws(E) -> R {
        let count = trace.pointee.frameCount
        // `Frame` is a single-field wrapper of `th_frame`: the same layout, so binding is sound.
        let frames = (UnsafeRawPointer(trace) + MemoryLayout<RawTrace>.offset(of: \.record)! + RawTrace.headerSize)
            .assumingMemoryBound(to: Frame.self)
        return try body(UnsafeBufferPointer(start: frames, count: count))
    }

    /// The frames as an array (allocates; for tests and tools, not for the hot path).
    public var frames: [Frame] { withFrames { Array($0) } }

    /// The number of bytes the BPF side sends for this trace.
    @inlinable
    public var encodedByteCount: Int { RawTrace.headerSize + frameCount * RawTrace.frameSize }

    /// Writes the record as the BPF side emits it, unhashed fields included, into `buffer`, which
    /// must hold `encodedByteCount` bytes. Returns the number of bytes written.
    @discardableResult
    public func encode(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let size = encodedByteCount
        precondition(buffer.count >= size, "buffer of \(buffer.count) bytes cannot hold a \(size)-byte record")
        withUnsafeBytes(of: record) { src in
            buffer.baseAddress!.copyMemory(from: src.baseAddress!, byteCount: size)
        }
        buffer.storeBytes(of: ktime.rawValue, toByteOffset: Offsets.ktime, as: UInt64.self)
        buffer.storeBytes(of: cpu, toByteOffset: Offsets.cpu, as: UInt32.self)
        comm.withBytes { c in
            UnsafeMutableRawBufferPointer(rebasing: buffer[Offsets.comm..<Offsets.comm + Comm.byteCount])
                .copyMemory(from: c)
        }
        buffer.storeBytes(of: apmTraceID.low, toByteOffset: Offsets.apmTraceID, as: UInt64.self)
        buffer.storeBytes(of: apmTraceID.high, toByteOffset: Offsets.apmTraceID + 8, as: UInt64.self)
        buffer.storeBytes(of: apmTransactionID.rawValue, toByteOffset: Offsets.apmTransactionID, as: UInt64.self)
        buffer.storeBytes(of: offTime, toByteOffset: Offsets.offTime, as: UInt64.self)
        return size
    }

    /// The low 64 bits of XXH3-128 over the hashed prefix of `record`.
    private mutating func rehash() {
        let size = encodedByteCount
        let h = withUnsafeBytes(of: &record) { th_xxh3_128($0.baseAddress, size) }
        hash = HostTraceHash(rawValue: h.low)
    }

    /// Byte offsets of the header fields, from the C layout. The unhashed ones, ktime to the end of
    /// the header, are contiguous; `load` relies on that.
    /// (Constants from the C header: offsets computed here with `MemoryLayout.offset(of:)` were
    /// evaluated lazily, a `swift_once` check on every use, three a record on the source's path.)
    private enum Offsets {
        static var cpu: Int { Int(TH_OFFSET_CPU) }
        static var kernelFrameCount: Int { Int(TH_OFFSET_KERNEL_FRAME_COUNT) }
        static var userFrameCount: Int { Int(TH_OFFSET_USER_FRAME_COUNT) }
        static var origin: Int { Int(TH_OFFSET_ORIGIN) }
        static var reserved: Int { Int(TH_OFFSET_ORIGIN) + 4 }
        static var ktime: Int { Int(TH_OFFSET_KTIME) }
        static var comm: Int { Int(TH_OFFSET_COMM) }
        static var apmTraceID: Int { Int(TH_OFFSET_APM_TRACE_ID) }
        static var apmTransactionID: Int { Int(TH_OFFSET_APM_TRANSACTION_ID) }
        static var offTime: Int { Int(TH_OFFSET_OFF_TIME) }
    }
}

