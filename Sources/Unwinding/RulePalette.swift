/// A table build's distinct rules, each numbered once: a file's rows use a few hundred (302 in
/// glibc, 312 in gdb), so a row holds a 16-bit index instead of its 8-byte rule. Rules past the
/// 65 535th, only in crafted CFI, all become one `unsupported(.tooManyRules)`, which unwinds no
/// frame.
struct RulePalette {
    /// `noRule` first: gaps between FDEs keep index 0 however many other rules come.
    private(set) var rules: [UnwindRule] = [.noRule]
    private var indices: [UnwindRule: UInt16] = [.noRule: 0]

    /// `noRule`'s index.
    static let noRuleIndex: UInt16 = 0

    subscript(index: UInt16) -> UnwindRule { rules[Int(index)] }

    mutating func index(of rule: UnwindRule) -> UInt16 {
        if let index = indices[rule] { return index }
        // The last index is kept for the rule that stands in for all the others.
        var rule = rule
        if rules.count >= Int(UInt16.max) {
            rule = UnwindRule(cfa: .unsupported(.tooManyRules))
            if let index = indices[rule] { return index }
        }
        let index = UInt16(rules.count)
        rules.append(rule)
        indices[rule] = index
        return index
    }
}
