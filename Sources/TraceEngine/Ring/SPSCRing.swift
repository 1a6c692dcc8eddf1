import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A bounded lock-free ring for exactly one producer thread and one consumer thread
/// (after rigtorp/SPSCQueue and the kernel's perf ring).
///
/// Indices grow without wrapping (a 64-bit `Int` at 10^9 items/s lasts centuries); the slot of
/// index `i` is `i & mask`. The producer owns `tail`, the consumer `head`; each keeps a cached copy
/// of the other's index on its own cache line and reloads it only when the ring looks full (or
/// empty), so in steady state neither side touches the other's line per item.
///
/// The producer may write ahead of what it publishes (`appendUnpublished`, then `publish`): every
/// store to `tail` takes its line back from the consumer's cache, which polls it, so a producer
/// that publishes once per batch moves that line once per batch rather than once per item. For the
/// same reason `tail` has a line of its own: the producer's per-item bookkeeping (`written`) sits
/// on a line the consumer never reads.
///
/// Orderings, and what they pair with:
/// - producer `tail.store(.releasing)` publishes the slot writes before it; pairs with the consumer's
///   `tail.load(.acquiring)` before it reads those slots.
/// - consumer `head.store(.releasing)` hands the read slots back; pairs with the producer's
///   `head.load(.acquiring)` before it overwrites them.
/// - each side loads its own index `.relaxed`: only it writes it.
///
/// Elements are `BitwiseCopyable` and stored in place: no allocation, no reference counting.
/// Using it from two producers (or two consumers) is a programming error that debug builds trap on.
public final class SPSCRing<Element: BitwiseCopyable>: @unchecked Sendable {
    // @unchecked: the slots are plain memory whose hand-over the index orderings above make safe;
    // each line's plain fields are touched only by the side that owns the line.

    /// The most items the ring holds: a power of two.
    public let capacity: Int
    @usableFromInline let mask: Int
    @usableFromInline let slots: UnsafeMutablePointer<Element>
    @usableFromInline let producer: UnsafeMutablePointer<ProducerLine>
    @usableFromInline let published: UnsafeMutablePointer<PublishedLine>
    @usableFromInline let consumer: UnsafeMutablePointer<ConsumerLine>
    private let lines: UnsafeMutableRawPointer

    /// Three cache-line pairs (producer's own, the published tail, consumer's own): x86's
    /// adjacent-line prefetcher pulls lines in 128-byte pairs, so 128 keeps them from false sharing.
    @usableFromInline static var lineSize: Int { 128 }

    /// Read by the consumer; written by the producer once per publication.
    @usableFromInline
    struct PublishedLine: ~Copyable {
        @usableFromInline let tail = Atomic<Int>(0)
    }

    /// Touched by the producer only (and by observers reading the high-water mark).
    @usableFromInline
    struct ProducerLine: ~Copyable {
        /// The index the producer writes next: `tail` plus what it appended but has not published.
        @usableFromInline var written = 0
        /// The producer's copy of what it last stored in `tail`.
        @usableFromInline var publishedTail = 0
        /// The producer's last view of `head` (a lower bound of the real one).
        @usableFromInline var cachedHead = 0
        /// The most items the producer has seen in the ring (against `cachedHead`: an upper bound).
        @usableFromInline let highWaterMark = Atomic<Int>(0)
        @usableFromInline let ownerThread = Atomic<UInt>(0)
    }

    @usableFromInline
    struct ConsumerLine: ~Copyable {
        @usableFromInline let head = Atomic<Int>(0)
        /// The consumer's last view of `tail` (a lower bound of the real one).
        @usableFromInline var cachedTail = 0
        @usableFromInline let ownerThread = Atomic<UInt>(0)
    }

    /// - Precondition: `capacity` is a power of two, at least 1. (Configuration validates user input.)
    public init(capacity: Int) {
        precondition(capacity >= 1 && capacity.nonzeroBitCount == 1, "ring capacity \(capacity) is not a power of two")
        precondition(MemoryLayout<ProducerLine>.size <= Self.lineSize && MemoryLayout<PublishedLine>.size <= Self.lineSize
            && MemoryLayout<ConsumerLine>.size <= Self.lineSize)
        self.capacity = capacity
        mask = capacity - 1
        slots = .allocate(capacity: capacity)
        lines = .allocate(byteCount: 3 * Self.lineSize, alignment: Self.lineSize)
        producer = lines.bindMemory(to: ProducerLine.self, capacity: 1)
        producer.initialize(to: ProducerLine())
        published = (lines + Self.lineSize).bindMemory(to: PublishedLine.self, capacity: 1)
        published.initialize(to: PublishedLine())
        consumer = (lines + 2 * Self.lineSize).bindMemory(to: ConsumerLine.self, capacity: 1)
        consumer.initialize(to: ConsumerLine())
    }

    deinit {
        producer.deinitialize(count: 1)
        published.deinitialize(count: 1)
        consumer.deinitialize(count: 1)
        lines.deallocate()
        slots.deallocate()  // BitwiseCopyable elements need no deinitialization
    }

    // MARK: Producer

