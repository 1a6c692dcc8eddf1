internal import CLinuxShims
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A named OS thread, optionally pinned to CPUs, that runs one closure and is joined once.
///
/// Pinning happens on the new thread before the closure runs, and `spawn` returns only after it: a
/// CPU that cannot be used fails `spawn` with the kernel's error instead of leaving the thread to
/// run unpinned.
public final class WorkerThread: @unchecked Sendable {
    // The pthread handle is written once by `spawn` before any other access; `join` takes it once.
    private var handle: pthread_t
    private let joined = Atomic<Bool>(false)

    private init(handle: pthread_t) { self.handle = handle }

    /// Starts `body` on a new thread named `name`, pinned to `cpus` (nil or empty: not pinned).
    public static func spawn(name: String, cpus: [Int]?, body: @escaping @Sendable () -> Void) throws(SystemError) -> WorkerThread {
        let start = ThreadStart(name: name, cpus: cpus ?? [], body: body)
        let context = Unmanaged.passRetained(start).toOpaque()
        var handle = pthread_t()
        let created = pthread_create(&handle, nil, { raw in
            let start = Unmanaged<ThreadStart>.fromOpaque(raw!).takeRetainedValue()
            start.run()
            return nil
        }, context)
        guard created == 0 else {
            Unmanaged<ThreadStart>.fromOpaque(context).release()
            throw SystemError("pthread_create", errno: created)
        }
        let thread = WorkerThread(handle: handle)
        let pinResult = start.awaitPinned()
        if pinResult != 0 {
            thread.join()
            throw SystemError("pthread_setaffinity_np(\(name), cpus \(cpus ?? []))", errno: -pinResult)
        }
        return thread
    }

    /// Waits for the thread to finish. Joining twice is a programming error.
    public func join() {
        precondition(!joined.exchange(true, ordering: .acquiringAndReleasing), "WorkerThread joined twice")
        pthread_join(handle, nil)
    }

    /// Lets the thread end on its own; it can no longer be joined.
    public func detach() {
        precondition(!joined.exchange(true, ordering: .acquiringAndReleasing), "WorkerThread detached after join")
        pthread_detach(handle)
    }

    /// The CPUs the calling thread may run on (its affinity mask): the CPUs a configuration may name.
    public static func allowedCPUs() -> [Int] {
        var cpus = [Int32](repeating: 0, count: 4096)
        let count = th_current_thread_cpus(&cpus, Int32(cpus.count))
        return cpus.prefix(Int(count)).map(Int.init)
    }
}

/// What the new thread needs, and the hand-shake that reports its pinning back to `spawn`.
private final class ThreadStart: Sendable {
    let name: String
    let cpus: [Int]
    let body: @Sendable () -> Void
    /// 0 while pinning is pending; then 1 (pinned or not asked) or 2 (failed, see `pinError`).
    let state = Atomic<UInt32>(0)
    let pinError = Atomic<Int32>(0)

    init(name: String, cpus: [Int], body: @escaping @Sendable () -> Void) {
        self.name = name
        self.cpus = cpus
        self.body = body
    }

    func run() {
        th_set_current_thread_name(name)
        var result: Int32 = 0
        if !cpus.isEmpty {
            let cpus32 = cpus.map(Int32.init)
            result = cpus32.withUnsafeBufferPointer { th_pin_current_thread($0.baseAddress, Int32($0.count)) }
        }
        pinError.store(result, ordering: .relaxed)
        state.store(result == 0 ? 1 : 2, ordering: .releasing)  // pairs with the acquiring load in awaitPinned
        Futex.wake(state)
        if result == 0 { body() }
    }

    /// Returns 0 once the thread is pinned, or the negative errno pinning failed with.
    func awaitPinned() -> Int32 {
        while state.load(ordering: .acquiring) == 0 {
            _ = Futex.wait(state, expected: 0, timeout: .milliseconds(100))
        }
        return pinError.load(ordering: .relaxed)
    }
}

extension WorkerThread {
    /// Runs blocking `body` on a thread of its own and hands its result to the awaiting task.
    ///
    /// Swift's cooperative pool has one thread per core (two here): blocking one of them for long
    /// (joining threads, spinning on a ring) starves every task that shares the pool.
    public static func run<T: Sendable>(name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            do {
                try WorkerThread.spawn(name: name, cpus: nil) {
                    continuation.resume(with: Result { try body() })
                }.detach()
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }
}
