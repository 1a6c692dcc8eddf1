import CBaselineRing
import LinuxSystem
import Synchronization
import TraceEngine

/// One producer thread and one consumer thread move `count` elements through a ring, pinned to
/// two different CPUs when the machine has them. Returns the consumer's checksum.
struct RingTransfer {
    let count: UInt64
    let batch: Int

    /// CPUs for the producer and the consumer: the first two allowed ones, or no pinning.
    static let cpus: (producer: [Int]?, consumer: [Int]?) = {
        let allowed = WorkerThread.allowedCPUs()
        return allowed.count >= 2 ? ([allowed[0]], [allowed[1]]) : (nil, nil)
    }()

    /// The sum of 0..<count, which the consumer must return.
    static func expectedChecksum(_ count: UInt64) -> UInt64 { count * (count - 1) / 2 }

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

    func swift<P: RingPayload>(_ payload: P.Type, capacity: Int) -> UInt64 {
        let ring = SPSCRing<P>(capacity: capacity)
        let count = self.count
        let batch = self.batch
        return run(
            produce: { Self.produce(ring, count: count, batch: batch) },
            consume: { Self.consume(ring, count: count, batch: batch) })
    }

    static func produce<P: RingPayload>(_ ring: SPSCRing<P>, count: UInt64, batch: Int) {
        var next: UInt64 = 0
        if batch == 1 {
            while next < count {
                if ring.push(P(repeating: next)) { next += 1 }
            }
            return
        }
        while next < count {
            let span = ring.reserve(maxCount: batch)
            let n = min(span.count, Int(count - next))
            for i in 0..<n {
                span.initializeElement(at: i, to: P(repeating: next))
                next += 1
            }
            if n > 0 { ring.commit(n) }
        }
    }

    static func consume<P: RingPayload>(_ ring: SPSCRing<P>, count: UInt64, batch: Int) -> UInt64 {
        var seen: UInt64 = 0
        var sum: UInt64 = 0
        var torn: UInt64 = 0
        if batch == 1 {
            while seen < count {
                if let element = ring.pop() {
                    sum &+= element.first
                    torn |= element.first ^ element.last
                    seen += 1
                }
            }
            return torn != 0 ? .max : sum
        }
        while seen < count {
            let span = ring.readable(maxCount: batch)
            for element in span {
                sum &+= element.first
                torn |= element.first ^ element.last
            }
            if span.count > 0 {
                ring.release(span.count)
                seen += UInt64(span.count)
            }
        }
        return torn != 0 ? .max : sum
    }

    // MARK: C

    func c(elementSize: Int, capacity: Int) -> UInt64 {
        let ring = CRing(capacity: capacity, elementSize: elementSize)
        let count = self.count
        let batch = self.batch
        return run(
            produce: { th_cring_produce(ring.pointer, count, batch) },
            consume: { th_cring_consume(ring.pointer, count, batch) })
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
