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
    private let mask: UInt64
    /// Room for the largest record (`size` is a 16-bit field), for records that wrap.
    private let scratch: UnsafeMutableRawBufferPointer
    /// What this reader counted; only the poll thread touches it.
    private var counts = KernelBufferStatistics()
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
        precondition(data.count > 0 && data.count.nonzeroBitCount == 1, "perf data size \(data.count) is not a power of two")
        head = UnsafePointer((metadata + Int(TH_PERF_MMAP_DATA_HEAD)).assumingMemoryBound(to: UInt64.self))
        tail = (metadata + Int(TH_PERF_MMAP_DATA_TAIL)).assumingMemoryBound(to: UInt64.self)
        self.data = data
        mask = UInt64(data.count - 1)
        scratch = .allocate(byteCount: 1 << 16, alignment: 8)
    }

    deinit { scratch.deallocate() }

    /// Whether the kernel has published records not yet consumed.
    public var hasData: Bool { th_load_acquire_u64(head) != tail.pointee }

    /// Reads up to `maxRecords` records. Each sample's raw bytes go to `onSample`, which returns
    /// false when it has no room: that record then stays in the buffer and the drain ends.
    @discardableResult
    public func drain(maxRecords: Int, onSample: (UnsafeRawBufferPointer) -> Bool) -> DrainEnd {
        let published = th_load_acquire_u64(head)
        var position = tail.pointee
        var end = DrainEnd.empty
        var handled = 0
        // Counted locally and added once: a class property written per record pays for a
        // dynamic exclusivity check each time.
        var counted = KernelBufferStatistics()
        defer {
            th_store_release_u64(tail, position)
            counts = counts + counted
            publishedStatistics.publish(counts)
        }

        while position != published {
            if handled == maxRecords {
                end = .batchLimit
                break
            }
            let available = published &- position
            let offset = Int(position & mask)
            // Records are 8-aligned and the buffer a multiple of 8, so a header never wraps; a
            // position that is not aligned is corrupt (and its header could run past the end).
            guard position % 8 == 0, available <= UInt64(data.count) else {
                counted.corrupt += 1
                position = published
                break
            }
            let size = UInt64(data.loadUnaligned(fromByteOffset: offset + 6, as: UInt16.self))
            guard size >= UInt64(Self.headerSize), size % 8 == 0, size <= available else {
                counted.corrupt += 1
                position = published
                break
            }
            let type = data.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
            let record = contiguous(offset: offset, size: Int(size))
            switch type {
            case Self.sampleType:
                // PERF_SAMPLE_RAW only: u32 size, then the bytes the program passed (padded).
                let rawSize = record.count >= 12 ? Int(record.loadUnaligned(fromByteOffset: 8, as: UInt32.self)) : Int.max
                guard rawSize <= record.count - 12 else {
                    counted.corrupt += 1
                    break
                }
                guard onSample(UnsafeRawBufferPointer(rebasing: record[12..<12 + rawSize])) else {
                    return .refused  // the deferred store keeps the tail before this record
                }
                counted.records += 1
            case Self.lostType where record.count >= 24:
                // The kernel's count, summed saturating: a garbage count must not trap.
                counted.lost = counted.lost.addingSaturating(record.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
            default:
                counted.other += 1
            }
            counted.bytes += size
            position &+= size
            handled += 1
        }
        return end
    }

    /// The record at `offset` as one contiguous span: in place, or copied when it wraps.
    private func contiguous(offset: Int, size: Int) -> UnsafeRawBufferPointer {
        let firstPart = data.count - offset
        if size <= firstPart { return UnsafeRawBufferPointer(rebasing: data[offset..<offset + size]) }
        let base = scratch.baseAddress!
        base.copyMemory(from: data.baseAddress! + offset, byteCount: firstPart)
        (base + firstPart).copyMemory(from: data.baseAddress!, byteCount: size - firstPart)
        return UnsafeRawBufferPointer(start: base, count: size)
    }
}
