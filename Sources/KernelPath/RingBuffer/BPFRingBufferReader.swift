internal import CLinuxShims

/// The consumer side of a `BPF_MAP_TYPE_RINGBUF`, apart from the mapping (after libbpf's
/// `ringbuf.c`, whose barriers it keeps):
///
/// - `producer_pos` is loaded with acquire ordering; it pairs with the kernel's release store in
///   `bpf_ringbuf_commit`, after which the record's header and bytes are visible.
/// - Each record header's length word is loaded with acquire ordering too: a reserved record is
///   published (BUSY bit cleared) independently of `producer_pos`.
/// - `consumer_pos` is stored with release ordering after each record is handed on; it pairs with
///   the kernel's read of it in `__bpf_ringbuf_reserve` before it reuses the space.
///
/// The data area is mapped twice in a row by the kernel, so no record wraps for the reader; a
/// fake (tests) mirrors it the same way. A length larger than the data area is counted as corrupt
/// and the reader skips to `producer_pos`.
///
/// Wakeups from a ring buffer are edge-triggered: the kernel wakes the consumer only when it
/// commits a record into a buffer the consumer had drained. `drainUntilEmpty` therefore drains,
/// issues a full fence, and looks at `producer_pos` again before it reports empty — otherwise a
/// record committed between the last check and the wait is never announced and the consumer stalls.
public final class BPFRingBufferReader {
    private let consumerPosition: UnsafeMutablePointer<UInt64>
    private let producerPosition: UnsafePointer<UInt64>
    private let data: UnsafeRawPointer
    private let size: UInt64
    /// What this reader counted; only the poll thread touches it.
    private var counts = KernelBufferStatistics()
    /// `counts`, published after every drain for other threads.
    private let publishedStatistics = PublishedBufferStatistics()

    /// What the reader has delivered and lost, as of its last drain; safe from any thread.
    public var statistics: KernelBufferStatistics { publishedStatistics.load() }
    /// Records the program discarded (`bpf_ringbuf_discard`), skipped.
    public private(set) var discarded: UInt64 = 0

    static let busyBit: UInt32 = 1 << 31
    static let discardBit: UInt32 = 1 << 30
    static let headerSize: UInt64 = 8

    /// - Parameters:
    ///   - consumer: the consumer page (`consumer_pos` at offset 0).
    ///   - producer: the producer page (`producer_pos` at offset 0).
    ///   - data: the data area, `size` bytes mapped twice in a row.
    public init(consumer: UnsafeMutableRawPointer, producer: UnsafeRawPointer, data: UnsafeRawPointer, size: Int) {
        precondition(size > 0 && size.nonzeroBitCount == 1, "ring buffer size \(size) is not a power of two")
        consumerPosition = consumer.assumingMemoryBound(to: UInt64.self)
        producerPosition = producer.assumingMemoryBound(to: UInt64.self)
        self.data = data
        self.size = UInt64(size)
    }

    /// Whether the kernel has published bytes not yet consumed (`producer_pos`, loaded with acquire
    /// ordering, differs from `consumer_pos`).
    public var hasData: Bool { th_load_acquire_u64(producerPosition) != consumerPosition.pointee }

    /// Drains up to `maxRecords` records; on finding nothing more, fences and checks once again.
    @discardableResult
    public func drainUntilEmpty(maxRecords: Int, onSample: (UnsafeRawBufferPointer) -> Bool) -> DrainEnd {
        var budget = maxRecords
        while true {
            var stoppedAtBusy = false
            let end = drain(budget: &budget, stoppedAtBusy: &stoppedAtBusy, onSample: onSample)
            // A record still being written: its commit wakes us (the kernel wakes the consumer
            // when it commits the record the consumer is waiting at), so this is empty for now.
            if end != .empty || stoppedAtBusy { return end }
            // Publish our position, then look again (libbpf: smp_mb in ringbuf_process_ring's
            // caller loop): pairs with the kernel's fence between its commit and its check of
            // whether the consumer needs a wakeup.
            th_full_fence()
            if !hasData { return .empty }
        }
    }

    private func drain(budget: inout Int, stoppedAtBusy: inout Bool, onSample: (UnsafeRawBufferPointer) -> Bool) -> DrainEnd {
        defer { publishedStatistics.publish(counts) }
        var position = consumerPosition.pointee
        while true {
            let published = th_load_acquire_u64(producerPosition)
            if position == published { return .empty }
            // A producer behind us, more than a buffer ahead, or an unaligned position cannot
            // come from the kernel's ring: count it, take the producer's position, and go on
            // (looking again at the same positions would spin for ever).
            guard published > position, published - position <= size, position % 8 == 0 else {
                counts.corrupt += 1
                position = published
                th_store_release_u64(consumerPosition, position)
                return .empty
            }
            while position < published {
                if budget == 0 { return .batchLimit }
                let header = data + Int(position & (size - 1))
                var word = th_load_acquire_u32(header.assumingMemoryBound(to: UInt32.self))
                if word & Self.busyBit != 0 {
                    // Reserved, not yet committed. Our position store must be visible before the
                    // second look (x86 reorders a load before an earlier store without a fence).
                    th_full_fence()
                    word = th_load_acquire_u32(header.assumingMemoryBound(to: UInt32.self))
                    if word & Self.busyBit != 0 {
                        stoppedAtBusy = true
                        return .empty
                    }
                }
                let length = UInt64(word & ~(Self.busyBit | Self.discardBit))
                let total = (length + Self.headerSize + 7) & ~7
                guard total <= size, total <= published - position else {
                    counts.corrupt += 1
                    position = published
                    th_store_release_u64(consumerPosition, position)
                    break
                }
                if word & Self.discardBit != 0 {
                    discarded += 1
                } else {
                    guard onSample(UnsafeRawBufferPointer(start: header + Int(Self.headerSize), count: Int(length))) else {
                        return .refused
                    }
                    counts.records += 1
                }
                counts.bytes += total
                budget -= 1
                position += total
                th_store_release_u64(consumerPosition, position)
            }
        }
    }
}
