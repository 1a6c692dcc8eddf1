import TraceModel

/// The BPF hashes being symbolized, each with the list of coalesced raw slots waiting on it: the
/// hash/cache stage's set of misses in flight.
///
/// Open addressing with linear probing and backward-shift deletion (no tombstones), sized to at
/// least twice the raw-slot pool: an entry needs a slot in flight, so the table is never more than
/// half full and never grows. Keys are BPF hashes (XXH3 bits): a Fibonacci multiply spreads them,
/// no hasher runs. A `Dictionary` here cost a SipHash seed, combine and finalize per insert and
/// per removal on every miss.
struct InFlightTable {
    struct Entry {
        var key: UInt64
        var list: PendingList
        var occupied: Bool
    }

    private var entries: [Entry]
    private let mask: Int
    private let shift: UInt64
    private(set) var count = 0

    /// Room for `maximumCount` entries at most half full.
    init(maximumCount: Int) {
        var capacity = 16
        while capacity < 2 * maximumCount { capacity <<= 1 }
        entries = Array(repeating: Entry(key: 0, list: .empty, occupied: false), count: capacity)
        mask = capacity - 1
        shift = UInt64(64 - capacity.trailingZeroBitCount)
    }

    private func home(_ key: UInt64) -> Int { Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift) }

    /// The entry index holding `key`, or nil.
    func index(of key: HostTraceHash) -> Int? {
        var index = home(key.rawValue)
        while entries[index].occupied {
            if entries[index].key == key.rawValue { return index }
            index = (index + 1) & mask
        }
        return nil
    }

    subscript(index: Int) -> PendingList {
        get { entries[index].list }
        set { entries[index].list = newValue }
    }

    /// Adds `key` (not present) with `list`.
    mutating func insert(_ key: HostTraceHash, _ list: PendingList) {
        precondition(count < (mask + 1) / 2, "in-flight table over half full: more entries than raw slots")
        var index = home(key.rawValue)
        while entries[index].occupied { index = (index + 1) & mask }
        entries[index] = Entry(key: key.rawValue, list: list, occupied: true)
        count += 1
    }

    /// Removes `key` and returns its list, or nil when it is not present.
    mutating func remove(_ key: HostTraceHash) -> PendingList? {
        guard var hole = index(of: key) else { return nil }
        let list = entries[hole].list
        // Shift back every later entry of the run whose home is not in (hole, position]: it was
        // probed past the hole, and must stay reachable from its home.
        var position = hole
        while true {
            position = (position + 1) & mask
            guard entries[position].occupied else { break }
            let home = home(entries[position].key)
            let staysPut = hole <= position ? (hole < home && home <= position) : (hole < home || home <= position)
            if staysPut { continue }
            entries[hole] = entries[position]
            hole = position
        }
        entries[hole].occupied = false
        count -= 1
        return list
    }
}

/// Coalesced raw slots waiting on one in-flight hash, linked through the stage's `nextPending`.
struct PendingList {
    static var empty: PendingList { PendingList(head: .max, tail: .max) }
    var head: UInt32
    var tail: UInt32
}
