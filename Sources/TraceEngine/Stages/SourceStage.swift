import TraceModel

/// What became of one offered trace.
public enum EmitOutcome: Hashable, Sendable {
    /// Taken in: into the engine or the unwind stage, or, with hash/cache on the source's thread,
    /// already looked up. What becomes of it later is counted by the stages.
    case queued
    /// Dropped under policy `drop` (counted by reason).
    case dropped
    /// The record could not be read as a trace (counted as malformed).
    case malformed
}

/// The engine's entry: the poll stage (or a synthetic generator) writes each trace straight into a
/// free slot of the engine's pool through `emit`. One thread at a time uses a source.
///
/// With `hash-cache.thread = source`, `emit` writes the trace into scratch memory of the source's
/// own instead, and runs the hash/cache stage's lookup there: only a miss is copied into a slot.
///
/// Under policy `block`, `emit` waits for room: the caller stops reading the kernel, whose buffer
/// then fills and counts lost records. Under `drop`, it returns `.dropped` at once.
public final class EngineSource: @unchecked Sendable {
    // @unchecked: the mutable state is touched only by the one thread that emits.
    private let parts: EngineWiring
    // The wiring's parts this stage uses on every trace, held directly: reading them through
    // `parts` would retain and release each object per trace.
    private let ring: SPSCRing<UInt32>
    private let returns: SPSCRing<UInt32>
    private let slots: SlotStorage<RawTrace>
    private let counters: StageCounters
    private let hashBell: Doorbell
    private let policy: BackpressurePolicy
    private let batchSize: Int
    /// The hash/cache stage, when it runs on this thread. The per-trace path uses it in place
    /// (`!` after a nil check): binding it with `if let` retained and released it every trace.
    private let inlineHashCache: (any InlineHashCache)?
    /// The unwind stage, when the engine has one.
    private let unwind: UnwindStage?
    /// The per-trace mutable state, in memory of its own: a class's `var`s pay a dynamic
    /// exclusivity check on every access.
    private let state: UnsafeMutablePointer<State>

    private struct State {
        /// A stack of free slot indices (capacity: the pool), `freeCount` of them valid.
        var free: UnsafeMutablePointer<UInt32>
        var freeCount = 0
        var unflushed = 0
        /// When the source last woke the next stages, for `flush(ringing:)`. A `KTime`, not a
        /// `ContinuousClock.Instant`: the latter's layout is not fixed at compile time, and a
        /// field of it made every access to this state call the type's metadata accessor (3 %
        /// of the source thread's cache-hit path).
        var rangAt = KTime.now()
        var finished = false
        /// Inside `flush`'s collection of unwound records.
        var collecting = false
        var idler: Idler
        /// Where `emit` fills a trace when hash/cache runs here: a hit is reported from it, so
        /// the record stays in this CPU's cache and never enters the pool.
        var scratch: UnsafeMutablePointer<RawTrace>
    }

    init(parts: EngineWiring, inlineHashCache: (any InlineHashCache)?) {
        self.parts = parts
        ring = parts.sourceRing
        returns = parts.freeRawSlots
        slots = parts.rawSlots
        counters = parts.sourceCounters
        hashBell = parts.hashBell
        policy = parts.configuration.source.policy
        batchSize = parts.configuration.batchSize
        self.inlineHashCache = inlineHashCache
        unwind = parts.unwind
        let scratch = UnsafeMutablePointer<RawTrace>.allocate(capacity: 1)
        scratch.initialize(to: RawTrace())
        state = .allocate(capacity: 1)
        state.initialize(to: State(
            free: .allocate(capacity: parts.configuration.rawTraceSlots),
            idler: Idler(parts.configuration.wait, doorbell: parts.sourceBell), scratch: scratch))
    }

    deinit {
        state.pointee.scratch.deallocate()
        state.pointee.free.deallocate()
        state.deinitialize(count: 1)
        state.deallocate()
    }

    /// Offers one trace, which the hash/cache stage sees at the next `flush`: `fill` writes it into
    /// the slot (for example `RawTrace.loadDeferringHash(bytes)`: the hash/cache stage computes
    /// every trace's hash, so the source need not); a thrown `RawTraceError` counts the record as
    /// malformed and reuses the slot. The trace is one sample (its `count` is set to 1).
    @discardableResult
    public func emit(_ fill: (inout RawTrace) throws(RawTraceError) -> Void) -> EmitOutcome {
        emit(samples: 1, fill)
    }

