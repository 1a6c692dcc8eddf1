import LinuxSystem
import TraceModel  // KTime
import Synchronization

#if canImport(Glibc)
import Glibc  // sched_yield
#endif

/// How a stage waits when it has nothing to do (or no room to do it): spin, then yield the CPU,
/// then park on its doorbell until another stage rings it or `parkTimeout` passes.
public struct WaitStrategy: Hashable, Sendable {
    /// Polls before the first yield; each is a few nanoseconds. Default 32: on a machine with
    /// fewer CPUs than engine threads a spinning stage takes the CPU a working one needs
    /// (`tracehandler-bench synthetic`, 2 cores: 1.67 M traces/s with 32, 1.23 M with 512).
    public var spins: Int
    /// `sched_yield` calls before parking, while parks are short (see `Idler`).
    public var yields: Int
    /// The longest a parked stage sleeps without being rung: a safety net, not the wake-up path.
    public var parkTimeout: Duration

    /// Defaults 32 spins, 8 yields and a 250 ms park timeout (`wait.spins`, `wait.yields`,
    /// `wait.park-timeout-ms`). Every wake-up comes from a doorbell; each timeout costs an idle
    /// stage a context switch and its spins (at 20 ms, two idle stages took 0.45 % of a CPU).
    public init(spins: Int = 32, yields: Int = 8, parkTimeout: Duration = .milliseconds(250)) {
        self.spins = spins
        self.yields = yields
        self.parkTimeout = parkTimeout
    }
}

/// One per stage: the futex word it parks on. Whoever gives a stage work or room rings its bell.
///
/// Dekker's pattern: the sleeper stores `parked = 1`, full fence, re-checks its rings; the ringer
/// publishes (a releasing ring store), full fence, loads `parked`. With both fences one of them must
/// see the other's store, so a wake-up is never lost. Ringing costs a fence and a load when the
/// stage is awake; stages ring once per batch, not per item.
final class Doorbell: Sendable {
    private let parked = Atomic<UInt32>(0)

    func ring() {
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        wakeIfParked()
    }

    /// Rings several bells behind one fence.
    static func ring(_ bells: [Doorbell]) {
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        for bell in bells { bell.wakeIfParked() }
    }

    fileprivate func wakeIfParked() {
        if parked.load(ordering: .relaxed) != 0 {
            parked.store(0, ordering: .relaxed)
            Futex.wake(parked)
        }
    }

    /// Parks until rung or `timeout`, unless `ready()` turns true after announcing the park.
    func park(timeout: Duration, unless ready: () -> Bool) {
        parked.store(1, ordering: .relaxed)
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        if !ready() {
            _ = Futex.wait(parked, expected: 1, timeout: timeout)
        }
        parked.store(0, ordering: .relaxed)
    }
}

/// The bells a stage owes: marked as it gives a neighbour work or room, rung together behind one
/// fence once per batch. Ringing only these matters: a woken stage with nothing to do spins and
/// yields before it parks again, CPU time taken from the stages that have work.
struct PendingBells {
    private let bells: [Doorbell]
    /// Bit i set: `bells[i]` is owed a ring.
    private var pending: UInt64 = 0

    init(_ bells: [Doorbell]) {
        precondition(bells.count <= 64, "at most 64 neighbours")
        self.bells = bells
    }

    mutating func mark(_ index: Int) { pending |= 1 << UInt64(index) }

    mutating func ringPending() {
        guard pending != 0 else { return }
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        var bits = pending
        while bits != 0 {
            bells[bits.trailingZeroBitCount].wakeIfParked()
            bits &= bits - 1
        }
        pending = 0
    }

    /// Rings every neighbour: when the stage finishes, all of them must see it.
    mutating func ringAll() {
        pending = 0
        Doorbell.ring(bells)
    }
}

/// A stage's progress through the wait strategy while it finds nothing to do.
///
/// Yielding pays only while work comes back within a few microseconds (a flat-out load on an idle
/// machine): then a yield returns at once and the stage avoids a futex round trip. When work comes
/// in batches milliseconds apart, as from the kernel's buffers, every yield on a busy CPU is two
/// context switches and hands the CPU to another task, for nothing (on two CPUs kept busy, the
/// agent's yields were an eighth of its CPU: design/performance.md). So the stage times its parks:
/// after a long one it parks straight after spinning, until a short one shows work coming back
/// fast again.
struct Idler {
    let strategy: WaitStrategy
    let doorbell: Doorbell
    private var rounds = 0
    /// The last park ended within `shortParkNanoseconds`, so yielding would likely have found the work.
    private var yieldsPay = true

    /// The longest park, in nanoseconds, after which yielding is still worth trying: several
    /// times what the default 8 yields take on an idle CPU. (Timed with `KTime`, not
    /// `ContinuousClock`: the idle step is inlined into the stages' hot paths, and a resilient
    /// `ContinuousClock.Instant` there made every call of them ask the runtime for its layout.)
    static let shortParkNanoseconds: UInt64 = 50_000

    init(_ strategy: WaitStrategy, doorbell: Doorbell) {
        self.strategy = strategy
        self.doorbell = doorbell
    }

    mutating func workDone() { rounds = 0 }

    /// One idle step: spin, yield or park, by how long the stage has been idle.
    mutating func idle(ready: () -> Bool) {
        rounds += 1
        if rounds <= strategy.spins { return }
        if yieldsPay && rounds <= strategy.spins + strategy.yields {
            sched_yield()
            return
        }
        let parked = KTime.now()
        doorbell.park(timeout: strategy.parkTimeout, unless: ready)
        yieldsPay = KTime.now().rawValue &- parked.rawValue < Self.shortParkNanoseconds
    }
}
