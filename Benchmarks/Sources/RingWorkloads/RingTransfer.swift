import CBaselineRing
import Dispatch
import LinuxSystem
import Synchronization
import TraceEngine

/// `count` elements through a ring, `batch` at a time (1: `push` and `pop`), in Swift and through
/// the C baseline ring: with one producer and one consumer thread pinned to two CPUs when the
/// machine has them (`swift`, `c`), or on one thread, a batch pushed then popped (`swiftRoundTrip`,
/// `cRoundTrip`: nothing waits, so callgrind counts each side's own instructions). Each returns
/// the consumer's checksum, `expectedChecksum(count)` unless an element was lost or torn.
public struct RingTransfer: Sendable {
    public let count: UInt64
    public let batch: Int

    public init(count: UInt64, batch: Int) {
        self.count = count
        self.batch = batch
    }

    /// CPUs for the producer and the consumer: the first two allowed ones, or no pinning.
    static let cpus: (producer: [Int]?, consumer: [Int]?) = {
        let allowed = WorkerThread.allowedCPUs()
        return allowed.count >= 2 ? ([allowed[0]], [allowed[1]]) : (nil, nil)
    }()

    /// The sum of 0..<count, which the consumer must return.
    public static func expectedChecksum(_ count: UInt64) -> UInt64 { count * (count - 1) / 2 }

    /// One round on two threads: both rings, `cFirst` deciding which runs first (alternate it, so
    /// that neither always meets the machine as the other left it). The seconds each took, or the
    /// ring whose checksum was wrong (a lost or torn element).
    public func race(elementSize: Int, capacity: Int, cFirst: Bool) -> Result<(swift: Double, c: Double), WrongChecksum> {
        var seconds = (swift: 0.0, c: 0.0)
        for language in cFirst ? ["C", "Swift"] : ["Swift", "C"] {
            let start = DispatchTime.now().uptimeNanoseconds
            let checksum = language == "C"
                ? c(elementSize: elementSize, capacity: capacity) : swift(elementSize: elementSize, capacity: capacity)
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            guard checksum == Self.expectedChecksum(count) else { return .failure(WrongChecksum(ring: language, checksum: checksum)) }
            if language == "C" { seconds.c = elapsed } else { seconds.swift = elapsed }
        }
        return .success(seconds)
    }

    /// A ring that lost or tore an element.
    public struct WrongChecksum: Error, CustomStringConvertible {
        public let ring: String
        public let checksum: UInt64
        public var description: String { "\(ring) ring delivered a wrong checksum \(checksum)" }
    }

    func run(produce: @escaping @Sendable () -> Void, consume: @escaping @Sendable () -> UInt64) -> UInt64 {
        let checksum = ResultBox()
        let consumer = try! WorkerThread.spawn(name: "ring-consumer", cpus: Self.cpus.consumer) {
            checksum.value.store(consume(), ordering: .relaxed)
        }
        let producer = try! WorkerThread.spawn(name: "ring-producer", cpus: Self.cpus.producer) { produce() }
        producer.join()
        consumer.join()  // pthread_join orders the consumer's store before this load
        return checksum.value.load(ordering: .relaxed)
    }

    private final class ResultBox: Sendable { let value = Atomic<UInt64>(0) }

    // MARK: Swift

    /// The element sizes both rings move: 8, 64 and 256 bytes.
    public static let elementSizes = [8, 64, 256]

    public func swift(elementSize: Int, capacity: Int) -> UInt64 {
        switch elementSize {
        case 8: swift(Payload8.self, capacity: capacity)
        case 64: swift(Payload64.self, capacity: capacity)
        case 256: swift(Payload256.self, capacity: capacity)
        default: preconditionFailure("element size \(elementSize): not one of \(Self.elementSizes)")
        }
    }

    public func swiftRoundTrip(elementSize: Int, capacity: Int) -> UInt64 {
        switch elementSize {
        case 8: Self.roundTrip(SPSCRing<Payload8>(capacity: capacity), count: count, batch: batch)
        case 64: Self.roundTrip(SPSCRing<Payload64>(capacity: capacity), count: count, batch: batch)
        case 256: Self.roundTrip(SPSCRing<Payload256>(capacity: capacity), count: count, batch: batch)
        default: preconditionFailure("element size \(elementSize): not one of \(Self.elementSizes)")
        }
    }

    func swift<P: RingPayload>(_ payload: P.Type, capacity: Int) -> UInt64 {
        let ring = SPSCRing<P>(capacity: capacity)
        let count = self.count
        let batch = self.batch
        return run(
            produce: {
                var next: UInt64 = 0
                if batch == 1 {
                    while next < count { _ = Self.pushOne(ring, next: &next) }
                } else {
                    while next < count { _ = Self.produceBatch(ring, next: &next, count: count, batch: batch) }
                }
            },
            consume: {
                var (seen, sum, torn): (UInt64, UInt64, UInt64) = (0, 0, 0)
                if batch == 1 {
                    while seen < count { seen &+= UInt64(truncatingIfNeeded: Self.popOne(ring, sum: &sum, torn: &torn)) }
                } else {
                    while seen < count { seen &+= UInt64(truncatingIfNeeded: Self.consumeBatch(ring, batch: batch, sum: &sum, torn: &torn)) }
                }
                return torn != 0 ? .max : sum
            })
    }

