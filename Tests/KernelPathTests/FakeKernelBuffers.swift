import CLinuxShims
@testable import KernelPath

/// Plays the kernel's side of a perf ring buffer in plain memory: writes records at `data_head`
/// (wrapping at the end of the data area, as the kernel does) and publishes the new head.
final class FakePerfBuffer {
    let metadata: UnsafeMutableRawPointer
    let data: UnsafeMutableRawBufferPointer
    private(set) var head: UInt64 = 0

    init(dataSize: Int) {
        metadata = .allocate(byteCount: 4096, alignment: 4096)
        metadata.initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
        data = .allocate(byteCount: dataSize, alignment: 8)
        data.initializeMemory(as: UInt8.self, repeating: 0)
    }

    deinit {
        metadata.deallocate()
        data.deallocate()
    }

    func makeReader() -> PerfRingReader { PerfRingReader(metadata: metadata, data: UnsafeRawBufferPointer(data)) }

    var tail: UInt64 { metadata.load(fromByteOffset: Int(TH_PERF_MMAP_DATA_TAIL), as: UInt64.self) }

    /// Writes raw bytes at the head, wrapping; does not publish.
    func write(_ bytes: [UInt8]) {
        for byte in bytes {
            data[Int(head % UInt64(data.count))] = byte
            head += 1
        }
    }

    func publish() { metadata.storeBytes(of: head, toByteOffset: Int(TH_PERF_MMAP_DATA_HEAD), as: UInt64.self) }

    /// Publishes any head, as a kernel that misbehaved would.
    func publish(head: UInt64) { metadata.storeBytes(of: head, toByteOffset: Int(TH_PERF_MMAP_DATA_HEAD), as: UInt64.self) }

    /// A PERF_RECORD_SAMPLE carrying `payload` as PERF_SAMPLE_RAW, padded to 8 bytes as the kernel pads it.
    func writeSample(_ payload: [UInt8]) {
        let unpadded = 8 + 4 + payload.count
        let size = (unpadded + 7) & ~7
        write(header(type: 9, size: size) + le(UInt32(payload.count + (size - unpadded))) + payload
            + [UInt8](repeating: 0, count: size - unpadded))
    }

    func writeLost(_ count: UInt64) { write(header(type: 2, size: 24) + le(UInt64(7)) + le(count)) }

    func header(type: UInt32, size: Int, misc: UInt16 = 0) -> [UInt8] { le(type) + le(misc) + le(UInt16(truncatingIfNeeded: size)) }
}

/// Plays the kernel's side of a BPF ring buffer: the data area is mirrored (mapped twice) as the
/// kernel maps it, records carry an 8-byte header with BUSY and DISCARD bits.
final class FakeRingBuffer {
    let consumer: UnsafeMutableRawPointer
    let producer: UnsafeMutableRawPointer
    let data: UnsafeMutableRawBufferPointer
    let size: Int
    private(set) var position: UInt64 = 0

    init(size: Int) {
        self.size = size
        consumer = .allocate(byteCount: 4096, alignment: 4096)
        consumer.initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
        producer = .allocate(byteCount: 4096, alignment: 4096)
        producer.initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
        data = .allocate(byteCount: 2 * size, alignment: 8)
        data.initializeMemory(as: UInt8.self, repeating: 0)
    }

    deinit {
        consumer.deallocate()
        producer.deallocate()
        data.deallocate()
    }

    func makeReader() -> BPFRingBufferReader {
        BPFRingBufferReader(consumer: consumer, producer: producer, data: UnsafeRawPointer(data.baseAddress!), size: size)
    }

    var consumed: UInt64 { consumer.load(as: UInt64.self) }

    /// Reserves and writes a record; returns its position so a test can commit it later.
    @discardableResult
    func write(_ payload: [UInt8], busy: Bool = false, discard: Bool = false, length: UInt32? = nil) -> UInt64 {
        let start = position
        var word = length ?? UInt32(payload.count)
        if busy { word |= 1 << 31 }
        if discard { word |= 1 << 30 }
        store(le(word) + le(UInt32(0)) + payload, at: start)
        position += UInt64((payload.count + 8 + 7) & ~7)
        return start
    }

    func commit(at recordPosition: UInt64) {
        let offset = Int(recordPosition % UInt64(size))
        let word = data.load(fromByteOffset: offset, as: UInt32.self) & ~(1 << 31)
        store(le(word), at: recordPosition)
    }

    func publish() { producer.storeBytes(of: position, as: UInt64.self) }

    /// Publishes any producer position, as a kernel that misbehaved would.
    func publish(position: UInt64) { producer.storeBytes(of: position, as: UInt64.self) }

    /// Writes both copies of the mirrored area.
    private func store(_ bytes: [UInt8], at start: UInt64) {
        for (i, byte) in bytes.enumerated() {
            let offset = Int((start + UInt64(i)) % UInt64(size))
            data[offset] = byte
            data[offset + size] = byte
        }
    }
}

func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
