import Foundation
import Model

/// The six signal transformations of the paper (task_1 … task_6; task_0 is the original).
public enum Transformations {
    public static var names: [String] { EncoderGeometry.transformations }

    /// A small, seedable generator (SplitMix64) so runs are reproducible with --seed.
    public struct RNG: RandomNumberGenerator, Sendable {
        var state: UInt64
        public init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
        public mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        public mutating func gaussian() -> Double {
            let u1 = max(Double.leastNonzeroMagnitude, Double.random(in: 0..<1, using: &self)), u2 = Double.random(in: 0..<1, using: &self)
            return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
        }
    }

    /// The transformations' settings; the defaults are the paper's.
    public struct Parameters: Sendable {
        public var noiseSNRdB = 15.0
        public var scale: Float = 1.1
        public var permutationPieces = 20
        public var warpPieces = 9
        public var warpFactor = 1.05
        public init() {}
    }

    /// Version `task` (0 … 6) of a 2560-sample window.
    public static func apply(_ task: Int, _ x: ArraySlice<Float>, rng: inout RNG, _ prm: Parameters = Parameters()) -> [Float] {
        let w = Array(x)
        switch task {
        case 1:  // Gaussian noise at the given SNR
            let power = w.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(w.count)
            let sd = (power / pow(10, prm.noiseSNRdB / 10)).squareRoot()
            return w.map { $0 + Float(sd * rng.gaussian()) }
        case 2: return w.map { $0 * prm.scale }  // scaling
        case 3: return w.map { -$0 }  // negation
        case 4: return w.reversed()  // time reversal
        case 5:  // permutation of the pieces
            let n = w.count, p = prm.permutationPieces
            var order = Array(0..<p)
            order.shuffle(using: &rng)
            var out: [Float] = []
            out.reserveCapacity(n)
            for k in order { out.append(contentsOf: w[(n * k / p)..<(n * (k + 1) / p)]) }
            return out
        case 6: return timeWarp(w, pieces: prm.warpPieces, factor: prm.warpFactor, rng: &rng)
        default: return w
        }
    }

    /// Time warping: 9 pieces, each stretched ×1.05 or squeezed ×1/1.05 (linear
    /// interpolation), joined, and randomly cropped back to the window's length.
    public static func timeWarp(_ w: [Float], pieces p: Int, factor: Double, rng: inout RNG) -> [Float] {
        let n = w.count
        var stretch = (0..<p).map { _ in Bool.random(using: &rng) }
        func lengths() -> [Int] { (0..<p).map { k in Int((Double(n * (k + 1) / p - n * k / p) * (stretch[k] ? factor : 1 / factor)).rounded()) } }
        // Enough stretched pieces that the result covers the window.
        while lengths().reduce(0, +) < n, let i = stretch.firstIndex(of: false) { stretch[i] = true }
        var out: [Float] = []
        for k in 0..<p {
            let seg = Array(w[(n * k / p)..<(n * (k + 1) / p)])
            let m = lengths()[k]
            for j in 0..<m {
                let pos = m > 1 ? Double(j) * Double(seg.count - 1) / Double(m - 1) : 0
                let i0 = Int(pos), f = Float(pos - Double(i0))
                let a = seg[i0], b = seg[min(i0 + 1, seg.count - 1)]
                out.append(a + (b - a) * f)
            }
        }
        let start = out.count > n ? Int.random(in: 0...(out.count - n), using: &rng) : 0
        return Array(out[start..<(start + n)])
    }
}
