/// A key of an `LRUCache`: equatable, and able to say which bucket it belongs in. Trace hashes are
/// already uniformly distributed, so their low bits serve directly (upstream hashes `uint32(k)` too).
public protocol LRUCacheKey: Equatable, Sendable {
    /// Bits that pick the key's bucket. The cache masks them to its power-of-two bucket count, so
    /// the low bits must be well spread.
    var bucketHash: UInt32 { get }
}

extension HostTraceHash: LRUCacheKey {
    @inlinable public var bucketHash: UInt32 { UInt32(truncatingIfNeeded: rawValue) }
}

extension TraceHash: LRUCacheKey {
    @inlinable public var bucketHash: UInt32 { UInt32(truncatingIfNeeded: low) }
}

/// A fixed-capacity least-recently-used map, after elastic/go-freelru: entries live in one array
/// that never grows past `capacity`; buckets and the recency list link entries by index. `get`,
/// `add` and eviction are O(1) (expected; bucket chains average under one entry) and allocate
/// nothing once `init` has reserved the storage.
///
/// Invariants (checked by `checkInvariants()` in tests):
/// - `entries.count <= capacity`; every entry is in exactly one bucket chain and in the recency list.
/// - The recency list runs `newest` → `older` → … → `oldest`, and back through `newer`.
public struct LRUCache<Key: LRUCacheKey, Value> {
    @usableFromInline
    struct Entry {
        @usableFromInline var key: Key
        @usableFromInline var value: Value
        @usableFromInline var nextInBucket: Int32
        @usableFromInline var older: Int32
        @usableFromInline var newer: Int32

        @inlinable
        init(key: Key, value: Value, nextInBucket: Int32, older: Int32, newer: Int32) {
            self.key = key
            self.value = value
            self.nextInBucket = nextInBucket
            self.older = older
            self.newer = newer
        }
    }

    @usableFromInline static var none: Int32 { -1 }

    @usableFromInline var entries: [Entry]
    @usableFromInline var buckets: [Int32]
    @usableFromInline let bucketMask: UInt32
    @usableFromInline var newest: Int32 = LRUCache.none
    @usableFromInline var oldest: Int32 = LRUCache.none

    /// The most entries the cache holds; adding one more evicts the least recently used.
    public let capacity: Int

    /// - Precondition: `1 <= capacity <= Int32.max`. (`start` validates user input before this.)
    public init(capacity: Int) {
        precondition(capacity >= 1 && capacity <= Int(Int32.max), "LRUCache capacity \(capacity) out of range")
        self.capacity = capacity
        var bucketCount = 1
        while bucketCount < capacity { bucketCount <<= 1 }
        bucketMask = UInt32(bucketCount - 1)
        buckets = Array(repeating: LRUCache.none, count: bucketCount)
        entries = []
        entries.reserveCapacity(capacity)
    }

    /// The number of entries held.
    @inlinable public var count: Int { entries.count }

    /// The value for `key`, marking it most recently used; nil when absent.
    @inlinable
    public mutating func get(_ key: Key) -> Value? {
        let index = find(key)
        guard index != LRUCache.none else { return nil }
        moveToNewest(index)
        return entries.withUnsafeBufferPointer { $0[Int(index)].value }  // `find` found it there
    }

    /// The value for `key` without changing its recency.
    @inlinable
    public func peek(_ key: Key) -> Value? {
        let index = find(key)
        return index == LRUCache.none ? nil : entries[Int(index)].value
    }

    /// Whether `key` is held, without changing its recency.
    @inlinable
    public func contains(_ key: Key) -> Bool { find(key) != LRUCache.none }

    /// Sets `key` to `value` and marks it most recently used. When the cache is full and `key` is
    /// new, the least recently used entry is evicted. Returns true when an entry was evicted.
    @inlinable
    @discardableResult
    public mutating func add(_ key: Key, _ value: Value) -> Bool {
        let existing = find(key)
        if existing != LRUCache.none {
            entries[Int(existing)].value = value
            moveToNewest(existing)
            return false
        }
        let bucket = Int(key.bucketHash & bucketMask)
        if entries.count < capacity {
            let index = Int32(entries.count)
            entries.append(Entry(key: key, value: value, nextInBucket: buckets[bucket], older: newest, newer: LRUCache.none))
            buckets[bucket] = index
            linkAsNewest(index)
            return false
        }
        // Full: reuse the oldest entry's slot.
        let victim = oldest
        unlinkFromBucket(victim)
        unlink(victim)
        entries[Int(victim)] = Entry(key: key, value: value, nextInBucket: buckets[bucket], older: LRUCache.none, newer: LRUCache.none)
        buckets[bucket] = victim
        linkAsNewest(victim)
        return true
    }

    /// Keys from most to least recently used (allocates; for tests and diagnostics).
    public var keysNewestFirst: [Key] {
        var keys: [Key] = []
        var index = newest
        while index != LRUCache.none {
            keys.append(entries[Int(index)].key)
            index = entries[Int(index)].older
        }
        return keys
    }

