import Synchronization
public import TraceModel

#if canImport(Glibc)
import Glibc
#endif

/// Carries what a processor learns about executable files (`ExecutableReporter`) to the engine's
/// report stage, which hands it to the reporter: so that the report thread stays the reporter's
/// only caller, although symbolize workers learn of files. Give the same queue to the processor
/// (as its `ExecutableReporter`) and to the engine (`StagedEngine(…, executables:)`).
///
/// Bounded: at most `capacity` entries wait (a processor reports a file once per process that
/// maps it, and the report stage takes them every round); beyond that an entry is dropped and
/// counted (`dropped`): the reporter then lacks that file's name and build id.
public final class ExecutableQueue: ExecutableReporter, @unchecked Sendable {
    // @unchecked: `pending` is used only under `locked` (a spin lock on an atomic). Not `Mutex`:
    // its futex is invisible to ThreadSanitizer, which CI runs the engine's tests under; the
    // critical sections are an append or a swap, and reports are rare (once per file and process).
    private let lockWord = Atomic<Bool>(false)
    private var pending: [ExecutableMetadata] = []
    private let waiting = Atomic<Int>(0)
    private let droppedCount = Atomic<UInt64>(0)
    /// Entries that may wait at once. Default 4096.
    public let capacity: Int

    /// An empty queue.
    /// - Precondition: `capacity` > 0.
    public init(capacity: Int = 4096) {
        precondition(capacity > 0, "an executable queue needs room")
        self.capacity = capacity
    }

    /// Queues `metadata` for the report stage (from any thread).
    public func reportExecutable(_ metadata: ExecutableMetadata) {
        let queued = locked { () -> Bool in
            guard pending.count < capacity else { return false }
            pending.append(metadata)
            return true
        }
        if queued {
            waiting.add(1, ordering: .releasing)
        } else {
            droppedCount.add(1, ordering: .relaxed)
        }
    }

    /// Entries dropped because `capacity` were waiting.
    public var dropped: UInt64 { droppedCount.load(ordering: .relaxed) }

    /// Whether `drain(into:)` has anything to pass on: one atomic load, for the report loop's rounds.
    var hasWaiting: Bool { waiting.load(ordering: .acquiring) > 0 }

    /// Hands every waiting entry to `reporter`, in order. A load when none waits: the report stage
    /// calls this every round.
    func drain(into reporter: any ExecutableReporter) {
        guard hasWaiting else { return }
        let taken = locked { () -> [ExecutableMetadata] in
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        waiting.subtract(taken.count, ordering: .relaxed)
        for metadata in taken { reporter.reportExecutable(metadata) }
    }

    private func locked<T>(_ body: () -> T) -> T {
        while !lockWord.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged {
            sched_yield()
        }
        defer { lockWord.store(false, ordering: .releasing) }
        return body()
    }
}
