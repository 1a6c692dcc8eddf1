internal import CLinuxShims
import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// One CPU's perf buffer for BPF output (`PERF_COUNT_SW_BPF_OUTPUT`): the event's fd and its
/// mapping of 1 + 2^n pages. Owns both; `deinit` unmaps and closes.
final class PerfEventBuffer {
    let cpu: Int
    let fd: Int32
    private let mapping: UnsafeMutableRawPointer
    private let mappingSize: Int
    let reader: PerfRingReader

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
            attr.wakeup_watermark = UInt32(bytes)
        case .everyRecord:
            attr.wakeup_events = 1
        }
        let fd = th_perf_event_open(&attr, -1, Int32(cpu), -1, UInt(PERF_FLAG_FD_CLOEXEC))
        guard fd >= 0 else {
            throw .failed("perf_event_open(bpf output, cpu \(cpu))", errno: -fd, needs: "CAP_PERFMON (or CAP_SYS_ADMIN)")
        }
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let size = (1 + dataPages) * pageSize
        guard let mapping = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), mapping != MAP_FAILED else {
            let error = errno
            close(fd)
            throw .failed("mmap(perf buffer, cpu \(cpu), \(size) bytes)", errno: error, needs: "a larger RLIMIT_MEMLOCK or perf_event_mlock_kb")
        }
        self.cpu = cpu
        self.fd = fd
        self.mapping = mapping
        mappingSize = size
        reader = PerfRingReader(
            metadata: mapping, data: UnsafeRawBufferPointer(start: mapping + pageSize, count: dataPages * pageSize))
        let enabled = th_perf_event_enable(fd)
        if enabled != 0 {
            munmap(mapping, size)
            close(fd)
            throw .system(SystemError("ioctl(PERF_EVENT_IOC_ENABLE, cpu \(cpu))", errno: -enabled))
        }
    }

    deinit {
        _ = th_perf_event_disable(fd)
        munmap(mapping, mappingSize)
        close(fd)
    }
}
