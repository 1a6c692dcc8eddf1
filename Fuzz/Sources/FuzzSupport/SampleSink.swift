import TraceModel

/// What the engine does with each sample a ring reader hands on, for the ring harnesses: read
/// every byte (AddressSanitizer checks each lies in the ring's memory), parse it as a trace, and
/// ask whether it carries a stack snapshot. A checksum of it all keeps the reads from being
/// optimized away.
public struct SampleSink {
    private var checksum: UInt8 = 0

    public init() {}

    public mutating func take(_ sample: UnsafeRawBufferPointer) {
        for byte in sample { checksum &+= byte }
        if let trace = try? RawTrace(parsing: sample) { checksum &+= UInt8(truncatingIfNeeded: trace.frameCount) }
        if RawTrace.carriesSnapshot(sample) { checksum &+= 1 }
    }

    /// Ends the drain: the checksum escapes into a call the optimizer cannot see through.
    public func finish() { blackHole(checksum) }
}

@inline(never)
private func blackHole(_ value: UInt8) { _ = value }
