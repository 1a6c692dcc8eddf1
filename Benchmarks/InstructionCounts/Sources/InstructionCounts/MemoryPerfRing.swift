import KernelPath

/// A perf ring in plain memory that `refill()` writes the same records into, as the kernel would.
final class MemoryPerfRing {
    let reader: PerfRingReader
    private let metadata: UnsafeMutableRawPointer
    private let data: UnsafeMutableRawBufferPointer
    private let image: [UInt8]
    private var head = 0

    init(records: Int, payload: [UInt8]) {
        let size = (8 + 4 + payload.count + 7) & ~7  // header, size word, payload, padded to 8
        var record = [UInt8](repeating: 0, count: size)
        record.withUnsafeMutableBytes { bytes in
            bytes.storeBytes(of: UInt32(9), as: UInt32.self)  // PERF_RECORD_SAMPLE
            bytes.storeBytes(of: UInt16(size), toByteOffset: 6, as: UInt16.self)
            bytes.storeBytes(of: UInt32(payload.count), toByteOffset: 8, as: UInt32.self)
        }
        record.replaceSubrange(12..<12 + payload.count, with: payload)
        image = Array(repeatElement(record, count: records).joined())
        var capacity = 4096
        while capacity < image.count { capacity *= 2 }
        metadata = .allocate(byteCount: 4096, alignment: 4096)
        metadata.initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
        data = .allocate(byteCount: capacity, alignment: 8)
        reader = PerfRingReader(metadata: metadata, data: UnsafeRawBufferPointer(data))
    }

    deinit {
        metadata.deallocate()
        data.deallocate()
    }

    /// Writes every record again at the head, wrapping, and publishes the head (data_head, 1024).
    func refill() {
        for byte in image {
            data[head % data.count] = byte
            head += 1
        }
        metadata.storeBytes(of: UInt64(head), toByteOffset: 1024, as: UInt64.self)
    }

    /// Moves data_tail (1032) to the head: what a reader's drain leaves, without the reading.
    func discard() {
        metadata.storeBytes(of: UInt64(head), toByteOffset: 1032, as: UInt64.self)
    }
}
