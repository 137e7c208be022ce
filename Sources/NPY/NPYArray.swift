import Foundation

/// Element types of `.npy` arrays that we read and write.
public enum DType: String, Sendable, CaseIterable {
    case f2, f4, f8, i1, i2, i4, i8, u1, u2, u4, u8, b1

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .i1, .u1, .b1: return 1
        case .f2, .i2, .u2: return 2
        case .f4, .i4, .u4: return 4
        case .f8, .i8, .u8: return 8
        }
    }
    public var isFloat: Bool { self == .f2 || self == .f4 || self == .f8 }
}

/// A decoded `.npy` array: its shape, element type, and payload in C order with
/// native (little-endian) byte order. Fortran-order and big-endian files are
/// normalised on read, so `data` can be reinterpreted directly.
public struct NPYArray: Sendable, Equatable {
    public var dtype: DType
    public var shape: [Int]
    /// Element bytes in C order, little-endian. Count = `count * dtype.size`.
    public var data: [UInt8]

    /// Number of elements (product of `shape`; 1 for shape `()`).
    public var count: Int { shape.reduce(1, *) }

    public init(dtype: DType, shape: [Int], data: [UInt8]) {
        self.dtype = dtype; self.shape = shape; self.data = data
    }

    /// A float32 array of the given shape. `values.count` must equal the shape's product.
    public init(floats values: [Float], shape: [Int]) {
        precondition(values.count == shape.reduce(1, *), "values do not fill shape")
        self.dtype = .f4; self.shape = shape
        self.data = values.withUnsafeBytes { Array($0) }
    }

    /// A float64 array of the given shape.
    public init(doubles values: [Double], shape: [Int]) {
        precondition(values.count == shape.reduce(1, *), "values do not fill shape")
        self.dtype = .f8; self.shape = shape
        self.data = values.withUnsafeBytes { Array($0) }
    }

    /// A signed 64-bit integer array of the given shape.
    public init(int64s values: [Int64], shape: [Int]) {
        precondition(values.count == shape.reduce(1, *), "values do not fill shape")
        self.dtype = .i8; self.shape = shape
        self.data = values.withUnsafeBytes { Array($0) }
    }

    /// Elements converted to `Double` (exact for every dtype except i8/u8 beyond 2^53).
    public func doubles() -> [Double] {
        let n = count
        var out = [Double](repeating: 0, count: n)
        data.withUnsafeBytes { raw in
            for i in 0..<n { out[i] = element(raw, i) }
        }
        return out
    }

    /// Elements converted to `Float` (rounded to nearest for f8 and wide integers).
    public func floats() -> [Float] {
        if dtype == .f4 {
            return data.withUnsafeBytes { raw in
                Array(raw.bindMemory(to: Float.self).prefix(count))
            }
        }
        let n = count
        var out = [Float](repeating: 0, count: n)
        data.withUnsafeBytes { raw in
            for i in 0..<n { out[i] = Float(element(raw, i)) }
        }
        return out
    }

    /// Elements as `Int64`; throws if any element is a non-integral or out-of-range float.
    public func int64s() throws -> [Int64] {
        let n = count
        var out = [Int64](repeating: 0, count: n)
        try data.withUnsafeBytes { raw in
            for i in 0..<n {
                switch dtype {
                case .i8: out[i] = raw.loadUnaligned(fromByteOffset: i * 8, as: Int64.self)
                case .u8:
                    let v = raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)
                    guard v <= UInt64(Int64.max) else {
                        throw NPYError.illegalValue(key: "element \(i)", value: "\(v) does not fit Int64")
                    }
                    out[i] = Int64(v)
                default:
                    let d = element(raw, i)
                    guard d.isFinite, d.rounded() == d, abs(d) < 9.2e18 else {
                        throw NPYError.illegalValue(key: "element \(i)", value: "\(d) is not an integer")
                    }
                    out[i] = Int64(d)
                }
            }
        }
        return out
    }

    @inline(__always)
    private func element(_ raw: UnsafeRawBufferPointer, _ i: Int) -> Double {
        switch dtype {
        case .f2: return Double(halfToFloat(raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)))
        case .f4: return Double(raw.loadUnaligned(fromByteOffset: i * 4, as: Float.self))
        case .f8: return raw.loadUnaligned(fromByteOffset: i * 8, as: Double.self)
        case .i1: return Double(raw.loadUnaligned(fromByteOffset: i, as: Int8.self))
        case .i2: return Double(raw.loadUnaligned(fromByteOffset: i * 2, as: Int16.self))
        case .i4: return Double(raw.loadUnaligned(fromByteOffset: i * 4, as: Int32.self))
        case .i8: return Double(raw.loadUnaligned(fromByteOffset: i * 8, as: Int64.self))
        case .u1: return Double(raw.loadUnaligned(fromByteOffset: i, as: UInt8.self))
        case .u2: return Double(raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))
        case .u4: return Double(raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))
        case .u8: return Double(raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))
        case .b1: return raw[i] != 0 ? 1 : 0
        }
    }
}

/// IEEE 754 binary16 → binary32, exact (subnormals, infinities and NaN included).
@inline(__always)
func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exp = Int((h >> 10) & 0x1F)
    let mant = UInt32(h & 0x3FF)
    if exp == 0 {
        let v = Float(mant) * Float(sign: .plus, exponent: -24, significand: 1)
        return sign != 0 ? -v : v
    }
    if exp == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13)) }
    return Float(bitPattern: sign | UInt32(exp + 112) << 23 | (mant << 13))
}
