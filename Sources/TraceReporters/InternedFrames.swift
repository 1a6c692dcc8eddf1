import TraceModel

/// The frames of the traces a reporter keeps, each distinct frame stored once and each name once:
/// a kept trace is then an array of frame ids (4 bytes a frame) instead of a converted `Trace`
/// (its columns and one `String` a frame, several KiB a trace). Under process churn a profile
/// keeps up to `output.max-stacks` traces whose frames are mostly the same few thousand, so this
/// is what keeps a profile's memory a small part of the agent's.
///
/// A frame keeps everything the outputs print of it: its type, file, address, mapping and name
/// (the symbol, or `0x…` of the address when the frame has none).
struct InternedFrames: Sendable {
    struct Frame: Hashable, Sendable {
        var type: FrameType
        var file: FileID
        var address: UInt64
        var mappingStart: UInt64
        var mappingEnd: UInt64
        var mappingFileOffset: UInt64
        /// An index into `names`.
        var name: UInt32
    }

    private(set) var frames: [Frame] = []
    private var frameIDs: [Frame: UInt32] = [:]
    private(set) var names: [String] = []
    private var nameIDs: [String: UInt32] = [:]

    /// The ids of `trace`'s frames, leaf first (the trace's order).
    mutating func intern(_ trace: Trace) -> [UInt32] {
        (0..<trace.frameCount).map { index in
            let address = trace.linenos[index]
            let frame = Frame(
                type: trace.frameTypes[index], file: trace.files[index], address: address,
                mappingStart: trace.mappingStarts[index], mappingEnd: trace.mappingEnds[index],
                mappingFileOffset: trace.mappingFileOffsets[index],
                name: name(trace.symbols[index] ?? "0x" + String(address, radix: 16)))
            return id(of: frame)
        }
    }

    /// The id here of frame `id` of `other`: how a reporter moves the frames it still uses into
    /// fresh storage, leaving behind those of traces it no longer keeps.
    mutating func intern(_ id: UInt32, of other: InternedFrames) -> UInt32 {
        let (frame, text) = other[id]
        var moved = frame
        moved.name = name(text)
        return self.id(of: moved)
    }

    private mutating func id(of frame: Frame) -> UInt32 {
        if let id = frameIDs[frame] { return id }
        let id = UInt32(frames.count)
        frames.append(frame)
        frameIDs[frame] = id
        return id
    }

    /// The frame with id `id`, and its name.
    subscript(id: UInt32) -> (frame: Frame, name: String) {
        let frame = frames[Int(id)]
        return (frame, names[Int(frame.name)])
    }

    private mutating func name(_ text: String) -> UInt32 {
        if let id = nameIDs[text] { return id }
        let id = UInt32(names.count)
        names.append(text)
        nameIDs[text] = id
        return id
    }
}
