import Foundation
import Model

/// Adam as TensorFlow 1.x's `AdamOptimizer` applies it:
/// m ← β1 m + (1-β1) g;  v ← β2 v + (1-β2) g²;
/// w ← w - lr·√(1-β2ᵗ)/(1-β1ᵗ) · m / (√v + ε)   (ε outside the bias correction).
/// The moments are flat buffers in the parameters' layout (zero until the first step).
public struct Adam: Sendable {
    public var learningRate: Float = 1e-3
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8
    /// Steps taken so far (TF's `beta1_power` = β1^step).
    public var step = 0
    public var m: [Float] = []
    public var v: [Float] = []

    public init(learningRate: Float = 1e-3) { self.learningRate = learningRate }

    /// One update of every parameter with its gradient (same layout), at learning rate `lr`.
    public mutating func apply(_ w: inout [Float], _ g: [Float], lr: Float? = nil) {
        precondition(w.count == g.count)
        if m.count != g.count { m = [Float](repeating: 0, count: g.count) }
        if v.count != g.count { v = [Float](repeating: 0, count: g.count) }
        step += 1
        let t = Double(step)
        let lrT = Float(Double(lr ?? learningRate) * (1 - pow(Double(beta2), t)).squareRoot() / (1 - pow(Double(beta1), t)))
        let (b1, b2, eps) = (beta1, beta2, epsilon)
        w.withUnsafeMutableBufferPointer { w in
            m.withUnsafeMutableBufferPointer { m in
                v.withUnsafeMutableBufferPointer { v in
                    g.withUnsafeBufferPointer { g in
                        for i in 0..<g.count {
                            m[i] = b1 * m[i] + (1 - b1) * g[i]
                            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
                            w[i] -= lrT * m[i] / (v[i].squareRoot() + eps)
                        }
                    }
                }
            }
        }
    }

    /// Named tensors (small models such as the affect heads): laid out flat in sorted-name
    /// order, which must stay the same from step to step.
    public mutating func apply(_ params: inout [String: [Float]], _ grads: [String: [Float]], lr: Float? = nil) {
        let names = grads.keys.sorted().filter { params[$0] != nil }
        var w = names.flatMap { params[$0]! }, g = names.flatMap { grads[$0]! }
        apply(&w, g, lr: lr)
        var off = 0
        for n in names { let c = grads[n]!.count; params[n] = Array(w[off..<(off + c)]); off += c }
    }
}
