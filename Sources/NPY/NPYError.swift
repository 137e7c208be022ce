/// Everything that can be wrong with a `.npy` or `.npz` file, precisely enough that a
/// user who hands us a broken file can read what is wrong and where.
public enum NPYError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The first six bytes are not `\x93NUMPY`.
    case badMagic
    /// A format version other than 1.0, 2.0 or 3.0.
    case unsupportedVersion(major: UInt8, minor: UInt8)
    /// The file ends inside the preamble or the header (`needed` bytes, `found` present).
    case truncatedHeader(needed: Int, found: Int)
    /// The header length field exceeds the limit we accept (bytes).
    case headerTooLong(Int)
    /// The header is not a Python dict literal we understand; `at` is a byte offset into it.
    case malformedHeader(String, at: Int)
    case missingKey(String)
    case unknownKey(String)
    case duplicateKey(String)
    /// A key with a value of the wrong kind or an impossible value.
    case illegalValue(key: String, value: String)
    /// A `descr` we do not read (`|O` pickles, strings, structured dtypes, ...).
    case unsupportedDType(String)
    /// The shape's element or byte count overflows, or exceeds the caller's limit.
    case sizeOverflow(shape: [Int])
    /// Fewer data bytes than the header's shape and dtype need.
    case truncatedData(expected: Int, found: Int)
    /// More bytes after the data than the header accounts for.
    case trailingData(expected: Int, found: Int)
    /// The array does not have the shape or kind the caller asked for.
    case shapeMismatch(expected: String, found: [Int])
    /// A ZIP (`.npz`) container problem, with the member name when known.
    case badZip(String)
    /// A problem inside one member of an `.npz`.
    case inMember(String, NPYErrorBox)
    case memberNotFound(String)
    case io(String)

    /// The case name without payload, e.g. `"badMagic"`: stable, for logs and tests.
    public var kind: String {
        let m = Mirror(reflecting: self)
        if let label = m.children.first?.label { return label }
        return "\(self)" == "\(NPYError.badMagic)" ? "badMagic" : "unknown"
    }

    public var description: String {
        switch self {
        case .badMagic: return "not a .npy file: bad magic string (expected \\x93NUMPY)"
        case let .unsupportedVersion(a, b): return "unsupported .npy format version \(a).\(b) (1.0, 2.0 and 3.0 are read)"
        case let .truncatedHeader(n, f): return "truncated .npy header: needs \(n) bytes, file has \(f)"
        case let .headerTooLong(n): return ".npy header too long: \(n) bytes"
        case let .malformedHeader(m, at): return "malformed .npy header at byte \(at): \(m)"
        case let .missingKey(k): return ".npy header is missing key '\(k)'"
        case let .unknownKey(k): return ".npy header has unknown key '\(k)'"
        case let .duplicateKey(k): return ".npy header has duplicate key '\(k)'"
        case let .illegalValue(k, v): return ".npy header key '\(k)' has illegal value \(v)"
        case let .unsupportedDType(d):
            if d.contains("O") { return "unsupported dtype '\(d)': object arrays (pickles) are refused" }
            return "unsupported dtype '\(d)' (numeric f2/f4/f8, i1-i8, u1-u8 and b1 are read)"
        case let .sizeOverflow(s): return "array shape \(s) is too large"
        case let .truncatedData(e, f): return "truncated .npy data: header needs \(e) bytes, file has \(f)"
        case let .trailingData(e, f): return ".npy data has \(f - e) unexpected trailing bytes (expected \(e))"
        case let .shapeMismatch(e, f): return "array has shape \(f), expected \(e)"
        case let .badZip(m): return "bad .npz (zip) file: \(m)"
        case let .inMember(n, e): return "in .npz member '\(n)': \(e.error)"
        case let .memberNotFound(n): return ".npz has no member '\(n)'"
        case let .io(m): return m
        }
    }
}

/// Boxes a nested error so `NPYError` can stay a value type.
public final class NPYErrorBox: Equatable, Sendable {
    public let error: NPYError
    public init(_ e: NPYError) { error = e }
    public static func == (a: NPYErrorBox, b: NPYErrorBox) -> Bool { a.error == b.error }
}