    /// Offers one trace that stands for `samples` samples (1 or more; a trace the kernel
    /// aggregated stands for its count): `fill` writes it as for `emit(_:)`, and its `count` is
    /// set to `samples`. The source counts the samples beyond one (`extraSamples`) before
    /// anything can drop the trace, so a drop is seen to lose all of them.
    @discardableResult
    public func emit(samples: UInt32, _ fill: (inout RawTrace) throws(RawTraceError) -> Void) -> EmitOutcome {
        precondition(!state.pointee.finished, "emit after finish")
        precondition(samples >= 1, "a trace stands for one sample or more")
        counters.add(.received)
        if samples > 1 { counters.add(.extraSamples, UInt64(samples - 1)) }
        return emitReceived { (trace) throws(RawTraceError) in
            try fill(&trace)
            trace.count = samples
        }
    }

    /// Offers a copy of `trace`, with the samples it stands for (`count`; an off-CPU trace is one
    /// block, one sample, whatever its count says).
    @discardableResult
    public func emit(_ trace: RawTrace) -> EmitOutcome {
        emit(samples: trace.origin == .offCPU ? 1 : max(trace.count, 1)) { $0 = trace }
    }

    /// Offers one record as the kernel delivered it (`RawTrace.loadDeferringHash` reads it). A
    /// record with a user stack snapshot goes to the unwind stage, when the engine has one, and
    /// enters the engine once unwound (at a later `flush`); when the stage is full, the
    /// `rings.unwind` policy applies: wait, drop, or go on with the frame-pointer stack.
    @discardableResult
    public func emitRecord(_ bytes: UnsafeRawBufferPointer) -> EmitOutcome {
        precondition(!state.pointee.finished, "emit after finish")
        counters.add(.received)
        guard let unwind, RawTrace.carriesSnapshot(bytes) else {
            // One sample: loading sets the trace's count to 1.
            return emitReceived { (trace) throws(RawTraceError) in try trace.loadDeferringHash(bytes) }
        }
        guard bytes.count <= UnwindStage.slotBytes else {
            // Larger than any record the sampler sends: not unwound, its frames go on.
            counters.add(.degradedUnwind)
            return emitReceived { (trace) throws(RawTraceError) in try trace.loadDeferringHash(bytes) }
        }
        var offered = unwind.offer(bytes)
        while !offered {
            switch unwind.configuration.edge.policy {
            case .drop:
                counters.add(.dropUnwindFull)
                return .dropped
            case .degrade:
                counters.add(.degradedUnwind)
                return emitReceived { (trace) throws(RawTraceError) in try trace.loadDeferringHash(bytes) }
            case .block:
                // Slots come back as the workers answer: take the answers in (which also
                // publishes what was offered), try again, and only then wait for an answer — not
                // with `waitForRoom`, whose flush could take in the last answers and leave
                // nothing to wait for.
                flush()
                offered = unwind.offer(bytes)
                if !offered {
                    idle(until: { unwind.hasAnswers })
                    if parts.isAbandoned {
                        counters.add(.dropShutdown)
                        return .dropped
                    }
                }
            }
        }
        state.pointee.unflushed += 1
        if state.pointee.unflushed >= batchSize { flush(ringing: false) }
        return .queued
    }

    /// `emit` for a trace already counted as received (offered to the unwind stage, now back).
    private func emitReceived(_ fill: (inout RawTrace) throws(RawTraceError) -> Void) -> EmitOutcome {
        if inlineHashCache != nil { return emitThroughInlineHashCache(fill) }
        guard let slot = takeFreeSlot() else {
            counters.add(parts.isAbandoned ? .dropShutdown : .dropPoolExhausted)
            return .dropped
        }
        do {
            try fill(&slots.pointer(slot).pointee)
        } catch {
            counters.add(.malformed)
            putBack(slot)
            return .malformed
        }
        while !ring.appendUnpublished(slot) {
            if policy == .drop {
                counters.add(.dropSourceRingFull)
                putBack(slot)
                return .dropped
            }
            let ring = self.ring
            waitForRoom { ring.approximateCount < ring.capacity }
            if parts.isAbandoned {
                counters.add(.dropShutdown)
                putBack(slot)
                return .dropped
            }
        }
        counters.add(.emitted)
        state.pointee.unflushed += 1
        if state.pointee.unflushed >= batchSize { flush(ringing: false) }
        return .queued
    }

    /// `emit` with hash/cache on this thread: a hit is reported from the scratch trace; a miss is
    /// copied into a slot (the source's policy applies when there is none) and handed on.
    private func emitThroughInlineHashCache(_ fill: (inout RawTrace) throws(RawTraceError) -> Void) -> EmitOutcome {
        let scratch = state.pointee.scratch
        do {
            try fill(&scratch.pointee)
        } catch {
            counters.add(.malformed)
            return .malformed
        }
        if let umHash = inlineHashCache!.lookUp(scratch) {
            counters.add(.emitted)
            inlineHashCache!.acceptHit(scratch, umHash: umHash)
        } else {
            guard let slot = takeFreeSlot() else {
                counters.add(parts.isAbandoned ? .dropShutdown : .dropPoolExhausted)
                return .dropped
            }
            RawTrace.copy(scratch, to: slots.pointer(slot))
            counters.add(.emitted)
            inlineHashCache!.acceptMiss(slot)
        }
        state.pointee.unflushed += 1
        if state.pointee.unflushed >= batchSize { flush(ringing: false) }
        return .queued
    }

