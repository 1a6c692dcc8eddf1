#if canImport(Glibc)
import Glibc
#endif

/// Runs an async operation to completion from synchronous code (libFuzzer calls the harness on
/// its own thread, outside any task). The operation runs on the global executor while this
/// thread waits on a semaphore, so it never needs the blocked thread.
public func runBlocking<Success: Sendable, Failure: Error>(
    _ operation: @escaping @Sendable () async throws(Failure) -> Success
) -> Result<Success, Failure> {
    let box = ResultBox<Success, Failure>()
    Task {
        do throws(Failure) {
            box.result = .success(try await operation())
        } catch {
            box.result = .failure(error)
        }
        box.signal()
    }
    box.wait()
    return box.result!
}

/// The result, handed over through a semaphore: its post/wait order the write before the read.
private final class ResultBox<Success, Failure: Error>: @unchecked Sendable {
    var result: Result<Success, Failure>?
    // Allocated, not a stored `sem_t`: a semaphore must not move, and `&property` is only a
    // temporary pointer.
    private let semaphore = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)

    init() { sem_init(semaphore, 0, 0) }

    deinit {
        sem_destroy(semaphore)
        semaphore.deallocate()
    }

    func signal() { sem_post(semaphore) }
    func wait() { while sem_wait(semaphore) != 0 && errno == EINTR {} }
}
