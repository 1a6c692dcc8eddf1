import Testing
@testable import KernelPath

/// The perf ring reader against a fake kernel: order, wrap-around, lost notices, corrupt headers,
/// refusal under backpressure and batch limits.
@Suite struct PerfRingReaderTests {
    func payload(_ n: Int, seed: UInt8) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 7) &+ seed } }

    func drainAll(_ reader: PerfRingReader) -> [[UInt8]] {
        var seen: [[UInt8]] = []
        reader.drain(maxRecords: .max) { seen.append(Array($0)); return true }
        return seen
    }

    /// A 1024-byte buffer whose head and tail stand `bytesBeforeEnd` bytes before its end: a filler
    /// sample written there and read.
    func bufferNearItsEnd(_ bytesBeforeEnd: Int) -> (FakePerfBuffer, PerfRingReader) {
        let kernel = FakePerfBuffer(dataSize: 1024)
        let reader = kernel.makeReader()
        kernel.writeSample([UInt8](repeating: 0xee, count: 1024 - bytesBeforeEnd - 12))
        kernel.publish()
        #expect(drainAll(reader).count == 1)
        return (kernel, reader)
    }

    @Test func samplesArriveInOrderAndTheTailFollows() {
        let kernel = FakePerfBuffer(dataSize: 4096)
        let reader = kernel.makeReader()
        let payloads = (0..<5).map { payload(100 + $0, seed: UInt8($0)) }
        for p in payloads { kernel.writeSample(p) }
        kernel.publish()
        let seen = drainAll(reader)
        #expect(seen.count == 5)
        for (got, sent) in zip(seen, payloads) { #expect(Array(got.prefix(sent.count)) == sent) }
        #expect(kernel.tail == kernel.head)
        #expect(reader.statistics.records == 5 && reader.statistics.corrupt == 0)
        #expect(!reader.hasData)
    }

    @Test(arguments: [8, 16, 24, 200, 248])
    func aRecordThatWrapsIsDeliveredWhole(offsetFromEnd: Int) {
        let (kernel, reader) = bufferNearItsEnd(offsetFromEnd)
        let wrapped = payload(300, seed: 3)
        kernel.writeSample(wrapped)
        kernel.publish()
        let seen = drainAll(reader)
        #expect(seen.count == 1)
        #expect(Array(seen[0].prefix(300)) == wrapped)
        #expect(kernel.tail == kernel.head)
    }

    /// Samples that end before the buffer's end are read in place by the drain's loop; one that
    /// ends exactly at it, or a bare header in its last 8 bytes, is read out of line, with the same
    /// outcome, and reading goes on at the buffer's start.
    @Test(arguments: [8, 16, 24, 200])
    func aRecordThatEndsTheBufferIsReadLikeAnyOther(recordSize: Int) {
        let (kernel, reader) = bufferNearItsEnd(recordSize)
        // A header-only sample has no room for its raw size word: corrupt.
        let last = recordSize == 8 ? nil : payload(recordSize - 12, seed: 5)
        if let last { kernel.writeSample(last) } else { kernel.write(kernel.header(type: 9, size: 8)) }
        let next = payload(44, seed: 6)  // 56 bytes with its header: no padding
        kernel.writeSample(next)
        kernel.publish()
        let seen = drainAll(reader).map { Array($0) }
        #expect(seen == (last.map { [$0] } ?? []) + [next])
        #expect(reader.statistics.corrupt == (last == nil ? 1 : 0))
        #expect(reader.statistics.records == (last == nil ? 2 : 3))
        #expect(kernel.tail == kernel.head)
    }

    /// A bare sample header away from the buffer's end: the in-place path reads the word after it
    /// (the next record's header) as its raw size, which never fits in 8 bytes: corrupt, and the
    /// next record is read as usual.
    @Test func aHeaderOnlySampleIsCorruptAndTheNextIsRead() {
        let kernel = FakePerfBuffer(dataSize: 4096)
        let reader = kernel.makeReader()
        kernel.write(kernel.header(type: 9, size: 8))
        let next = payload(44, seed: 8)
        kernel.writeSample(next)
        kernel.publish()
        #expect(drainAll(reader).map { Array($0) } == [next])
        #expect(reader.statistics.corrupt == 1 && reader.statistics.records == 1)
        #expect(kernel.tail == kernel.head)
    }

    @Test func aRefusedRecordThatWrapsStaysForTheNextDrain() {
        let (kernel, reader) = bufferNearItsEnd(64)
        let wrapped = payload(300, seed: 4)
        kernel.writeSample(wrapped)
        kernel.publish()
        let tailBefore = kernel.tail
        #expect(reader.drain(maxRecords: .max) { _ in false } == .refused)
        #expect(kernel.tail == tailBefore)
        #expect(drainAll(reader).map { Array($0.prefix(300)) } == [wrapped])
        #expect(reader.statistics.records == 2)
    }

    @Test func lostNoticesAreSummed() {
        let kernel = FakePerfBuffer(dataSize: 4096)
        let reader = kernel.makeReader()
        kernel.writeSample(payload(64, seed: 1))
        kernel.writeLost(17)
        kernel.writeLost(3)
        kernel.writeSample(payload(64, seed: 2))
        kernel.publish()
        #expect(drainAll(reader).count == 2)
        #expect(reader.statistics.lost == 20)
    }

    /// Found by fuzzing (Fuzz/Findings/FuzzPerfRing): values only a broken kernel would write
    /// must be counted, not trap.
    @Test func anUnalignedHeadIsCorruptNotAnOutOfBoundsRead() {
        let kernel = FakePerfBuffer(dataSize: 4096)
        let reader = kernel.makeReader()
        kernel.publish(head: 4093)  // a header read there would run past the buffer's end
        #expect(drainAll(reader).isEmpty)
        #expect(reader.statistics.corrupt == 1)
        #expect(kernel.tail == 4093)
    }

    @Test func lostCountsThatOverflowSaturate() {
        let kernel = FakePerfBuffer(dataSize: 4096)
        let reader = kernel.makeReader()
        kernel.writeLost(.max)
        kernel.writeLost(5)
        kernel.publish()
        #expect(drainAll(reader).isEmpty)
        #expect(reader.statistics.lost == .max)
    }

    @Test(arguments: [0, 12, 8192, 1000])
    func aCorruptHeaderSkipsToTheHeadAndReadingGoesOn(size: Int) {
        let kernel = FakePerfBuffer(dataSize: 4096)
        let reader = kernel.makeReader()
        kernel.writeSample(payload(40, seed: 1))
        // size 0 and 12 (not 8-aligned) and 8192 (larger than the buffer) and 1000 (past the head).
        kernel.write(kernel.header(type: 9, size: size) + [UInt8](repeating: 0, count: 8))
        kernel.publish()
        #expect(drainAll(reader).count == 1)
        #expect(reader.statistics.corrupt == 1)
        #expect(kernel.tail == kernel.head)
        kernel.writeSample(payload(40, seed: 2))
        kernel.publish()
        #expect(drainAll(reader).count == 1)
    }

    /// Every record kind counted where it belongs, and `bytes` is what the tail moved over: up to
    /// a refused record, a batch's end, or the corrupt header the reader skipped from.
    @Test func countsAndBytesFollowEveryKindOfRecord() {
        let kernel = FakePerfBuffer(dataSize: 4096)
        let reader = kernel.makeReader()
        kernel.writeSample(payload(20, seed: 1))  // 12 + 20 → 32 bytes
        kernel.writeLost(5)  // 24
        kernel.write(kernel.header(type: 3, size: 16) + [UInt8](repeating: 0, count: 8))  // another type: 16
        kernel.write(kernel.header(type: 9, size: 24) + le(UInt32(500)) + [UInt8](repeating: 0, count: 12))  // corrupt raw size: 24
        kernel.writeSample(payload(4, seed: 2))  // 16
        kernel.publish()
        #expect(reader.drain(maxRecords: 3) { _ in true } == .batchLimit)
        var counted = reader.statistics
        #expect(counted.records == 1 && counted.lost == 5 && counted.other == 1 && counted.corrupt == 0 && counted.bytes == 72)
        #expect(kernel.tail == 72)
        #expect(reader.drain(maxRecords: .max) { _ in false } == .refused)  // the corrupt one is passed, the sample refused
        counted = reader.statistics
        #expect(counted.records == 1 && counted.corrupt == 1 && counted.bytes == 96 && kernel.tail == 96)
        #expect(drainAll(reader).count == 1)
        #expect(reader.statistics.records == 2 && reader.statistics.bytes == 112 && kernel.tail == 112)
        // A header of size 0 after a good sample: the sample's bytes count, the skip's do not.
        kernel.writeSample(payload(4, seed: 3))
        kernel.write(kernel.header(type: 9, size: 0) + [UInt8](repeating: 0, count: 8))
        kernel.publish()
        #expect(drainAll(reader).count == 1)
        counted = reader.statistics
        #expect(counted.records == 3 && counted.corrupt == 2 && counted.bytes == 128 && kernel.tail == kernel.head)
    }

    @Test func aRawSizeLargerThanItsRecordIsCorrupt() {
        let kernel = FakePerfBuffer(dataSize: 4096)
        let reader = kernel.makeReader()
        kernel.write(kernel.header(type: 9, size: 24) + le(UInt32(500)) + [UInt8](repeating: 0, count: 12))
        kernel.writeSample(payload(16, seed: 9))
        kernel.publish()
        #expect(drainAll(reader).count == 1)
        #expect(reader.statistics.corrupt == 1)
    }

    @Test func aHeadFurtherAheadThanTheBufferIsCorrupt() {
        let kernel = FakePerfBuffer(dataSize: 1024)
        let reader = kernel.makeReader()
        kernel.metadata.storeBytes(of: UInt64(5000), toByteOffset: 1024, as: UInt64.self)  // data_head
        #expect(drainAll(reader).isEmpty)
        #expect(reader.statistics.corrupt == 1)
        #expect(kernel.tail == 5000)
    }

    @Test func aRefusedRecordStaysForTheNextDrain() {
        let kernel = FakePerfBuffer(dataSize: 4096)
        let reader = kernel.makeReader()
        for i in 0..<4 { kernel.writeSample(payload(32, seed: UInt8(i))) }
        kernel.publish()
        var accepted = 0
        let end = reader.drain(maxRecords: .max) { _ in
            guard accepted < 2 else { return false }
            accepted += 1
            return true
        }
        #expect(end == .refused)
        #expect(reader.statistics.records == 2)
        #expect(reader.hasData)
        let rest = drainAll(reader)
        #expect(rest.count == 2)
        #expect(rest[0].prefix(32) == payload(32, seed: 2)[...])
    }

    @Test func batchesAreBounded() {
        let kernel = FakePerfBuffer(dataSize: 4096)
        let reader = kernel.makeReader()
        for i in 0..<10 { kernel.writeSample(payload(8, seed: UInt8(i))) }
        kernel.publish()
        var count = 0
        #expect(reader.drain(maxRecords: 4) { _ in count += 1; return true } == .batchLimit)
        #expect(count == 4)
        #expect(reader.drain(maxRecords: 100) { _ in count += 1; return true } == .empty)
        #expect(count == 10)
    }
}