    /// Hands what was emitted since the last flush to the hash/cache stage and wakes it. Call it at
    /// the end of each batch read from the kernel; `emit` also flushes every `batchSize` traces, and
    /// `finish` flushes. (Publishing once a batch, not once a trace, keeps the ring's index line
    /// from crossing between CPUs on every trace: that store was the source's costliest line.)
    public func flush() { flush(ringing: true) }

    /// `flush`; with `ringing` false (`emit`'s flush every `batchSize` traces, within a batch from
    /// the kernel) the next stages see the traces but are woken only if their ring is half full
    /// or a millisecond has passed since they were last woken: the flush that ends the batch
    /// follows soon and wakes them once for all of it. Waking a parked stage costs both CPUs a
    /// context switch; at 20 000 samples a second every 64 traces these were a quarter of the
    /// agent's CPU (design/performance.md). The millisecond bounds the wait of a source that
    /// only emits and never flushes (`SequenceTraceSource`).
    private func flush(ringing: Bool) {
        // Unwound records enter the engine here. Not again from inside: emitting one may wait
        // for room, and waiting flushes.
        if let unwind, !state.pointee.collecting {
            state.pointee.collecting = true
            unwind.publish()
            unwind.collect { bytes in
                // Whatever becomes of it is counted by the stages; no caller waits for the outcome.
                _ = emitReceived { (trace) throws(RawTraceError) in try trace.loadDeferringHash(bytes) }
            }
            state.pointee.collecting = false
        }
        state.pointee.unflushed = 0
        var ringing = ringing
        if !ringing && KTime.now().rawValue &- state.pointee.rangAt.rawValue >= Self.longestQuietWakeNanoseconds { ringing = true }
        if ringing { state.pointee.rangAt = KTime.now() }
        if let inlineHashCache {
            inlineHashCache.service(ringing: ringing)
            return
        }
        ring.publish()
        if ringing || ring.approximateCount >= ring.capacity / 2 { hashBell.ring() }
    }

    /// The longest `emit`'s flushes publish without waking the next stages: 1 ms.
    private static let longestQuietWakeNanoseconds: UInt64 = 1_000_000

    /// Declares that no more traces come; the engine drains what it has. Idempotent.
    public func finish() {
        guard !state.pointee.finished else { return }
        if let unwind {
            // Everything handed to the unwind workers comes back and enters the engine first.
            unwind.finishInput()
            flush()
            while unwind.inFlight > 0 && !parts.isAbandoned {
                idle(until: { unwind.hasAnswers })
                flush()
            }
        }
        state.pointee.finished = true
        parts.sourceFinished.store(true, ordering: .releasing)  // pairs with hash/cache's acquiring load
        if let inlineHashCache {
            inlineHashCache.drain()
        } else {
            flush()
        }
    }

    private func putBack(_ slot: UInt32) {
        state.pointee.free[state.pointee.freeCount] = slot
        state.pointee.freeCount += 1
    }

    private func takeFreeSlot() -> UInt32? {
        while true {
            if state.pointee.freeCount > 0 {
                state.pointee.freeCount -= 1
                return state.pointee.free[state.pointee.freeCount]
            }
            // Refill the stack from the slots the stages gave back (at most the pool: it fits).
            // Hash/cache frees them; on this thread, it has to be given the chance first.
            inlineHashCache?.service(ringing: true)
            let returned = returns.readable(maxCount: slots.count)
            if returned.count > 0 {
                (state.pointee.free + state.pointee.freeCount).update(from: returned.baseAddress!, count: returned.count)
                state.pointee.freeCount += returned.count
                returns.release(returned.count)
                continue
            }
            if policy == .drop || parts.isAbandoned { return nil }
            if let inlineHashCache {
                inlineHashCache.waitForAnswers()
                continue
            }
            let returns = self.returns
            waitForRoom { returns.approximateCount > 0 }
        }
    }

    /// Spins, yields and parks until `ready` (or the engine is abandoned), without flushing.
    private func idle(until ready: () -> Bool) {
        state.pointee.idler.workDone()
        let parts = self.parts
        while !ready() && !parts.isAbandoned { state.pointee.idler.idle { ready() || parts.isAbandoned } }
    }

    /// Blocks (spin, yield, park) until `ready`; flushes first so the stage it waits on is awake.
    private func waitForRoom(_ ready: () -> Bool) {
        flush()
        state.pointee.idler.workDone()
        let parts = self.parts
        while !ready() && !parts.isAbandoned { state.pointee.idler.idle { ready() || parts.isAbandoned } }
    }
}
