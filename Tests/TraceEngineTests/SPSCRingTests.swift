import LinuxSystem
import Synchronization
import Testing
@testable import TraceEngine

@Suite struct SPSCRingTests {
    /// Every capacity × start offset × batch size: items come out in order, the ring reports full
    /// at exactly `capacity` and empty at zero, across the wrap.
    @Test(arguments: [1, 2, 4, 8, 16, 64])
    func wrapsAroundAtEveryOffsetAndBatchSize(capacity: Int) {
        for offset in 0..<capacity {
            for batch in Set([1, 2, 3, capacity, capacity + 1]) {
                let ring = SPSCRing<UInt64>(capacity: capacity)
                for i in 0..<offset { #expect(ring.push(UInt64(i))) }
                for i in 0..<offset { #expect(ring.pop() == UInt64(i)) }
                var next: UInt64 = 0
                var expected: UInt64 = 0
                for _ in 0..<3 {  // fill to capacity and empty, three times round
                    var pushed = 0
                    while pushed < capacity {
                        let span = ring.reserve(maxCount: batch)
                        #expect(span.count >= 1 && span.count <= min(batch, capacity - pushed))
                        for j in 0..<span.count { span[j] = next; next += 1 }
                        ring.commit(span.count)
                        pushed += span.count
                    }
                    #expect(ring.reserve(maxCount: 1).count == 0, "full at capacity \(capacity)")
                    #expect(!ring.push(0))
                    var popped = 0
                    while popped < capacity {
                        let span = ring.readable(maxCount: batch)
                        #expect(span.count >= 1)
                        for value in span { #expect(value == expected); expected += 1 }
                        ring.release(span.count)
                        popped += span.count
                    }
                    #expect(ring.readable(maxCount: 1).count == 0, "empty")
                    #expect(ring.pop() == nil)
                }
                #expect(ring.highWaterMark == capacity)
            }
        }
    }

    /// A producer thread and a consumer (this thread) move 2^21 sequence numbers in random batches;
    /// the consumer checks order and a running checksum.
    @Test func twoThreadsKeepSequenceAndChecksum() async throws {
        struct Item: BitwiseCopyable, Equatable { var sequence: UInt64; var check: UInt64 }
        let count: UInt64 = 1 << 21
        let ring = SPSCRing<Item>(capacity: 256)
        let (mismatches, sum, emptyAtEnd) = try await WorkerThread.run(name: "test-body") {
            let producer = try WorkerThread.spawn(name: "ring-producer", cpus: nil) {
                var next: UInt64 = 0
                var random: UInt64 = 42
                while next < count {
                    random = random &* 6_364_136_223_846_793_005 &+ 1
                    let span = ring.reserve(maxCount: Int(random >> 60) + 1)
                    var written = 0
                    while written < span.count && next < count {
                        span[written] = Item(sequence: next, check: next &* 0x9e37_79b9_7f4a_7c15)
                        written += 1
                        next += 1
                    }
                    ring.commit(written)
                }
            }
            var expected: UInt64 = 0
            var sum: UInt64 = 0
            var mismatches = 0
            while expected < count {
                let span = ring.readable(maxCount: 37)
                for item in span {
                    if item != Item(sequence: expected, check: expected &* 0x9e37_79b9_7f4a_7c15) { mismatches += 1 }
                    sum &+= item.sequence
                    expected += 1
                }
                ring.release(span.count)
            }
            producer.join()
            return (mismatches, sum, ring.pop() == nil)
        }
        #expect(mismatches == 0)
        #expect(sum == count * (count - 1) / 2)
        #expect(emptyAtEnd)
    }

    /// Appended items stay invisible until `publish` (at every offset, across the wrap), count
    /// towards full, and come out in order with anything committed after them.
    @Test(arguments: [1, 2, 4, 8])
    func appendedItemsAppearOnlyWhenPublished(capacity: Int) {
        for offset in 0..<capacity {
            let ring = SPSCRing<UInt64>(capacity: capacity)
            for i in 0..<offset { #expect(ring.push(UInt64(i))) }
            for i in 0..<offset { #expect(ring.pop() == UInt64(i)) }
            for i in 0..<capacity { #expect(ring.appendUnpublished(UInt64(i))) }
            #expect(!ring.appendUnpublished(99), "full at capacity \(capacity), unpublished items included")
            #expect(ring.readable(maxCount: capacity).count == 0, "nothing visible before publish")
            #expect(ring.approximateCount == 0)
            ring.publish()
            ring.publish()  // nothing new: no effect
            #expect(ring.approximateCount == capacity)
            for i in 0..<capacity { #expect(ring.pop() == UInt64(i)) }
            #expect(ring.pop() == nil)
            if capacity >= 2 {
                #expect(ring.appendUnpublished(100))
                let span = ring.reserve(maxCount: 1)
                #expect(span.count == 1)
                span[0] = 101
                ring.commit(1)  // publishes the appended item with it
                #expect(ring.pop() == 100)
                #expect(ring.pop() == 101)
            }
            #expect(ring.highWaterMark == capacity)
        }
    }

    /// The high-water mark is the backlog the consumer met, not the producer's stale view of it:
    /// a ring its consumer empties after every item reads 1 however many laps it made, and 3
    /// after three items wait once.
    @Test func highWaterMarkIsTheBacklogTheConsumerMet() {
        let ring = SPSCRing<UInt64>(capacity: 16)
        for i in 0..<UInt64(100) {
            #expect(ring.push(i))
            #expect(ring.pop() == i)
        }
        #expect(ring.highWaterMark == 1)
        for i in 0..<UInt64(3) { #expect(ring.push(i)) }
        #expect(ring.readable(maxCount: 16).count == 3)
        ring.release(3)
        #expect(ring.highWaterMark == 3)
    }

    /// The layout the ring's speed rests on, which Swift does not promise: the fields in
    /// declaration order, each group 128 bytes (a line pair) clear of the next.
    @Test func fieldGroupsAreALinePairApart() {
        let ring = SPSCRing<UInt64>(capacity: 8)
        let offsets = ring.fieldOffsets
        #expect(offsets.producer == offsets.producer.sorted() && offsets.consumer == offsets.consumer.sorted())
        #expect(offsets.producer.first! - offsets.constantsEnd >= 128)
        #expect(offsets.tail - (offsets.producer.last! + 8) >= 128)
        #expect(offsets.consumer.first! - (offsets.tail + 8) >= 128)
    }

    @Test func rejectsCapacitiesThatAreNotPowersOfTwo() async {
        await #expect(processExitsWith: .failure) {
            _ = SPSCRing<Int>(capacity: 3)
        }
    }

    #if DEBUG
    @Test func aSecondProducerThreadTrapsInDebugBuilds() async {
        await #expect(processExitsWith: .failure) {
            let ring = SPSCRing<Int>(capacity: 4)
            _ = ring.push(1)
            let other = try! WorkerThread.spawn(name: "second-producer", cpus: nil) { _ = ring.push(2) }
            other.join()
        }
    }
    #endif
}
