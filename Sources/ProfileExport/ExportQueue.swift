/// The requests waiting to be sent, bounded in bytes: when an interval's requests do not fit,
/// whole intervals are dropped, oldest first — never the request being sent — and handed back
/// to be counted. (An interval split into several requests and partly sent already loses only
/// its remaining requests: it goes first, as the oldest.) A plain value; `ProfileExporter` keeps
/// it under its lock.
struct ExportQueue {
    /// One request of one interval.
    struct Request: Sendable {
        var interval: Int
        var bytes: [UInt8]
        var samples: UInt64
    }

    private var requests: [Request] = []
    private var head = 0
    /// Bytes of the requests held, the one being sent included.
    private(set) var bytes = 0
    /// Whether the first request is being sent (it is then never dropped).
    private(set) var isSending = false
    let limit: Int

    init(limit: Int) {
        self.limit = limit
    }

    var count: Int { requests.count - head }
    var isEmpty: Bool { count == 0 }

    /// Adds an interval's requests. Dropped to make room, oldest interval first: whole intervals
    /// not being sent, and the new interval itself if it cannot fit at all. Returns what was dropped.
    mutating func append(_ interval: [Request]) -> [Request] {
        let size = interval.reduce(0) { $0 + $1.bytes.count }
        let pinned = isSending ? requests[head].bytes.count : 0
        guard size <= limit - pinned else { return interval }
        var dropped: [Request] = []
        while bytes + size > limit {
            // The oldest interval not being sent: its requests run from the first droppable one.
            let first = head + (isSending ? 1 : 0)
            let victim = requests[first].interval
            var end = first
            while end < requests.count && requests[end].interval == victim { end += 1 }
            dropped += requests[first..<end]
            bytes -= requests[first..<end].reduce(0) { $0 + $1.bytes.count }
            requests.removeSubrange(first..<end)
        }
        requests += interval
        bytes += size
        return dropped
    }

    /// The first request, now marked as being sent; nil when empty.
    mutating func beginSending() -> Request? {
        guard head < requests.count else { return nil }
        isSending = true
        return requests[head]
    }

    /// Removes the request being sent (delivered, or refused for good).
    mutating func finishSending() {
        precondition(isSending, "no request is being sent")
        isSending = false
        bytes -= requests[head].bytes.count
        head += 1
        if head >= 64 && head * 2 >= requests.count {
            requests.removeFirst(head)
            head = 0
        }
    }

    /// The request being sent goes back to waiting (it will be sent again).
    mutating func stopSending() { isSending = false }

    /// Removes and returns everything (at shutdown).
    mutating func removeAll() -> [Request] {
        let all = Array(requests[head...])
        requests = []
        head = 0
        bytes = 0
        isSending = false
        return all
    }
}
