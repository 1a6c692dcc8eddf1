import FuzzSupport
import KernelPath
import TraceModel

#if canImport(Glibc)
import Glibc
#endif

// The input is a script of what the kernel does to one BPF ring buffer (`BPF_MAP_TYPE_RINGBUF`),
// with the reader draining in between: records reserved (BUSY), committed, discarded, lengths
// of any value, headers overwritten, the producer position published late or anywhere. The data
// area is mirrored as the kernel maps it, so a record may run across the end; ASan checks that
// the reader reads nothing beyond the second copy, libFuzzer's timeout that it never spins.

/// `FUZZ_FAITHFUL_KERNEL=1`: the kernel does only what the real one does (well-formed records
/// reserved only where there is room, the producer position never behind the consumer or more
/// than the ring ahead), so that fuzzing goes on past findings that need a hostile one. By
/// default it may write and publish anything.
private let faithful = getenv("FUZZ_FAITHFUL_KERNEL") != nil

private let busyBit: UInt32 = 1 << 31
private let discardBit: UInt32 = 1 << 30

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRingBuffer(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    var input = FuzzInput(UnsafeRawBufferPointer(start: start, count: count))
    // Positions start anywhere; a faithful kernel's are far from 2^64 (it counts from 0, and
    // would take decades to wrap), which the reader, like libbpf, does not expect.
    let start = input.read(UInt64.self) & (faithful ? (1 << 62) - 8 : ~7)
    let kernel = FakeRingKernel(size: 8 << input.below(14), start: start)
    let reader = BPFRingBufferReader(consumer: kernel.consumer, producer: kernel.producer, data: kernel.data.baseAddress!, size: kernel.size)
    var reserved: [UInt64] = []
    while !input.isEmpty {
        switch input.below(8) {
        case 0, 1:
            // bpf_ringbuf_reserve (+ output): an 8-byte header (length | BUSY, page offset), then
            // the bytes, the record rounded up to 8.
            let payload = input.take(input.below(1 << 15))
            let flags = input.read(UInt8.self)
            var word = UInt32(payload.count)
            if flags & 1 != 0 { word |= discardBit }
            let busy = flags & 2 != 0
            if busy { word |= busyBit }
            let position = kernel.position
            let total = UInt64((payload.count + 8 + 7) & ~7)
            // __bpf_ringbuf_reserve refuses a record that would overrun the consumer.
            if faithful && position &- kernel.consumed &+ total > UInt64(kernel.size) { break }
            kernel.store(word, at: position)
            kernel.store(UInt32(0), at: position &+ 4)
            kernel.store(payload, at: position &+ 8)
            kernel.position = position &+ total
            if busy { reserved.append(position) }
            if flags & 4 != 0 { kernel.publish() }
        case 2:
            // bpf_ringbuf_commit of a reserved record, in any order (the kernel allows that).
            guard !reserved.isEmpty else { break }
            let position = reserved.remove(at: input.below(reserved.count))
            kernel.store(kernel.word(at: position) & ~busyBit, at: position)
        case 3:
            kernel.publish()
        case 4, 5:
            drain(reader, kernel, maxRecords: input.below(9) == 8 ? Int.max : input.below(16), acceptSamples: input.below(16))
        case 6 where !faithful:
            // A header word of any value (lengths past the area, both bits) where a record starts.
            kernel.store(input.read(UInt32.self), at: kernel.consumed &+ UInt64(8 * input.below(64)))
        case 7 where !faithful:
            kernel.position = kernel.consumed &+ input.read(UInt64.self)
            kernel.publish()
        default:
            break
        }
    }
    // Everything committed and published, then a last drain must end.
    for position in reserved { kernel.store(kernel.word(at: position) & ~busyBit, at: position) }
    kernel.publish()
    drain(reader, kernel, maxRecords: Int.max, acceptSamples: Int.max)
    return 0
}

/// Drains and checks what the reader did: every sample's bytes are read (ASan checks they are in
/// the mapping), and the consumer moved only forward and never past the producer it saw.
private func drain(_ reader: BPFRingBufferReader, _ kernel: FakeRingKernel, maxRecords: Int, acceptSamples: Int) {
    let before = kernel.consumed
    var accepted = 0
    var sink = SampleSink()
    reader.drainUntilEmpty(maxRecords: maxRecords) { sample in
        guard accepted < acceptSamples else { return false }
        accepted += 1
        precondition(sample.count <= kernel.size, "a sample of \(sample.count) bytes from a \(kernel.size)-byte ring")
        sink.take(sample)  // what the engine does next with it
        return true
    }
    let published = kernel.producer.load(as: UInt64.self)
    let moved = kernel.consumed &- before
    precondition(moved <= published &- before || kernel.consumed == published, "consumer \(kernel.consumed) moved past producer \(published) from \(before)")
    sink.finish()
}

/// The kernel's side: consumer and producer pages and the data area, mapped twice in a row.
private final class FakeRingKernel {
    let consumer: UnsafeMutableRawPointer
    let producer: UnsafeMutableRawPointer
    let data: UnsafeMutableRawBufferPointer
    let size: Int
    /// Where the kernel reserves next (published only by `publish`).
    var position: UInt64

    init(size: Int, start: UInt64) {
        self.size = size
        consumer = .allocate(byteCount: 4096, alignment: 4096)
        consumer.initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
        producer = .allocate(byteCount: 4096, alignment: 4096)
        producer.initializeMemory(as: UInt8.self, repeating: 0, count: 4096)
        data = .allocate(byteCount: 2 * size, alignment: 8)
        data.initializeMemory(as: UInt8.self, repeating: 0)
        position = start
        consumer.storeBytes(of: start, as: UInt64.self)
        producer.storeBytes(of: start, as: UInt64.self)
    }

    deinit {
        consumer.deallocate()
        producer.deallocate()
        data.deallocate()
    }

    var consumed: UInt64 { consumer.load(as: UInt64.self) }

    func publish() { producer.storeBytes(of: position, as: UInt64.self) }

    /// Writes both copies of the mirrored area.
    func store(_ bytes: UnsafeRawBufferPointer, at start: UInt64) {
        for (index, byte) in bytes.enumerated() {
            let offset = Int((start &+ UInt64(index)) & UInt64(size - 1))
            data[offset] = byte
            data[offset + size] = byte
        }
    }

    func store<T: FixedWidthInteger>(_ value: T, at start: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { store($0, at: start) }
    }

    func word(at position: UInt64) -> UInt32 {
        let offset = Int(position & UInt64(size - 1))
        return UInt32(data[offset]) | UInt32(data[offset + 1]) << 8 | UInt32(data[offset + 2]) << 16 | UInt32(data[offset + 3]) << 24
    }
}
