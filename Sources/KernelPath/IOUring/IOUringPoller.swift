internal import CSystemLibraries
internal import CLinuxShims
import LinuxSystem

#if canImport(Glibc)
import Glibc
#endif

/// The poll stage's wait: an io_uring with a multishot `POLL_ADD` on every kernel buffer's fd and
/// on an eventfd that `wake()` writes. Owns the ring and the eventfd.
///
/// A multishot poll on a perf fd posts a completion at every wakeup without being re-armed; on a
/// BPF ring buffer fd wakeups are edge-triggered (see `BPFRingBufferReader`), so the caller must
/// drain, fence and re-check after each completion — `KernelBuffers.drain` does. A poll the kernel
/// ends (no `IORING_CQE_F_MORE`) is armed again.
///
/// The polls are armed by `armAll()` on the thread that then waits, not where the ring is made:
/// io_uring runs a request's completion work on the task that submitted it and flags that task
/// as if a signal were pending (TIF_NOTIFY_SIGNAL). Armed from another thread, every wakeup of a
/// buffer would mark that thread, and a BPF program load on it would be abandoned (EAGAIN) by a
/// verifier that sees a "pending signal".
final class IOUringPoller {
    private let ring: OwnedIOUring
    private let fds: [Int32]
    private let eventFD: OwnedFileDescriptor
    private var armed = false
    /// The ring was made with DEFER_TASKRUN and starts disabled (see `OwnedIOUring`).
    private let deferredTaskRun: Bool
    /// The thread that armed the polls: the only one that may wait (the ring's single issuer).
    private var waiter: Int32 = 0

    /// `user_data` of the eventfd's poll; buffer polls carry their index.
    private static let wakeTag = UInt64.max

    init(pollFDs: [Int32]) throws(KernelPathError) {
        let rawEventFD = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        guard rawEventFD >= 0 else { throw .system(SystemError("eventfd", errno: errno)) }
        let eventFD = OwnedFileDescriptor(taking: rawEventFD)
        var entries: UInt32 = 8
        while entries < UInt32(pollFDs.count + 1) { entries *= 2 }
        let ring = try OwnedIOUring(entries: entries)
        // Nothing fails past this point: every stored property is set only now.
        fds = pollFDs
        deferredTaskRun = ring.deferredTaskRun
        self.eventFD = eventFD
        self.ring = ring
    }

    /// Arms every poll; call it on the thread that will `wait`, before the first wait. That thread
    /// stays the only one that waits.
    func armAll() {
        guard !armed else { return }
        armed = true
        // This thread becomes the ring's single issuer. Should enabling fail, the polls simply
        // never complete and the wait's timeout still drains every buffer.
        if deferredTaskRun { _ = th_io_uring_enable_rings(ring.pointer.pointee.ring_fd) }
        waiter = th_gettid()
        for (index, fd) in fds.enumerated() { arm(fd, tag: UInt64(index)) }
        arm(eventFD.rawValue, tag: Self.wakeTag)
        _ = io_uring_submit(ring.pointer)  // a failed submit shows as no completions: the wait's timeout still drains
    }

    private func arm(_ fd: Int32, tag: UInt64) {
        // The ring has room for every poll (one entry per fd, sized above).
        guard let sqe = io_uring_get_sqe(ring.pointer) else { preconditionFailure("io_uring submission queue full") }
        io_uring_prep_poll_multishot(sqe, fd, UInt32(POLLIN))
        io_uring_sqe_set_data64(sqe, tag)
    }

    /// Wakes a `wait` in progress (or the next one) from any thread.
    func wake() {
        var one: UInt64 = 1
        _ = write(eventFD.rawValue, &one, 8)
    }

    /// Waits up to `timeout` for readiness; marks `ready[index]` for each buffer whose poll
    /// completed. Returns true when `wake()` was called.
    func wait(timeout: Duration, ready: inout [Bool]) -> Bool {
        // Misuse, caught in debug builds: a ring with a single issuer refuses waits from others.
        assert(waiter == th_gettid(), "IOUringPoller.wait called on a thread other than the one that armed it")
        var cqe: UnsafeMutablePointer<io_uring_cqe>?
        let (seconds, attoseconds) = timeout.components
        var ts = __kernel_timespec(tv_sec: seconds, tv_nsec: attoseconds / 1_000_000_000)
        let result = io_uring_wait_cqe_timeout(ring.pointer, &cqe, &ts)
        guard result == 0 else { return false }  // -ETIME (timeout) or -EINTR: look at the buffers anyway
        var woken = false
        var rearm = false
        while io_uring_peek_cqe(ring.pointer, &cqe) == 0, let completion = cqe {
            let tag = io_uring_cqe_get_data64(completion)
            let more = completion.pointee.flags & UInt32(IORING_CQE_F_MORE) != 0
            if tag == Self.wakeTag {
                woken = true
                var count: UInt64 = 0
                _ = read(eventFD.rawValue, &count, 8)
                if !more { arm(eventFD.rawValue, tag: Self.wakeTag); rearm = true }
            } else if tag < UInt64(fds.count) {
                ready[Int(tag)] = true
                if !more { arm(fds[Int(tag)], tag: tag); rearm = true }
            }
            io_uring_cqe_seen(ring.pointer, completion)
        }
        if rearm { _ = io_uring_submit(ring.pointer) }
        return woken
    }
}

/// An initialised io_uring, with one owner: `init` owns nothing until the kernel has made the
/// ring, and `deinit` tears down only a ring that exists (`io_uring_queue_exit` on a ring whose
/// setup failed would unmap and close what was never there).
struct OwnedIOUring: ~Copyable {
    let pointer: UnsafeMutablePointer<io_uring>
    /// Made with DEFER_TASKRUN | SINGLE_ISSUER and disabled: the waiting thread enables it.
    let deferredTaskRun: Bool

    init(entries: UInt32) throws(KernelPathError) {
        let pointer = UnsafeMutablePointer<io_uring>.allocate(capacity: 1)
        // DEFER_TASKRUN (6.1): completion work is queued on the ring and done only when the waiting
        // thread asks for completions, with no task-work notification at all. It needs a single
        // issuer, so the ring starts disabled and `armAll` enables it on the thread that waits.
        // Older kernels refuse the flags: then COOP_TASKRUN (5.19; completion work waits for the
        // waiting thread's next entry), then none.
        var result = io_uring_queue_init(
            entries, pointer, UInt32(IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_R_DISABLED))
        let deferredTaskRun = result == 0
        if result == -EINVAL { result = io_uring_queue_init(entries, pointer, UInt32(IORING_SETUP_COOP_TASKRUN)) }
        if result == -EINVAL { result = io_uring_queue_init(entries, pointer, 0) }
        guard result == 0 else {
            pointer.deallocate()
            throw .failed("io_uring_queue_init", errno: -result, needs: "io_uring (kernel.io_uring_disabled = 0)")
        }
        self.pointer = pointer
        self.deferredTaskRun = deferredTaskRun
    }

    deinit {
        io_uring_queue_exit(pointer)
        pointer.deallocate()
    }
}
