import Foundation
import Model
import NPY

/// The authors' TF graph's test vectors (`Tests/ModelTests/Fixtures`, copied from
/// ../shared/fixtures/tf-parity), shared by the Model and Training test targets.
public enum TF {
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("ModelTests/Fixtures")
    public static func path(_ p: String) -> String { root.appendingPathComponent(p).path }
    public static func npy(_ p: String) -> NPYArray { try! NPY.read(path: path(p)) }
    public static func npz(_ p: String) -> [String: NPYArray] { try! NPZ.read(path: path(p)) }
    public static let tensors = TensorSet(npz("weights.npz"))
    public static let network = try! SSLNetwork(tensors: tensors)
    public static let inputs = npy("inputs.npy").floats()  // (8, 2560)
    public static let embedding = npy("embedding.npy").floats()  // (8, 128)
    public static let taskLogits = npy("task_logits.npy").floats()  // (8, 7)
    public static let intermediates = npz("intermediates.npz")
    /// The reference forward of window 0, computed once (it is slow in debug builds).
    public static let referenceRow0 = Reference.encode(Array(inputs[0..<2560]), network.encoder.weights).intermediates
}

/// max|a - b| / max|b|: the fixture's suggested parity measure.
public func relErr(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "sizes \(a.count) vs \(b.count)")
    var d: Float = 0, m: Float = 0
    for i in 0..<a.count { d = max(d, abs(a[i] - b[i])); m = max(m, abs(b[i])) }
    return m == 0 ? d : d / m
}

/// xorshift64: the fixed-seed generator the engine tests have always used.
public struct Rng {
    public var s: UInt64
    public init(s: UInt64) { self.s = s }
    public mutating func next() -> UInt64 { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return s }
    public mutating func float() -> Float { Float(next() >> 40) / Float(1 << 24) * 2 - 1 }
    public mutating func floats(_ n: Int) -> [Float] { (0..<n).map { _ in float() } }
}

/// A synthetic ECG at 256 Hz: 75 bpm beats (R, S, T), 0.2 Hz wander and a little noise.
public func syntheticECG(seconds: Double, seed: UInt64) -> [Double] {
    var g = Rng(s: seed &* 0x9E3779B97F4A7C15 | 1)
    return (0..<Int(seconds * 256)).map { i in
        let t = Double(i) / 256, ph = t.truncatingRemainder(dividingBy: 0.8)
        let r = exp(-(ph - 0.4) * (ph - 0.4) / (2 * 0.012 * 0.012)), tw = 0.25 * exp(-(ph - 0.65) * (ph - 0.65) / (2 * 0.05 * 0.05))
        return r - 0.15 * exp(-(ph - 0.43) * (ph - 0.43) / (2 * 0.01 * 0.01)) + tw + 0.3 * sin(2 * .pi * 0.2 * t) + 0.05 * Double(g.float())
    }
}
