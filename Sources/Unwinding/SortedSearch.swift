extension UnsafeBufferPointer where Element: FixedWidthInteger {
    /// In ascending elements, the index of the last element ≤ `value`, or nil. Branch-free: the
    /// loop runs log2(count) times whatever the data, and each step compiles to a conditional
    /// move, not a branch the CPU mispredicts half the time.
    ///
    /// `@inlinable`: the per-frame search of the unwinder and of the symbolizer (another module),
    /// a dozen instructions that a call would double.
    @inlinable
    public func lastIndex(atOrBelow value: Element) -> Int? {
        guard !isEmpty else { return nil }
        var base = 0
        var remaining = count
        while remaining > 1 {
            let half = remaining / 2
            base = self[base + half] <= value ? base + half : base
            remaining -= half
        }
        return self[base] <= value ? base : nil
    }
}