    // The hit path (`find`, `moveToNewest`) reads and writes through unchecked buffer pointers:
    // every index it follows is one the cache stored, and the invariants above keep each one
    // below `entries.count` (`checkInvariants` checks them in tests). A hit then costs one
    // uniqueness check of `entries`, not one bounds and one uniqueness check per link it moves.

    @inlinable
    func find(_ key: Key) -> Int32 {
        let bucket = Int(key.bucketHash & bucketMask)
        return buckets.withUnsafeBufferPointer { buckets in
            entries.withUnsafeBufferPointer { entries in
                var index = buckets[bucket]
                while index != LRUCache.none {
                    if entries[Int(index)].key == key { return index }
                    index = entries[Int(index)].nextInBucket
                }
                return LRUCache.none
            }
        }
    }

    /// Makes the entry at `index` the most recently used: `unlink` and `linkAsNewest` fused for
    /// the hit path, where the entry is known not to be the newest (so something is newer, and the
    /// list is not empty): two branches and two stores fewer (11 instructions of a 64-instruction
    /// hit, `lru-get-hit`).
    @inlinable
    mutating func moveToNewest(_ index: Int32) {
        let previousNewest = newest
        guard index != previousNewest else { return }
        var oldest = self.oldest
        entries.withUnsafeMutableBufferPointer { entries in
            let moved = Int(index)
            let older = entries[moved].older
            let newer = entries[moved].newer  // an entry: `index` is not the newest
            if older != LRUCache.none { entries[Int(older)].newer = newer } else { oldest = newer }
            entries[Int(newer)].older = older
            entries[moved].older = previousNewest
            entries[moved].newer = LRUCache.none
            entries[Int(previousNewest)].newer = index
        }
        self.oldest = oldest
        newest = index
    }

    /// Puts an entry that is in no list at the newest end.
    @inlinable
    mutating func linkAsNewest(_ index: Int32) {
        var ends = (newest: newest, oldest: oldest)
        entries.withUnsafeMutableBufferPointer { Self.linkAsNewest(index, in: $0, ends: &ends) }
        (newest, oldest) = ends
    }

    /// Takes an entry out of the recency list.
    @inlinable
    mutating func unlink(_ index: Int32) {
        var ends = (newest: newest, oldest: oldest)
        entries.withUnsafeMutableBufferPointer { Self.unlink(index, in: $0, ends: &ends) }
        (newest, oldest) = ends
    }

    @inlinable
    static func linkAsNewest(_ index: Int32, in entries: UnsafeMutableBufferPointer<Entry>, ends: inout (newest: Int32, oldest: Int32)) {
        entries[Int(index)].older = ends.newest
        entries[Int(index)].newer = LRUCache.none
        if ends.newest != LRUCache.none { entries[Int(ends.newest)].newer = index }
        ends.newest = index
        if ends.oldest == LRUCache.none { ends.oldest = index }
    }

    @inlinable
    static func unlink(_ index: Int32, in entries: UnsafeMutableBufferPointer<Entry>, ends: inout (newest: Int32, oldest: Int32)) {
        let older = entries[Int(index)].older
        let newer = entries[Int(index)].newer
        if older != LRUCache.none { entries[Int(older)].newer = newer } else { ends.oldest = newer }
        if newer != LRUCache.none { entries[Int(newer)].older = older } else { ends.newest = older }
    }

    // Inlinable like the rest of the hot path: otherwise `add`, specialized in the caller's module,
    // calls the unspecialized generic copy of this one, which looks up metadata on every eviction.
    @inlinable
    mutating func unlinkFromBucket(_ index: Int32) {
        let bucket = Int(entries[Int(index)].key.bucketHash & bucketMask)
        let next = entries[Int(index)].nextInBucket
        if buckets[bucket] == index {
            buckets[bucket] = next
            return
        }
        var previous = buckets[bucket]
        while entries[Int(previous)].nextInBucket != index { previous = entries[Int(previous)].nextInBucket }
        entries[Int(previous)].nextInBucket = next
    }

    /// Traps when an invariant does not hold.
    public func checkInvariants() {
        precondition(entries.count <= capacity)
        var seen = 0
        var index = newest
        var newer = LRUCache.none
        while index != LRUCache.none {
            precondition(entries[Int(index)].newer == newer, "recency list back link broken at \(index)")
            precondition(find(entries[Int(index)].key) == index, "entry \(index) not found through its bucket")
            newer = index
            index = entries[Int(index)].older
            seen += 1
        }
        precondition(newer == oldest, "oldest is not the end of the recency list")
        precondition(seen == entries.count, "recency list holds \(seen) of \(entries.count) entries")
        var chained = 0
        for head in buckets {
            var i = head
            while i != LRUCache.none { chained += 1; i = entries[Int(i)].nextInBucket }
        }
        precondition(chained == entries.count, "bucket chains hold \(chained) of \(entries.count) entries")
    }
}

extension LRUCache: Sendable where Value: Sendable {}
extension LRUCache.Entry: Sendable where Value: Sendable {}
