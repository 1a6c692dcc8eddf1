import Synchronization
import TraceModel

/// The unwind stage: walks the user stack snapshots that records carry (DWARF CFI, through a
/// `SnapshotUnwinder`), on `workers` threads, before the records enter the engine as ordinary
/// traces.
///
/// It sits on the source's thread's side of the engine and keeps every ring single-producer,
/// single-consumer:
///
///     source ──inputs[i]──► unwind[i] ──outputs[i]──► source ──sourceRing──► hash/cache …
///
/// The source copies a record with a snapshot into a free snapshot slot (32 KiB, from this
/// stage's own pool) and hands the slot to a worker, round-robin. The worker rewrites the record
/// in its slot into a plain one (header and frames) and hands the slot back. At every flush the
/// source emits what came back into the engine, as if it had just read it, and frees the slots.
///
/// Slot ownership moves with the slot index: the source's writes to a slot are published by the
/// input ring's releasing publish and seen after the worker's acquiring read of it; the worker's
/// rewrite and `byteCounts[slot]` likewise through the output ring. Nobody else touches a slot.
final class UnwindStage: @unchecked Sendable {
    // @unchecked: the source-side state (`free`, `freeCount`, `next`, `inFlight`) belongs to the
    // source's thread; each worker's state to its thread; the rest is constant or atomic.
    static let slotBytes = 32 << 10

    let configuration: UnwindStageConfiguration
    let unwinder: any SnapshotUnwinder
    private let storage: UnsafeMutableRawPointer
    /// The record's byte count in each slot, written by the slot's owner of the moment.
    private let byteCounts: UnsafeMutablePointer<Int>
    let inputs: [SPSCRing<UInt32>]
    let outputs: [SPSCRing<UInt32>]
    let bells: [Doorbell]
    let counters: [StageCounters]
    private let wait: WaitStrategy
    /// Set (releasing) by the source when no more records come; workers leave once their ring is empty.
    let inputFinished = Atomic<Bool>(false)

    // Source-side state.
    private let free: UnsafeMutablePointer<UInt32>
    private var freeCount: Int
    private var next = 0
    /// Slots handed to workers and not yet back.
    private(set) var inFlight = 0

    init(configuration: UnwindStageConfiguration, unwinder: any SnapshotUnwinder, wait: WaitStrategy) {
        precondition(RawTrace.maximumRecordBytes <= Self.slotBytes, "a snapshot slot holds the largest record")
        self.configuration = configuration
        self.unwinder = unwinder
        self.wait = wait
        let slots = configuration.snapshotSlots
        storage = .allocate(byteCount: slots * Self.slotBytes, alignment: 64)
        byteCounts = .allocate(capacity: slots)
        byteCounts.initialize(repeating: 0, count: slots)
        free = .allocate(capacity: slots)
        for slot in 0..<slots { free[slot] = UInt32(slots - 1 - slot) }
        freeCount = slots
        let k = configuration.workers
        inputs = (0..<k).map { _ in SPSCRing(capacity: configuration.edge.capacity) }
        // An output ring can hold every slot: a worker never waits to answer.
        outputs = (0..<k).map { _ in SPSCRing(capacity: slots) }
        bells = (0..<k).map { _ in Doorbell() }
        counters = (0..<k).map { _ in StageCounters() }
        unwinder.prepare(workers: k)
    }

    deinit {
        storage.deallocate()
        byteCounts.deallocate()
        free.deallocate()
    }

    private func slot(_ index: UInt32) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: storage + Int(index) * Self.slotBytes, count: Self.slotBytes)
    }

    // MARK: The source's side

    /// Hands a record with a snapshot to a worker; false when no slot is free or every worker's
    /// ring is full (the source applies the edge's policy). Workers see it at `publish`.
    func offer(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard freeCount > 0, bytes.count <= Self.slotBytes else { return false }
        let index = free[freeCount - 1]
        for attempt in 0..<inputs.count {
            let worker = (next + attempt) % inputs.count
            // Appended but not yet published: the worker sees the slot only after the copy.
            guard inputs[worker].appendUnpublished(index) else { continue }
            slot(index).copyMemory(from: bytes)
            byteCounts[Int(index)] = bytes.count
            freeCount -= 1
            inFlight += 1
            next = (worker + 1) % inputs.count
            return true
        }
        return false
    }

    /// Shows the workers what was offered since the last publish, and wakes them.
    func publish() {
        for input in inputs { input.publish() }
        Doorbell.ring(bells)
    }

    /// Hands each record the workers finished to `deliver` (its bytes are valid during the call
    /// only), then frees its slot.
    func collect(_ deliver: (UnsafeRawBufferPointer) -> Void) {
        for output in outputs {
            while true {
                // Contiguous spans: one more pass when the answers wrap around the ring's end.
                let done = output.readable(maxCount: output.capacity)
                if done.isEmpty { break }
                for index in done {
                    deliver(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(slot(index)).prefix(byteCounts[Int(index)])))
                    free[freeCount] = index
                    freeCount += 1
                }
                inFlight -= done.count
                output.release(done.count)
            }
        }
    }

    /// Whether a worker has answered since the last `collect`.
    var hasAnswers: Bool { outputs.contains { $0.approximateCount > 0 } }

    /// No more records come: workers leave when their rings are empty.
    func finishInput() {
        inputFinished.store(true, ordering: .releasing)  // pairs with the workers' acquiring loads
        publish()
    }

    // MARK: A worker

    /// Worker `worker`'s loop, on its own thread, until the input is finished and drained (or
    /// `isAbandoned()`). `sourceBell` wakes the source when answers are ready.
    func runWorker(_ worker: Int, sourceBell: Doorbell, isAbandoned: () -> Bool) {
        let input = inputs[worker]
        let output = outputs[worker]
        let counters = self.counters[worker]
        var idler = Idler(wait, doorbell: bells[worker])
        while !isAbandoned() {
            let records = input.readable(maxCount: 64)
            for index in records {
                counters.add(.received)
                let outcome = unwinder.unwind(record: slot(index), byteCount: byteCounts[Int(index)], worker: worker)
                byteCounts[Int(index)] = min(max(outcome.byteCount, 0), Self.slotBytes)
                counters.add(EngineCounter.unwind(outcome.stop))
                if outcome.keptFramePointerStack { counters.add(.unwindKeptFramePointers) }
                counters.add(.emitted)
                // Sized to the pool: never full.
                let answered = output.appendUnpublished(index)
                precondition(answered, "unwind output ring overflow")
            }
            input.release(records.count)
            if records.count > 0 {
                output.publish()
                sourceBell.ring()
                idler.workDone()
                continue
            }
            if inputFinished.load(ordering: .acquiring) && input.approximateCount == 0 { break }
            idler.idle { input.approximateCount > 0 || self.inputFinished.load(ordering: .acquiring) || isAbandoned() }
        }
        sourceBell.ring()
    }
}
