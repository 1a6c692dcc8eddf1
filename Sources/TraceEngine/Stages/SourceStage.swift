import TraceModel

/// What became of one offered trace.
public enum EmitOutcome: Hashable, Sendable {
    case queued
    /// Dropped under policy `drop` (counted by reason).
    case dropped
    /// The record could not be read as a trace (counted as malformed).
    case malformed
}

/// The engine's entry: the poll stage (or a synthetic generator) writes each trace straight into a
/// free slot of the engine's pool through `emit`. One thread at a time uses a source.
///
/// Under policy `block`, `emit` waits for room: the caller stops reading the kernel, whose buffer
/// then fills and counts lost records. Under `drop`, it returns `.dropped` at once.
public final class EngineSource: @unchecked Sendable {
    // @unchecked: the free list and flags are touched only by the one thread that emits.
    private let parts: EngineWiring
    private var freeSlots: [UInt32]
    private var unflushed = 0
    private var idler: Idler
    private var finished = false

    init(parts: EngineWiring) {
        self.parts = parts
        freeSlots = []
        freeSlots.reserveCapacity(parts.configuration.rawTraceSlots)
        idler = Idler(parts.configuration.wait, doorbell: parts.sourceBell)
    }

    /// Offers one trace: `fill` writes it into the slot (for example `RawTrace.load(bytes)`); a
    /// thrown `RawTraceError` counts the record as malformed and reuses the slot.
    @discardableResult
    public func emit(_ fill: (inout RawTrace) throws(RawTraceError) -> Void) -> EmitOutcome {
        precondition(!finished, "emit after finish")
        parts.sourceCounters.add(.received)
        guard let slot = takeFreeSlot() else {
            parts.sourceCounters.add(.dropPoolExhausted)
            return .dropped
        }
        do {
            try fill(&parts.rawSlots.pointer(slot).pointee)
        } catch {
            parts.sourceCounters.add(.malformed)
            freeSlots.append(slot)
            return .malformed
        }
        while !parts.sourceRing.push(slot) {
            if parts.configuration.source.policy == .drop {
                parts.sourceCounters.add(.dropSourceRingFull)
                freeSlots.append(slot)
                return .dropped
            }
            waitForRoom { parts.sourceRing.approximateCount < parts.sourceRing.capacity }
        }
        parts.sourceCounters.add(.emitted)
        unflushed += 1
        if unflushed >= parts.configuration.batchSize { flush() }
        return .queued
    }

    /// Wakes the hash/cache stage for what was emitted since the last flush. Call it at the end of
    /// each batch read from the kernel; `emit` also flushes every `batchSize` traces.
    public func flush() {
        unflushed = 0
        parts.hashBell.ring()
    }

    /// Declares that no more traces come; the engine drains what it has. Idempotent.
    public func finish() {
        guard !finished else { return }
        finished = true
        parts.sourceFinished.store(true, ordering: .releasing)  // pairs with hash/cache's acquiring load
        flush()
    }

    private func takeFreeSlot() -> UInt32? {
        while true {
            if let slot = freeSlots.popLast() { return slot }
            let returned = parts.freeRawSlots.readable(maxCount: parts.configuration.rawTraceSlots)
            if returned.count > 0 {
                freeSlots.append(contentsOf: returned)
                parts.freeRawSlots.release(returned.count)
                continue
            }
            if parts.configuration.source.policy == .drop { return nil }
            waitForRoom { parts.freeRawSlots.approximateCount > 0 }
        }
    }

    /// Blocks (spin, yield, park) until `ready`; flushes first so the stage it waits on is awake.
    private func waitForRoom(_ ready: () -> Bool) {
        flush()
        idler.workDone()
        while !ready() { idler.idle(ready: ready) }
    }
}

