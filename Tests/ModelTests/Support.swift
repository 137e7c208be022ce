import Foundation
import NPY
@testable import Model
@testable import Training

enum TF {
    static let root = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
    static func path(_ p: String) -> String { root.appendingPathComponent(p).path }
    static func npy(_ p: String) -> NPYArray { try! NPY.read(path: path(p)) }
    static func npz(_ p: String) -> [String: NPYArray] { try! NPZ.read(path: path(p)) }
    static let tensors = TensorSet(npz("weights.npz"))
    static let network = try! SSLNetwork(tensors: tensors)
    static let inputs = npy("inputs.npy").floats()          // (8, 2560)
    static let embedding = npy("embedding.npy").floats()    // (8, 128)
    static let taskLogits = npy("task_logits.npy").floats() // (8, 7)
    static let intermediates = npz("intermediates.npz")
    /// The reference forward of window 0, computed once (it is slow in debug builds).
    static let referenceRow0 = Reference.encode(Array(inputs[0..<2560]), network.encoder.weights).intermediates
}

/// max|a - b| / max|b|: the fixture's suggested parity measure.
func relErr(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "sizes \(a.count) vs \(b.count)")
    var d: Float = 0, m: Float = 0
    for i in 0..<a.count { d = max(d, abs(a[i] - b[i])); m = max(m, abs(b[i])) }
    return m == 0 ? d : d / m
}

struct Rng {
    var s: UInt64
    mutating func next() -> UInt64 { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return s }
    mutating func float() -> Float { Float(next() >> 40) / Float(1 << 24) * 2 - 1 }
    mutating func floats(_ n: Int) -> [Float] { (0..<n).map { _ in float() } }
}
