#if canImport(Glibc)
import Glibc
#endif

/// A pthread reader-writer lock that prefers writers: any number of readers at once, or one writer.
///
/// For caches that many threads consult and few fill (the symbolizer's): readers do not wait for
/// one another, and a writer waiting for the readers to leave keeps new ones out, so fills are
/// not starved by a steady stream of lookups.
///
/// Invariants of the unsafe storage: the lock lives in memory allocated here, never moved (a
/// pthread lock must not be), initialized once in `init` and destroyed once in `deinit`, when no
/// thread can hold it (the last reference is gone).
public final class ReadWriteLock: @unchecked Sendable {
    // @unchecked: the pthread lock is the synchronization; the pointer itself never changes.
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>

    public init() {
        lock = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)
        lock.initialize(to: pthread_rwlock_t())
        var attributes = pthread_rwlockattr_t()
        pthread_rwlockattr_init(&attributes)
        // Only the writer-preferring kind keeps lookups from starving fills (glibc's default
        // prefers readers). Non-recursive: a reader must not take the lock again while a writer waits.
        pthread_rwlockattr_setkind_np(&attributes, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
        let status = pthread_rwlock_init(lock, &attributes)
        pthread_rwlockattr_destroy(&attributes)
        precondition(status == 0, "pthread_rwlock_init: \(status)")
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    /// Runs `body` holding the lock shared with other readers.
    public func withReadLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        let status = pthread_rwlock_rdlock(lock)
        precondition(status == 0, "pthread_rwlock_rdlock: \(status)")  // EDEADLK: taken again while a writer waits
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }

    /// Runs `body` holding the lock alone.
    public func withWriteLock<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        let status = pthread_rwlock_wrlock(lock)
        precondition(status == 0, "pthread_rwlock_wrlock: \(status)")  // EDEADLK: this thread holds it already
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }
}
