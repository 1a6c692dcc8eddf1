import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A bounded lock-free ring for exactly one producer thread and one consumer thread
/// (after rigtorp/SPSCQueue and the kernel's perf ring).
///
/// Indices only grow (a 64-bit `Int` at 10^9 items/s lasts centuries), with wrapping arithmetic
/// as the C ring's `size_t` has: a difference of two indices is right even across a wrap, and no
/// overflow check sits on the per-item path. The slot of index `i` is `i & mask`. The producer
/// owns `tail`, the consumer `head`; each keeps a cached copy of the other's index among its own
/// fields and reloads it only when the ring looks full (or empty), so in steady state neither
/// side touches the other's cache line per item.
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
/// - each side loads its own index `.relaxed`: only it writes it. Each side's private fields are
///   atomics too, used `.relaxed` only (plain loads and stores on x86 and arm64): as `let`s of
///   the class they need no exclusivity check, and sit in the object itself, one load from
///   `self` away, as a C struct's fields are.
///
/// Elements are `BitwiseCopyable` and stored in place: no allocation, no reference counting.
/// Using it from two producers (or two consumers) is a programming error that debug builds trap on.
public final class SPSCRing<Element: BitwiseCopyable>: @unchecked Sendable {
    // @unchecked: the slots are plain memory whose hand-over the index orderings above make safe.
    //
    // Layout: Swift lays out a class's stored properties in declaration order today (not a
    // language guarantee: `SPSCRingTests.fieldGroupsAreALinePairApart` checks it). Four groups, each
    // followed by 128 bytes of padding — x86's adjacent-line prefetcher pulls lines in 128-byte
    // pairs — so that no two groups share a line pair whatever the object's alignment: the
    // constants both sides read (beside the object header), the producer's, `tail`, the consumer's.

    /// The most items the ring holds: a power of two.
    public let capacity: Int
    @usableFromInline let mask: Int
    @usableFromInline let slots: UnsafeMutablePointer<Element>
    private let afterConstants = LinePairPadding()

    // The producer's.
    /// The index the producer writes next: `tail` plus what it appended but has not published.
    @usableFromInline let written = Atomic<Int>(0)
    /// The producer's last view of `head` (a lower bound of the real one).
    @usableFromInline let cachedHead = Atomic<Int>(0)
    @usableFromInline let producerThread = Atomic<UInt>(0)
    private let afterProducer = LinePairPadding()

    /// Written by the producer once per publication; read by the consumer.
    @usableFromInline let tail = Atomic<Int>(0)
    private let afterTail = LinePairPadding()

    // The consumer's (and observers' reading the high-water mark).
    @usableFromInline let head = Atomic<Int>(0)
    /// The consumer's last view of `tail` (a lower bound of the real one).
    @usableFromInline let cachedTail = Atomic<Int>(0)
    /// The most items the consumer found published and waiting when it looked at `tail`.
    @usableFromInline let mostWaiting = Atomic<Int>(0)
    @usableFromInline let consumerThread = Atomic<UInt>(0)
    private let afterConsumer = LinePairPadding()

    /// - Precondition: `capacity` is a power of two, at least 1. (Configuration validates user input.)
    public init(capacity: Int) {
        precondition(capacity >= 1 && capacity.nonzeroBitCount == 1, "ring capacity \(capacity) is not a power of two")
        self.capacity = capacity
        mask = capacity - 1
        slots = .allocate(capacity: capacity)
    }

    deinit {
        slots.deallocate()  // BitwiseCopyable elements need no deinitialization
    }

    // MARK: Producer

    /// Appends `element` and publishes it; false when the ring is full.
    @inlinable
    public func push(_ element: Element) -> Bool {
        guard appendUnpublished(element) else { return false }
        tail.store(written.load(ordering: .relaxed), ordering: .releasing)
        return true
    }

