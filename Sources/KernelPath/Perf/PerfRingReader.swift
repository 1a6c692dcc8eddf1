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
    //
    // `drain` is inlinable so that the caller's `onSample` is compiled into its loop, not called
    // through a pointer per record: what it reads is @usableFromInline below, and everything else
    // (the ordered loads and stores of the kernel's indices, statistics, rare records) stays
    // behind calls made once per drain or per rare record.
    private let head: UnsafePointer<UInt64>
    @usableFromInline let tail: UnsafeMutablePointer<UInt64>
    /// The data pages' start.
    @usableFromInline let base: UnsafeRawPointer
    @usableFromInline let mask: UInt64
    /// The data pages' size.
    @usableFromInline let bufferBytes: Int
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

    @usableFromInline static let sampleType: UInt32 = 9  // PERF_RECORD_SAMPLE
    static let lostType: UInt32 = 2  // PERF_RECORD_LOST

    /// - Parameters:
    ///   - metadata: the first page of the mapping (`struct perf_event_mmap_page`).
    ///   - data: the data pages; their count is a power of two.
    public init(metadata: UnsafeMutableRawPointer, data: UnsafeRawBufferPointer) {
        precondition(data.count >= 8 && data.count.nonzeroBitCount == 1, "perf data size \(data.count) is not a power of two ≥ 8")
        head = UnsafePointer((metadata + Int(TH_PERF_MMAP_DATA_HEAD)).assumingMemoryBound(to: UInt64.self))
        tail = (metadata + Int(TH_PERF_MMAP_DATA_TAIL)).assumingMemoryBound(to: UInt64.self)
        base = data.baseAddress!
        mask = UInt64(data.count - 1)
        bufferBytes = data.count
        scratch = .allocate(byteCount: 1 << 16, alignment: 8)
    }

    deinit { scratch.deallocate() }

    /// Whether the kernel has published records not yet consumed.
    public var hasData: Bool { th_load_acquire_u64(head) != tail.pointee }

    /// Reads up to `maxRecords` records. Each sample's raw bytes go to `onSample`, which returns
    /// false when it has no room: that record then stays in the buffer and the drain ends.
    ///
    /// The loop is shaped for the common record, a sample that does not wrap: its header's size is
    /// checked with one unsigned compare and one mask, its type and span with one compare each,
    /// and everything else (records that wrap or end the buffer, lost notices, other types,
    /// corruption) goes out of line. What holds for the whole batch is checked once before it
    /// (the tail's alignment, the published span). design/kernel-path.md has its instructions per
    /// record against libbpf's reader, which checks nothing.
    @inlinable
    @discardableResult
    public func drain(maxRecords: Int, onSample: (UnsafeRawBufferPointer) -> Bool) -> DrainEnd {
        let published = loadPublishedHead()
        var position = tail.pointee
        var remaining = maxRecords
        defer { finishDrain(from: position, records: maxRecords &- remaining) }

        // Records are 8-aligned and the buffer a multiple of 8, so a header never wraps; a tail
        // that is not aligned (or a head further than a buffer ahead) is corrupt. Both hold for
        // every later record once they hold here: positions advance by checked multiples of 8.
        guard position % 8 == 0, published &- position <= UInt64(bufferBytes) else {
            skipCorrupt(from: &position, to: published)
            return .empty
        }
        let base = self.base
        let mask = self.mask
        let bufferBytes = self.bufferBytes
        while position != published {
            if remaining == 0 { return .batchLimit }
            let offset = Int(truncatingIfNeeded: position & mask)
            let header = base + offset
            let size = Int(header.loadUnaligned(fromByteOffset: 6, as: UInt16.self))
            // 8 ≤ size ≤ published − position and size a multiple of 8: a size of 0 wraps to the
            // largest unsigned value, and a nonzero multiple of 8 is at least 8.
            guard UInt64(truncatingIfNeeded: size &- 1) < published &- position, size & 7 == 0 else {
                skipCorrupt(from: &position, to: published)
                return .empty
            }
            // A record that ends before the buffer's end has room for the raw size word after
            // its header (both are multiples of 8), whatever its own size says.
            if header.loadUnaligned(as: UInt32.self) == Self.sampleType, offset &+ size < bufferBytes {
                let rawSize = Int(header.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
                if rawSize &+ 12 <= size {
                    guard onSample(UnsafeRawBufferPointer(start: header + 12, count: rawSize)) else {
                        return .refused  // the deferred store keeps the tail before this record
                    }
                } else {
                    countCorruptSample()
                }
            } else {
                guard readUncommonRecord(header, offset: offset, size: size, onSample: onSample) else {
                    return .refused
                }
            }
            position &+= UInt64(truncatingIfNeeded: size)
            remaining &-= 1
        }
        return .empty
    }

    /// `data_head`, loaded with acquire ordering.
    @usableFromInline
    func loadPublishedHead() -> UInt64 { th_load_acquire_u64(head) }

    /// Ends a drain that read `records` records and stopped before `position`: counts them,
    /// stores `data_tail` with release ordering, and publishes the statistics.
    @usableFromInline
    func finishDrain(from position: UInt64, records: Int) {
        // Everything between the tail and `position` was read, less what a corrupt header made
        // the reader skip (`skipCorrupt` took it off), and all but the rare records were samples.
        counts.bytes &+= position &- tail.pointee
        counts.records &+= UInt64(records &- rareRecords)
        rareRecords = 0
        th_store_release_u64(tail, position)
        publishedStatistics.publish(counts)
    }

    /// A sample whose raw size does not fit in its record.
    @usableFromInline
    @inline(never)
    func countCorruptSample() { countRare(\.corrupt, 1) }

    /// Any record but a sample in place: a sample that wraps or ends the buffer (copied whole
    /// into `scratch` when it wraps), a lost notice, another type. False when `onSample` refused
    /// the sample.
    @usableFromInline
    @inline(never)  // off the per-sample path, and its state out of the loop's registers
    func readUncommonRecord(
        _ header: UnsafeRawPointer, offset: Int, size: Int, onSample: (UnsafeRawBufferPointer) -> Bool
    ) -> Bool {
        switch header.loadUnaligned(as: UInt32.self) {
        case Self.sampleType where size >= 16:
            // (A header-only record, 8 bytes, has no size word.)
            let record = contiguous(header, offset: offset, size: size)
            let rawSize = Int(record.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
            if rawSize &+ 12 <= size { return onSample(UnsafeRawBufferPointer(start: record + 12, count: rawSize)) }
            countRare(\.corrupt, 1)
        case Self.sampleType:
            countRare(\.corrupt, 1)
        case Self.lostType where size >= 24:
            // The kernel's count, summed saturating: a garbage count must not trap.
            let record = contiguous(header, offset: offset, size: size)
            countRare(\.lost, record.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        default:
            countRare(\.other, 1)
        }
        return true
    }

    /// A record that is not a sample handed on: `count` more of `counter`.
    @inline(never)  // off the per-sample path, and its state out of the loop's registers
    private func countRare(_ counter: WritableKeyPath<KernelBufferStatistics, UInt64>, _ count: UInt64) {
        counts[keyPath: counter] = counts[keyPath: counter].addingSaturating(count)
        rareRecords &+= 1
    }

    /// A header that makes no sense at `position`: counted, and the reader skips to `published`.
    /// The skipped bytes are not read: taken off here what `drain`'s deferred count adds.
    @usableFromInline
    @inline(never)
    func skipCorrupt(from position: inout UInt64, to published: UInt64) {
        counts.corrupt &+= 1
        counts.bytes &-= published &- position
        position = published
    }

    /// The record whose header is at `offset`, as one contiguous span: in place, or copied to
    /// `scratch` when it runs past the end of the buffer.
    @inline(__always)  // two call sites in `readUncommonRecord`, each then reads one field of it
    private func contiguous(_ header: UnsafeRawPointer, offset: Int, size: Int) -> UnsafeRawPointer {
        let firstPart = bufferBytes &- offset
        if size <= firstPart { return header }
        let copy = scratch.baseAddress!
        copy.copyMemory(from: header, byteCount: firstPart)
        (copy + firstPart).copyMemory(from: base, byteCount: size &- firstPart)
        return UnsafeRawPointer(copy)
    }
}
