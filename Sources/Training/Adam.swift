import Foundation
import Model

/// Adam as TensorFlow 1.x's `AdamOptimizer` applies it:
/// m ← β1 m + (1-β1) g;  v ← β2 v + (1-β2) g²;
/// w ← w - lr·√(1-β2ᵗ)/(1-β1ᵗ) · m / (√v + ε)   (ε outside the bias correction).
public struct Adam: Sendable, Codable {
    public var learningRate: Float = 1e-3
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8
    /// Steps taken so far (TF's `beta1_power` = β1^step).
    public var step = 0
    public var m: [String: [Float]] = [:]
    public var v: [String: [Float]] = [:]

    public init(learningRate: Float = 1e-3) { self.learningRate = learningRate }

    /// One update of every named parameter with its gradient, at learning rate `lr`.
    public mutating func apply(_ params: inout [String: [Float]], _ grads: [String: [Float]], lr: Float? = nil) {
        step += 1
        let t = Double(step)
        let lrT = Float(Double(lr ?? learningRate) * (1 - pow(Double(beta2), t)).squareRoot() / (1 - pow(Double(beta1), t)))
        for (name, g) in grads {
            guard var w = params[name] else { continue }
            var mm = m[name] ?? [Float](repeating: 0, count: g.count)
            var vv = v[name] ?? [Float](repeating: 0, count: g.count)
            for i in 0..<g.count {
                mm[i] = beta1 * mm[i] + (1 - beta1) * g[i]
                vv[i] = beta2 * vv[i] + (1 - beta2) * g[i] * g[i]
                w[i] -= lrT * mm[i] / (vv[i].squareRoot() + epsilon)
            }
            params[name] = w; m[name] = mm; v[name] = vv
        }
    }
}

extension SSLNetwork {
    /// Every tensor by TF name (`/`), as flat float arrays.
    public var parameters: [String: [Float]] {
        var out: [String: [Float]] = [:]
        for (k, v) in WeightsDirectory.tensors(of: self) { out[k.replacingOccurrences(of: ".", with: "/")] = v.floats() }
        return out
    }

    /// The same network with new parameter values (shapes as this one's).
    public func with(parameters p: [String: [Float]]) throws -> SSLNetwork {
        var arrays: [String: NPYArray] = [:]
        for (k, v) in WeightsDirectory.tensors(of: self) {
            let name = k.replacingOccurrences(of: ".", with: "/")
            arrays[name] = NPYArray(floats: p[name] ?? v.floats(), shape: v.shape)
        }
        let net = try SSLNetwork(tensors: TensorSet(arrays))
        return SSLNetwork(encoder: Encoder(weights: net.encoder.weights, algorithms: encoder.algorithms), tasks: net.tasks)
    }
}

import NPY