@Suite struct BPFRingBufferReaderTests {
    func drainAll(_ reader: BPFRingBufferReader) -> [[UInt8]] {
        var seen: [[UInt8]] = []
        reader.drainUntilEmpty(maxRecords: .max) { seen.append(Array($0)); return true }
        return seen
    }

    @Test func recordsArriveAcrossTheEndOfTheMirroredArea() {
        let kernel = FakeRingBuffer(size: 1024)
        let reader = kernel.makeReader()
        var sent: [[UInt8]] = []
        for round in 0..<20 {
            let payload = (0..<(90 + round)).map { UInt8(truncatingIfNeeded: $0 + round) }
            kernel.write(payload)
            sent.append(payload)
            kernel.publish()
            #expect(drainAll(reader) == [payload])
        }
        #expect(kernel.consumed == kernel.position)
        #expect(reader.statistics.records == 20)
    }

    @Test func discardedRecordsAreSkippedAndBusyOnesWait() {
        let kernel = FakeRingBuffer(size: 4096)
        let reader = kernel.makeReader()
        kernel.write([1, 2, 3])
        kernel.write([4, 5], discard: true)
        let pending = kernel.write([6, 7, 8, 9], busy: true)
        kernel.write([10])
        kernel.publish()
        #expect(drainAll(reader) == [[1, 2, 3]])
        #expect(reader.discarded == 1)
        kernel.commit(at: pending)
        #expect(drainAll(reader) == [[6, 7, 8, 9], [10]])
    }

