import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// The mapping of a `BPF_MAP_TYPE_RINGBUF` map: the consumer page (read-write) and the producer
/// page followed by the data area mapped twice (read-only), as the kernel lays it out. Owns the
/// mappings (not the map fd, which belongs to the BPF object); `deinit` unmaps.
final class BPFRingBuffer {
    let fd: Int32
    private let consumer: UnsafeMutableRawPointer
    private let producer: UnsafeMutableRawPointer
    private let pageSize: Int
    private let size: Int
    let reader: BPFRingBufferReader

    init(mapFD: Int32, size: Int) throws(KernelPathError) {
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard let consumer = mmap(nil, pageSize, PROT_READ | PROT_WRITE, MAP_SHARED, mapFD, 0), consumer != MAP_FAILED else {
            throw .failed("mmap(ring buffer consumer page)", errno: errno, needs: KernelPathError.bpfPrivileges)
        }
        guard let producer = mmap(nil, pageSize + 2 * size, PROT_READ, MAP_SHARED, mapFD, off_t(pageSize)),
            producer != MAP_FAILED
        else {
            let error = errno
            munmap(consumer, pageSize)
            throw .failed("mmap(ring buffer data, \(size) bytes)", errno: error, needs: KernelPathError.bpfPrivileges)
        }
        fd = mapFD
        self.consumer = consumer
        self.producer = producer
        self.pageSize = pageSize
        self.size = size
        reader = BPFRingBufferReader(
            consumer: consumer, producer: UnsafeRawPointer(producer), data: UnsafeRawPointer(producer + pageSize), size: size)
    }

    deinit {
        munmap(producer, pageSize + 2 * size)
        munmap(consumer, pageSize)
    }
}