    /// Appends `element` and publishes it; false when the ring is full.
    @inlinable
    public func push(_ element: Element) -> Bool {
        guard appendUnpublished(element) else { return false }
        publish()
        return true
    }

    /// Writes `element` into the next free slot without showing it to the consumer: it becomes
    /// visible at the next `publish` (or `commit`). False when the ring is full.
    @inlinable
    public func appendUnpublished(_ element: Element) -> Bool {
        let span = reserve(maxCount: 1)
        guard span.count == 1 else { return false }
        span.initialize(repeating: element)
        producer.pointee.written += 1
        return true
    }

    /// Up to `maxCount` free slots to write, contiguous: fewer at the end of the buffer, none when
    /// full. Write them, then `commit` how many were written.
    @inlinable
    public func reserve(maxCount: Int) -> UnsafeMutableBufferPointer<Element> {
        checkOwner(producer.pointee.ownerThread, side: "producer")
        let written = producer.pointee.written
        var free = capacity - (written - producer.pointee.cachedHead)
        if free < maxCount {
            producer.pointee.cachedHead = consumer.pointee.head.load(ordering: .acquiring)
            free = capacity - (written - producer.pointee.cachedHead)
        }
        let start = written & mask
        let count = min(maxCount, free, capacity - start)
        return UnsafeMutableBufferPointer(start: slots + start, count: count)
    }

    /// Publishes `count` slots written after `reserve`, with anything appended before them.
    @inlinable
    public func commit(_ count: Int) {
        producer.pointee.written += count
        publish()
    }

    /// Shows the consumer everything written so far. Costs nothing when there is nothing new.
    @inlinable
    public func publish() {
        let written = producer.pointee.written
        guard written != producer.pointee.publishedTail else { return }
        producer.pointee.publishedTail = written
        published.pointee.tail.store(written, ordering: .releasing)
        let used = written - producer.pointee.cachedHead
        if used > producer.pointee.highWaterMark.load(ordering: .relaxed) {
            producer.pointee.highWaterMark.store(used, ordering: .relaxed)
        }
    }

    // MARK: Consumer

    /// Removes and returns the oldest element; nil when the ring is empty.
    @inlinable
    public func pop() -> Element? {
        let span = readable(maxCount: 1)
        guard span.count == 1 else { return nil }
        let element = span[0]
        release(1)
        return element
    }

    /// Up to `maxCount` of the oldest elements, contiguous: fewer at the end of the buffer, none
    /// when empty. Read them, then `release` how many were consumed.
    @inlinable
    public func readable(maxCount: Int) -> UnsafeBufferPointer<Element> {
        checkOwner(consumer.pointee.ownerThread, side: "consumer")
        let head = consumer.pointee.head.load(ordering: .relaxed)
        var available = consumer.pointee.cachedTail - head
        if available < maxCount {
            consumer.pointee.cachedTail = published.pointee.tail.load(ordering: .acquiring)
            available = consumer.pointee.cachedTail - head
        }
        let start = head & mask
        let count = min(maxCount, available, capacity - start)
        return UnsafeBufferPointer(start: slots + start, count: count)
    }

    /// Hands `count` read slots back to the producer.
    @inlinable
    public func release(_ count: Int) {
        let head = consumer.pointee.head.load(ordering: .relaxed) + count
        consumer.pointee.head.store(head, ordering: .releasing)
    }

    // MARK: Either side, or an observer

    /// Published items in the ring at some instant during the call (exact when both sides are quiet).
    public var approximateCount: Int {
        published.pointee.tail.load(ordering: .acquiring) - consumer.pointee.head.load(ordering: .acquiring)
    }

    /// The most items the producer has seen queued (an upper bound: it measures against its cached
    /// view of the consumer).
    public var highWaterMark: Int { producer.pointee.highWaterMark.load(ordering: .relaxed) }

    /// Items pushed so far.
    public var pushedCount: Int { published.pointee.tail.load(ordering: .acquiring) }

    /// Debug builds trap when a second thread acts as this side; release builds check nothing.
    @inlinable
    @inline(__always)  // compiles to nothing in release builds; a call would remain otherwise
    func checkOwner(_ owner: borrowing Atomic<UInt>, side: StaticString) {
        #if DEBUG
        let me = UInt(pthread_self())
        let (exchanged, original) = owner.compareExchange(expected: 0, desired: me, ordering: .relaxed)
        precondition(exchanged || original == me, "SPSCRing used by a second \(side) thread")
        #endif
    }

    /// Forgets which threads are the producer and consumer (debug builds), for a ring handed from
    /// one thread to another at a point where both sides are quiet, such as a stage restart.
    public func resetOwners() {
        resetOwner(.producer)
        resetOwner(.consumer)
    }

    /// One side of a ring.
    public enum Side: Sendable { case producer, consumer }

    /// Forgets which thread is `side` (debug builds), for that side handed to another thread at a
    /// point where its old thread has stopped using the ring; the other side may be busy.
    public func resetOwner(_ side: Side) {
        switch side {
        case .producer: producer.pointee.ownerThread.store(0, ordering: .relaxed)
        case .consumer: consumer.pointee.ownerThread.store(0, ordering: .relaxed)
        }
    }
}
