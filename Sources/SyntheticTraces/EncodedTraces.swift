public import TraceModel

/// Traces encoded as the BPF side emits them, back to back in one buffer: a source that costs
/// one copy per trace (`RawTrace.load`), as the perf-buffer path does, so that a benchmark
/// measures the engine rather than the generator.
public struct EncodedTraces: Sendable {
    private let bytes: [UInt8]
    /// Record `i` is `bytes[offsets[i]..<offsets[i + 1]]`.
    private let offsets: [Int]

    /// Encodes `traces` in order.
    public init(_ traces: some Sequence<RawTrace>) {
        var bytes: [UInt8] = []
        var offsets = [0]
        for trace in traces {
            let start = bytes.count
            bytes.append(contentsOf: repeatElement(0, count: trace.encodedByteCount))
            bytes.withUnsafeMutableBytes { buffer in
                _ = trace.encode(into: UnsafeMutableRawBufferPointer(rebasing: buffer[start...]))
            }
            offsets.append(bytes.count)
        }
        self.bytes = bytes
        self.offsets = offsets
    }

    /// Each of the generator's distinct stacks once, in stack order.
    public init(everyStackOf generator: SyntheticTraceGenerator) {
        var trace = RawTrace()
        self.init((0..<generator.configuration.distinctStacks).lazy.map { stack in
            generator.write(stack: stack, into: &trace, ktime: KTime(rawValue: UInt64(stack + 1)))
            return trace
        })
    }

    /// Records encoded.
    public var count: Int { offsets.count - 1 }

    /// Calls `body` with a view of the records that is valid only inside it.
    public func withRecords<R>(_ body: (Records) -> R) -> R {
        bytes.withUnsafeBytes { raw in
            offsets.withUnsafeBufferPointer { offsets in body(Records(bytes: raw, offsets: offsets)) }
        }
    }

    /// The records, by index, without bounds-checked array access per trace.
    public struct Records {
        let bytes: UnsafeRawBufferPointer
        let offsets: UnsafeBufferPointer<Int>

        /// Records in the view.
        public var count: Int { offsets.count - 1 }

        /// The bytes of record `index` (0 ..< `count`, not checked), valid only inside `withRecords`.
        public subscript(index: Int) -> UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(rebasing: bytes[offsets[index]..<offsets[index + 1]])
        }
    }
}