    @Test func aLengthLargerThanTheBufferIsCorrupt() {
        let kernel = FakeRingBuffer(size: 1024)
        let reader = kernel.makeReader()
        kernel.write([1, 2, 3, 4], length: 5000)
        kernel.publish()
        #expect(drainAll(reader).isEmpty)
        #expect(reader.statistics.corrupt == 1)
        #expect(kernel.consumed == kernel.position)
    }

    /// Found by fuzzing (Fuzz/Findings/FuzzRingBuffer): a producer position behind ours, or
    /// more than a buffer ahead, made the drain spin for ever.
    @Test(arguments: [8, 16 + 4096, 21] as [UInt64])
    func anImpossibleProducerPositionIsCorruptAndTheDrainEnds(producer: UInt64) {
        let kernel = FakeRingBuffer(size: 1024)
        let reader = kernel.makeReader()
        kernel.write([1, 2, 3])  // 16 bytes: the consumer moves to 16
        kernel.publish()
        #expect(drainAll(reader) == [[1, 2, 3]])
        kernel.publish(position: producer)
        #expect(drainAll(reader).isEmpty)
        #expect(reader.statistics.corrupt == 1)
        #expect(kernel.consumed == producer)
    }

    @Test func aRefusedRecordStays() {
        let kernel = FakeRingBuffer(size: 1024)
        let reader = kernel.makeReader()
        kernel.write([1])
        kernel.write([2])
        kernel.publish()
        var first = true
        let end = reader.drainUntilEmpty(maxRecords: .max) { _ in defer { first = false }; return first }
        #expect(end == .refused)
        #expect(drainAll(reader) == [[2]])
    }
}
