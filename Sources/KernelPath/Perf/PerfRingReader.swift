internal import CLinuxShims

/// The consumer side of one perf ring buffer, apart from the mapping (after libbpf's
/// `perf_event_read_simple` and cilium/ebpf's `perf/ring.go`): tests play the kernel by writing
/// records into plain memory and moving `data_head`.
///
/// Protocol with the kernel (kernel/events/ring_buffer.c):
/// - `data_head` is loaded with acquire ordering once per batch; it pairs with the kernel's
///   release of the head after it wrote the records below it.
/// - `data_tail` is stored with release ordering once per batch; it pairs with the kernel's read
///   of the tail before it overwrites space, so our reads of the records come first.
/// - A record is 8-aligned and starts with `perf_event_header` (type, misc, size); one that runs
///   past the end of the buffer continues at its start and is copied whole into a scratch buffer.
///
/// Headers are validated, not trusted: a size of 0, not a multiple of 8, larger than the buffer
/// or past what the kernel published is counted as corrupt, and the reader skips to `data_head`,
/// so it never loops and never reads outside the buffer.
public final class PerfRingReader {
    // Not Sendable: one poll thread owns a reader.
    private let head: UnsafePointer<UInt64>
    private let tail: UnsafeMutablePointer<UInt64>
    private let data: UnsafeRawBufferPointer
    /// `data`'s start, unwrapped once.
    private let base: UnsafeRawPointer
    private let mask: UInt64
    /// Room for the largest record (`size` is a 16-bit field), for records that wrap.
    private let scratch: UnsafeMutableRawBufferPointer
    /// What this reader counted; only the poll thread touches it.
    private var counts = KernelBufferStatistics()
    /// Records of the current drain that were not samples handed on (lost notices, other types,
    /// corrupt samples).
    private var rareRecords = 0
    /// `counts`, published after every drain for other threads.
    private let publishedStatistics = PublishedBufferStatistics()

    /// What the reader has delivered and lost, as of its last drain; safe from any thread.
    public var statistics: KernelBufferStatistics { publishedStatistics.load() }

    static let sampleType: UInt32 = 9  // PERF_RECORD_SAMPLE
    static let lostType: UInt32 = 2  // PERF_RECORD_LOST
    static let headerSize = 8

    /// - Parameters:
    ///   - metadata: the first page of the mapping (`struct perf_event_mmap_page`).
    ///   - data: the data pages; their count is a power of two.
    public init(metadata: UnsafeMutableRawPointer, data: UnsafeRawBufferPointer) {
        precondition(data.count >= 8 && data.count.nonzeroBitCount == 1, "perf data size \(data.count) is not a power of two ≥ 8")
        head = UnsafePointer((metadata + Int(TH_PERF_MMAP_DATA_HEAD)).assumingMemoryBound(to: UInt64.self))
        tail = (metadata + Int(TH_PERF_MMAP_DATA_TAIL)).assumingMemoryBound(to: UInt64.self)
        self.data = data
        base = data.baseAddress!
        mask = UInt64(data.count - 1)
        scratch = .allocate(byteCount: 1 << 16, alignment: 8)
    }

    deinit { scratch.deallocate() }

    /// Whether the kernel has published records not yet consumed.
    public var hasData: Bool { th_load_acquire_u64(head) != tail.pointee }

    /// Reads up to `maxRecords` records. Each sample's raw bytes go to `onSample`, which returns
    /// false when it has no room: that record then stays in the buffer and the drain ends.
    ///
    /// Per record the loop keeps only its position and the records left to read, and checks the
    /// header's size three ways; what holds for the whole batch is checked once before it (the
    /// tail's alignment, the published span), and what is rare (lost notices, other types,
    /// corruption) is counted in `counts` only when it happens, so that few values live across
    /// the call to `onSample` and few are saved around it (design/kernel-path.md has its
    /// instructions per record against libbpf's reader, which checks nothing).
    @discardableResult
    public func drain(maxRecords: Int, onSample: (UnsafeRawBufferPointer) -> Bool) -> DrainEnd {
        let published = th_load_acquire_u64(head)
        var position = tail.pointee
        var remaining = maxRecords
        rareRecords = 0
        defer {
            // Everything between the tail and `position` was read, less what a corrupt header made
            // the reader skip (`skipCorrupt` took it off), and all but the rare records were samples.
            counts.bytes &+= position &- tail.pointee
            counts.records &+= UInt64(maxRecords &- remaining &- rareRecords)
            th_store_release_u64(tail, position)
            publishedStatistics.publish(counts)
        }

        // Records are 8-aligned and the buffer a multiple of 8, so a header never wraps; a tail
        // that is not aligned (or a head further than a buffer ahead) is corrupt. Both hold for
        // every later record once they hold here: positions advance by checked multiples of 8.
        guard position % 8 == 0, published &- position <= UInt64(data.count) else {
            skipCorrupt(from: &position, to: published)
            return .empty
        }
        while position != published {
            if remaining == 0 { return .batchLimit }
            let offset = Int(truncatingIfNeeded: position & mask)
            let header = base + offset
            let size = UInt64(header.loadUnaligned(fromByteOffset: 6, as: UInt16.self))
            guard size >= UInt64(Self.headerSize), size & 7 == 0, size <= published &- position else {
                skipCorrupt(from: &position, to: published)
                return .empty
            }
            switch header.loadUnaligned(as: UInt32.self) {
            case Self.sampleType:
                // PERF_SAMPLE_RAW only: u32 size, then the bytes the program passed (padded).
                let record = contiguous(header, offset: offset, size: Int(size))
                // (A header-only record, 8 bytes, has no size word.)
                let rawSize = size >= 16 ? Int(record.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) : 0
                if size >= 16 && rawSize <= Int(size) - 12 {
                    guard onSample(UnsafeRawBufferPointer(start: record + 12, count: rawSize)) else {
                        return .refused  // the deferred store keeps the tail before this record
                    }
                } else {
                    countRare(\.corrupt, 1)
                }
            case Self.lostType where size >= 24:
                // The kernel's count, summed saturating: a garbage count must not trap.
                let record = contiguous(header, offset: offset, size: Int(size))
                countRare(\.lost, record.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
            default:
                countRare(\.other, 1)
            }
            position &+= size
            remaining &-= 1
        }
        return .empty
    }

    /// A record that is not a sample handed on: `count` more of `counter`.
    @inline(never)  // off the per-sample path, and its state out of the loop's registers
    private func countRare(_ counter: WritableKeyPath<KernelBufferStatistics, UInt64>, _ count: UInt64) {
        counts[keyPath: counter] = counts[keyPath: counter].addingSaturating(count)
        rareRecords &+= 1
    }

    /// A header that makes no sense at `position`: counted, and the reader skips to `published`.
    /// The skipped bytes are not read: taken off here what `drain`'s deferred count adds.
    @inline(never)
    private func skipCorrupt(from position: inout UInt64, to published: UInt64) {
        counts.corrupt &+= 1
        counts.bytes &-= published &- position
        position = published
    }

    /// The record whose header is at `offset`, as one contiguous span: in place, or copied to
    /// `scratch` when it runs past the end of the buffer.
    @inline(__always)
    private func contiguous(_ header: UnsafeRawPointer, offset: Int, size: Int) -> UnsafeRawPointer {
        let firstPart = data.count &- offset
        if size <= firstPart { return header }
        let copy = scratch.baseAddress!
        copy.copyMemory(from: header, byteCount: firstPart)
        (copy + firstPart).copyMemory(from: base, byteCount: size &- firstPart)
        return UnsafeRawPointer(copy)
    }
}
