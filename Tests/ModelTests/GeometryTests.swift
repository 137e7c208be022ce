import Testing
import Foundation
import TestSupport
import Model
import Training

@Suite struct Geometry {
    @Test("layer lengths follow from the window and the pools; the engine's buffers and the reference agree with them")
    func lengths() throws {
        var t = EncoderGeometry.windowLength
        for i in 0..<6 {
            #expect(EncoderGeometry.lengths[i] == t)
            // A max pool of 8 with stride 2, valid padding, as the reference computes it.
            if EncoderGeometry.pooledAfter.contains(i) { t = Reference.maxPool8s2(Array(repeating: 0, count: t), length: t, channels: 1).count }
        }
        #expect(EncoderGeometry.convs.last!.cout == EncoderGeometry.embeddingSize)
        #expect(EncoderGeometry.transformations.count == TaskHead.count && Transformations.names == EncoderGeometry.transformations)
    }

    @Test("ConvLayer.flipped() twice is the layer itself, and the flipped layer computes the transposed convolution")
    func flipped() {
        var rng = SeededRandom(#function, salt: 1)
        let (k, ci, co, t) = (5, 3, 4, 11)
        let l = ConvLayer(
            kernel: (0..<(k * ci * co)).map { _ in Float.random(in: -1...1, using: &rng) },
            bias: [Float](repeating: 0, count: co), taps: k, cin: ci, cout: co)
        let f = l.flipped()
        #expect(f.taps == k && f.cin == co && f.cout == ci && f.flipped().kernel == l.kernel)
        // <conv(x), dy> == <x, convᵀ(dy)>, with convᵀ = correlation of the padded dy with the flipped kernel.
        let x = (0..<(t * ci)).map { _ in Float.random(in: -1...1, using: &rng) }
        let dy = (0..<(t * co)).map { _ in Float.random(in: -1...1, using: &rng) }
        let y = Reference.conv1dSame(x, length: t, l)
        var lhs = 0.0
        for i in 0..<y.count { lhs += Double(y[i]) * Double(dy[i]) }
        // Transposed: dx[s, i] = Σ_j Σ_o dy[s - j + padLeft, o] W[j, i, o] = correlation with the flip, padded by padRight left.
        var rhs = 0.0
        for s in 0..<t {
            for i in 0..<ci {
                var acc = 0.0
                for jf in 0..<k {
                    let r = s + jf - l.padRight
                    guard r >= 0 && r < t else { continue }
                    for o in 0..<co { acc += Double(dy[r * co + o]) * Double(f.kernel[(jf * co + o) * ci + i]) }
                }
                rhs += acc * Double(x[s * ci + i])
            }
        }
        #expect(abs(lhs - rhs) <= 1e-4 * max(1, abs(lhs)), "\(lhs) vs \(rhs)")
    }
}
