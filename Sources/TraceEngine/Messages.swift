import Synchronization
import TraceModel

/// What report needs of a sample besides its trace: the `TraceEventMeta` fields, as a flat value
/// that rings can carry. The APM service name travels as an id into `APMServiceNames`.
struct SampleMeta: BitwiseCopyable {
    var ktime: KTime
    var comm: Comm
    var pid: UInt32
    var tid: UInt32
    var cpu: UInt32
    var apmServiceName: UInt32
    var weight: SampleWeight

    /// Reads `trace`'s fields through the pointer: a `RawTrace` read as `pointee` and passed on
    /// (even `borrowing`) was copied whole, 3 KiB, on every hit.
    init(_ trace: UnsafePointer<RawTrace>, apmServiceName: UInt32) {
        ktime = trace.pointee.ktime
        comm = trace.pointee.comm
        pid = trace.pointee.pid
        tid = trace.pointee.tid
        cpu = trace.pointee.cpu
        weight = SampleWeight(trace)
        self.apmServiceName = apmServiceName
    }
}

/// What a trace weighs, in one word so that a report message stays within 72 bytes: the samples
/// it stands for (`RawTrace.count`), or, for a trace of off-CPU origin, which is always one
/// block, the nanoseconds the task was off the CPU (in the low 63 bits; the top bit marks it).
struct SampleWeight: BitwiseCopyable {
    private var rawValue: UInt64
    private static let offCPUBit: UInt64 = 1 << 63

    init(_ trace: UnsafePointer<RawTrace>) {
        rawValue = trace.pointee.origin == .offCPU
            ? Self.offCPUBit | min(trace.pointee.offTime, Self.offCPUBit - 1)  // 292 years: never clamped
            : UInt64(trace.pointee.count)
    }

    var origin: TraceOrigin { rawValue & Self.offCPUBit == 0 ? .sampling : .offCPU }
    /// The samples: 1 for an off-CPU block.
    var count: UInt32 { rawValue & Self.offCPUBit == 0 ? UInt32(truncatingIfNeeded: rawValue) : 1 }
    /// Off-CPU nanoseconds; 0 for CPU samples.
    var offTime: UInt64 { rawValue & Self.offCPUBit == 0 ? 0 : rawValue & ~Self.offCPUBit }
}

/// One item for the report stage.
struct ReportMessage: BitwiseCopyable {
    enum Kind: UInt8 {
        /// A BPF-cache hit: count `umHash`.
        case count
        /// `slot` is a converted-trace slot of the sending symbolize worker.
        case converted
        /// `slot` is a raw-trace slot to report unsymbolized; report returns it to hash/cache.
        case degraded
    }

    var kind: Kind
    var slot: UInt32
    var umHash: TraceHash
    var meta: SampleMeta
}

/// A symbolize worker's answer to hash/cache for one raw slot it was given.
struct SymbolizeResult: BitwiseCopyable {
    var rawSlot: UInt32
    /// The raw trace's BPF hash, carried back so that hash/cache need not reread the slot (by now
    /// in the worker's cache, not its own).
    var bpfHash: HostTraceHash
    var umHash: TraceHash
    /// False when the converted trace was dropped on the way to report: the hash must not be cached,
    /// since the reporter never received its frames.
    var delivered: Bool
}

/// APM service names, interned: rings carry a 32-bit id (0 is "no service"). Only traces from
/// processes with an APM agent touch the lock.
final class APMServiceNames: Sendable {
    private struct Table {
        var names: [String] = [""]
        var ids: [String: UInt32] = ["": 0]
    }

    private let table = Mutex(Table())

    func id(_ name: String) -> UInt32 {
        if name.isEmpty { return 0 }
        return table.withLock { table in
            if let id = table.ids[name] { return id }
            let id = UInt32(table.names.count)
            table.names.append(name)
            table.ids[name] = id
            return id
        }
    }

    func name(_ id: UInt32) -> String {
        id == 0 ? "" : table.withLock { $0.names[Int(id)] }
    }
}
