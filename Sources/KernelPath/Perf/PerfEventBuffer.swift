internal import CLinuxShims
import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// One CPU's perf buffer for BPF output (`PERF_COUNT_SW_BPF_OUTPUT`): the event's fd and its
/// mapping of 1 + 2^n pages, each held by its own owner (`OwnedFileDescriptor`, `MemoryMapping`),
/// so a failing `init` releases what it had acquired exactly once and `deinit` only disables the
/// event.
final class PerfEventBuffer {
    let cpu: Int
    private let descriptor: OwnedFileDescriptor
    private let mapping: MemoryMapping
    let reader: PerfRingReader

    var fd: Int32 { descriptor.rawValue }

    /// How the kernel wakes the reader.
    enum Wakeup: Hashable, Sendable {
        /// After this many bytes (a watermark): cheap, the default.
        case bytes(Int)
        /// After every record: lowest latency, about 2 µs a record.
        case everyRecord
    }

    /// - Parameters:
    ///   - dataPages: data pages, a power of two.
    init(cpu: Int, dataPages: Int, wakeup: Wakeup) throws(KernelPathError) {
        precondition(dataPages > 0 && dataPages.nonzeroBitCount == 1)
        var attr = perf_event_attr()
        attr.type = UInt32(PERF_TYPE_SOFTWARE.rawValue)
        attr.size = UInt32(MemoryLayout<perf_event_attr>.size)
        attr.config = UInt64(PERF_COUNT_SW_BPF_OUTPUT.rawValue)
        attr.sample_type = UInt64(PERF_SAMPLE_RAW.rawValue)
        attr.sample_period = 1
        switch wakeup {
        case .bytes(let bytes):
            attr.watermark = 1
            attr.wakeup_watermark = UInt32(clamping: bytes)
        case .everyRecord:
            attr.wakeup_events = 1
        }
        let rawFD = th_perf_event_open(&attr, -1, Int32(cpu), -1, UInt(PERF_FLAG_FD_CLOEXEC))
        guard rawFD >= 0 else {
            throw .failed("perf_event_open(bpf output, cpu \(cpu))", errno: -rawFD, needs: "CAP_PERFMON (or CAP_SYS_ADMIN)")
        }
        let descriptor = OwnedFileDescriptor(taking: rawFD)
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let size = (1 + dataPages) * pageSize
        let mapping: MemoryMapping
        do {
            mapping = try MemoryMapping(sharedReadWrite: descriptor, size: size)
        } catch {
            throw .failed("mmap(perf buffer, cpu \(cpu), \(size) bytes)", errno: error.errno, needs: "a larger RLIMIT_MEMLOCK or perf_event_mlock_kb")
        }
        let enabled = th_perf_event_enable(descriptor.rawValue)
        guard enabled == 0 else {
            throw .system(SystemError("ioctl(PERF_EVENT_IOC_ENABLE, cpu \(cpu))", errno: -enabled))
        }
        // Nothing fails past this point: every stored property is set only now.
        reader = PerfRingReader(
            metadata: mapping.base, data: UnsafeRawBufferPointer(start: mapping.base + pageSize, count: dataPages * pageSize))
        self.cpu = cpu
        self.descriptor = descriptor
        self.mapping = mapping
    }

    deinit {
        // The mapping and the descriptor release themselves after this.
        _ = th_perf_event_disable(descriptor.rawValue)
    }
}
