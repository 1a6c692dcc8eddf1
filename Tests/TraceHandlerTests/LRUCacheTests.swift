import Testing
import TraceHandler
import TraceModel

@Suite struct LRUCacheTests {
    typealias Key = HostTraceHash

    static func key(_ n: UInt64) -> Key { Key(rawValue: n) }

    @Test func evictsTheLeastRecentlyUsedAtCapacity() {
        var cache = LRUCache<Key, Int>(capacity: 3)
        let result1 = cache.add(Self.key(1), 1)
        #expect(!result1)
        let result2 = cache.add(Self.key(2), 2)
        #expect(!result2)
        let result3 = cache.add(Self.key(3), 3)
        #expect(!result3)
        #expect(cache.get(Self.key(1)) == 1)  // 1 is now the newest; 2 the oldest
        let result4 = cache.add(Self.key(4), 4)
        #expect(result4)
        #expect(cache.peek(Self.key(2)) == nil)
        #expect(cache.keysNewestFirst == [4, 1, 3].map(Self.key))
        #expect(cache.count == 3)
        cache.checkInvariants()
    }

    @Test func addingAnExistingKeyUpdatesWithoutEvicting() {
        var cache = LRUCache<Key, Int>(capacity: 2)
        cache.add(Self.key(1), 1)
        cache.add(Self.key(2), 2)
        let result5 = cache.add(Self.key(1), 10)
        #expect(!result5)
        #expect(cache.keysNewestFirst == [1, 2].map(Self.key))
        #expect(cache.peek(Self.key(1)) == 10)
        cache.checkInvariants()
    }

    @Test func peekDoesNotRefresh() {
        var cache = LRUCache<Key, Int>(capacity: 2)
        cache.add(Self.key(1), 1)
        cache.add(Self.key(2), 2)
        _ = cache.peek(Self.key(1))
        cache.add(Self.key(3), 3)
        #expect(!cache.contains(Self.key(1)))
    }

    @Test func capacityOneKeepsOnlyTheNewest() {
        var cache = LRUCache<Key, Int>(capacity: 1)
        cache.add(Self.key(1), 1)
        let result6 = cache.add(Self.key(2), 2)
        #expect(result6)
        let result7 = cache.get(Self.key(1))
        #expect(result7 == nil)
        let result8 = cache.get(Self.key(2))
        #expect(result8 == 2)
        cache.checkInvariants()
    }

    /// Random operations against a plain array model, with keys that collide in buckets.
    @Test(arguments: [1, 2, 7, 64]) func matchesAReferenceModel(capacity: Int) {
        var cache = LRUCache<Key, UInt64>(capacity: capacity)
        var model: [(key: Key, value: UInt64)] = []  // newest first
        var random: UInt64 = 0x1234_5678
        for step in 0..<20_000 {
            random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            // Keys 0..<3*capacity, shifted so several share low bits (and so a bucket).
            let key = Self.key((random >> 33) % UInt64(3 * capacity) << 20)
            if random & 1 == 0 {
                let got = cache.get(key)  // mutating: not inside #expect
                if let i = model.firstIndex(where: { $0.key == key }) {
                    #expect(got == model[i].value)
                    model.insert(model.remove(at: i), at: 0)
                } else {
                    #expect(got == nil)
                }
            } else {
                let value = UInt64(step)
                let evicted = cache.add(key, value)
                if let i = model.firstIndex(where: { $0.key == key }) {
                    model.remove(at: i)
                    #expect(!evicted)
                } else {
                    #expect(evicted == (model.count == capacity))
                    if model.count == capacity { model.removeLast() }
                }
                model.insert((key, value), at: 0)
            }
            if step % 1000 == 0 { cache.checkInvariants() }
        }
        cache.checkInvariants()
        #expect(cache.keysNewestFirst == model.map(\.key))
    }
}