    // The loops use unsigned wrapping arithmetic, as the C ones do: the harness around each ring
    // must cost the same, so that the ratio is the rings'. The mode is chosen once, outside them.
    static func roundTrip<P: RingPayload>(_ ring: SPSCRing<P>, count: UInt64, batch: Int) -> UInt64 {
        batch == 1 ? roundTripUnbatched(ring, count: count) : roundTripBatched(ring, count: count, batch: batch)
    }

    @inline(never)  // one function for callgrind to attribute, as the C side's
    static func roundTripUnbatched<P: RingPayload>(_ ring: SPSCRing<P>, count: UInt64) -> UInt64 {
        var (next, sum, torn): (UInt64, UInt64, UInt64) = (0, 0, 0)
        while next < count {
            while pushOne(ring, next: &next) == 0 {}
            while popOne(ring, sum: &sum, torn: &torn) == 0 {}
        }
        return torn != 0 ? .max : sum
    }

    @inline(never)
    static func roundTripBatched<P: RingPayload>(_ ring: SPSCRing<P>, count: UInt64, batch: Int) -> UInt64 {
        var (next, sum, torn): (UInt64, UInt64, UInt64) = (0, 0, 0)
        while next < count {
            var n = 0
            while n < batch && next < count { n &+= produceBatch(ring, next: &next, count: count, batch: batch &- n) }
            var seen = 0
            while seen < n { seen &+= consumeBatch(ring, batch: n &- seen, sum: &sum, torn: &torn) }
        }
        return torn != 0 ? .max : sum
    }

    /// `push`es element `next`; returns 1, or 0 when the ring is full.
    @inline(__always)
    static func pushOne<P: RingPayload>(_ ring: SPSCRing<P>, next: inout UInt64) -> Int {
        guard ring.push(P(repeating: next)) else { return 0 }
        next &+= 1
        return 1
    }

    /// Writes up to `batch` elements (`reserve`, `commit`); returns how many.
    @inline(__always)
    static func produceBatch<P: RingPayload>(_ ring: SPSCRing<P>, next: inout UInt64, count: UInt64, batch: Int) -> Int {
        let span = ring.reserve(maxCount: batch)
        let n = min(span.count, Int(truncatingIfNeeded: count &- next))
        var i = 0
        while i < n {  // as C's `for`: a `0..<n` range would check n ≥ 0 first
            span.initializeElement(at: i, to: P(repeating: next))
            next &+= 1
            i &+= 1
        }
        if n > 0 { ring.commit(n) }
        return n
    }

    /// `pop`s one element into the checksum; returns 1, or 0 when the ring is empty.
    @inline(__always)
    static func popOne<P: RingPayload>(_ ring: SPSCRing<P>, sum: inout UInt64, torn: inout UInt64) -> Int {
        guard let element = ring.pop() else { return 0 }
        sum &+= element.first
        torn |= element.first ^ element.last
        return 1
    }

    /// Reads up to `batch` elements (`readable`, `release`) into the checksum; returns how many.
    @inline(__always)
    static func consumeBatch<P: RingPayload>(_ ring: SPSCRing<P>, batch: Int, sum: inout UInt64, torn: inout UInt64) -> Int {
        let span = ring.readable(maxCount: batch)
        for element in span {
            sum &+= element.first
            torn |= element.first ^ element.last
        }
        if span.count > 0 { ring.release(span.count) }
        return span.count
    }

    // MARK: C

    public func c(elementSize: Int, capacity: Int) -> UInt64 {
        let ring = CRing(capacity: capacity, elementSize: elementSize)
        let count = self.count
        let batch = self.batch
        return run(
            produce: { th_cring_produce(ring.pointer, count, batch) },
            consume: { th_cring_consume(ring.pointer, count, batch) })
    }

    public func cRoundTrip(elementSize: Int, capacity: Int) -> UInt64 {
        let ring = CRing(capacity: capacity, elementSize: elementSize)
        return withExtendedLifetime(ring) { th_cring_round_trip(ring.pointer, count, batch) }
    }

    /// Owns one C ring for the length of a transfer.
    final class CRing: @unchecked Sendable {
        // @unchecked: the C ring is used by one producer and one consumer, as it is designed for.
        let pointer: OpaquePointer
        init(capacity: Int, elementSize: Int) {
            pointer = th_cring_create(capacity, elementSize)!
        }
        deinit { th_cring_destroy(pointer) }
    }
}