    /// Writes `element` into the next free slot without showing it to the consumer: it becomes
    /// visible at the next `publish` (or `commit`). False when the ring is full.
    @inlinable
    public func appendUnpublished(_ element: Element) -> Bool {
        let span = reserve(maxCount: 1)
        guard span.count == 1 else { return false }
        span.initialize(repeating: element)
        written.store(written.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
        return true
    }

    /// Up to `maxCount` free slots to write, contiguous: fewer at the end of the buffer, none when
    /// full. Write them, then `commit` how many were written.
    @inlinable
    public func reserve(maxCount: Int) -> UnsafeMutableBufferPointer<Element> {
        checkOwner(producerThread, side: "producer")
        let written = written.load(ordering: .relaxed)
        var free = capacity &- (written &- cachedHead.load(ordering: .relaxed))
        if free < maxCount {
            let head = head.load(ordering: .acquiring)
            cachedHead.store(head, ordering: .relaxed)
            free = capacity &- (written &- head)
        }
        let start = written & mask
        let count = min(maxCount, free, capacity &- start)
        return UnsafeMutableBufferPointer(start: slots + start, count: count)
    }

    /// Publishes `count` slots written after `reserve`, with anything appended before them.
    @inlinable
    public func commit(_ count: Int) {
        guard count > 0 else { return publish() }  // only what `appendUnpublished` left, if anything
        let written = written.load(ordering: .relaxed) &+ count
        self.written.store(written, ordering: .relaxed)
        tail.store(written, ordering: .releasing)
    }

    /// Shows the consumer everything written so far. Costs nothing when there is nothing new
    /// (reading `tail`, the producer's own, moves no line: only storing to it does).
    @inlinable
    public func publish() {
        let written = written.load(ordering: .relaxed)
        guard written != tail.load(ordering: .relaxed) else { return }
        tail.store(written, ordering: .releasing)
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
        checkOwner(consumerThread, side: "consumer")
        let head = head.load(ordering: .relaxed)
        var available = cachedTail.load(ordering: .relaxed) &- head
        if available < maxCount {
            let tail = tail.load(ordering: .acquiring)
            cachedTail.store(tail, ordering: .relaxed)
            available = tail &- head
            // Only here, where the consumer sees the ring as it is: no cost per item.
            if available > mostWaiting.load(ordering: .relaxed) { mostWaiting.store(available, ordering: .relaxed) }
        }
        let start = head & mask
        let count = min(maxCount, available, capacity &- start)
        return UnsafeBufferPointer(start: slots + start, count: count)
    }

    /// Hands `count` read slots back to the producer.
    @inlinable
    public func release(_ count: Int) {
        head.store(head.load(ordering: .relaxed) &+ count, ordering: .releasing)
    }

    // MARK: Either side, or an observer

    /// Published items in the ring at some instant during the call (exact when both sides are quiet).
    public var approximateCount: Int {
        let head = head.load(ordering: .acquiring)  // first: `tail` read later is at least this
        return tail.load(ordering: .acquiring) &- head
    }

    /// The most items the consumer has found waiting: measured each time it reloads `tail`
    /// (when what it last saw is used up), so a peak that comes and goes between two reloads can
    /// be missed by at most the items read in between. (The producer's view cannot measure it:
    /// it reloads `head` only when the ring looks full, so against its copy every ring looks full
    /// after one lap.) A consumer that stalls stops measuring: what waits now counts as well.
    public var highWaterMark: Int { max(mostWaiting.load(ordering: .relaxed), approximateCount) }

    /// Each field's offset in the object, in declaration order, for the layout test: the
    /// constants, the producer's group, `tail`, the consumer's group.
    var fieldOffsets: (constantsEnd: Int, producer: [Int], tail: Int, consumer: [Int]) {
        let object = UnsafeRawPointer(Unmanaged.passUnretained(self).toOpaque())
        func offset<T: ~Copyable>(_ field: borrowing T) -> Int {
            withUnsafePointer(to: field) { object.distance(to: UnsafeRawPointer($0)) }
        }
        // The object header (16 bytes) and the three constants; atomics are always addressed in
        // place, the constants (copyable) may not be, so their end is computed.
        return (
            16 + MemoryLayout<Int>.size * 2 + MemoryLayout<UnsafeMutablePointer<Element>>.size,
            [offset(written), offset(cachedHead), offset(producerThread)],
            offset(tail),
            [offset(head), offset(cachedTail), offset(mostWaiting), offset(consumerThread)])
    }

    /// Items pushed so far.
    public var pushedCount: Int { tail.load(ordering: .acquiring) }

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
        case .producer: producerThread.store(0, ordering: .relaxed)
        case .consumer: consumerThread.store(0, ordering: .relaxed)
        }
    }
}

/// 128 bytes that keep what comes before them and what comes after off one line pair.
@usableFromInline
struct LinePairPadding {
    private let words: (Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
}
