/// A fixed array of `Element`s addressed by slot index, allocated once.
///
/// Ownership of a slot travels with its index: the stage that holds an index (popped from a ring,
/// or taken from its free list) is the only one touching that slot, and it gives the slot up by
/// appending the index to a ring. The ring's releasing publish and acquiring read order the slot's
/// writes before the next owner's reads. This class only owns the memory.
final class SlotStorage<Element>: @unchecked Sendable {
    // @unchecked: see the ownership rule above; the storage itself is never resized.
    let count: Int
    private let base: UnsafeMutablePointer<Element>

    init(count: Int, _ make: () -> Element) {
        self.count = count
        base = .allocate(capacity: count)
        for i in 0..<count { (base + i).initialize(to: make()) }
    }

    deinit {
        base.deinitialize(count: count)
        base.deallocate()
    }

    /// The slot's address, for in-place reads and writes by its current owner.
    @inline(__always)  // on every per-trace path; a bounds check and an add
    func pointer(_ slot: UInt32) -> UnsafeMutablePointer<Element> {
        precondition(Int(slot) < count, "slot \(slot) out of \(count)")
        return base + Int(slot)
    }
}
