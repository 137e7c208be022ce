import Foundation

/// Real-world interference added to a raw record before preprocessing, for training the affect
/// heads on what the server will meet (issue #17, item 2): mains hum, broadband noise and
/// baseline wander. The labelled recordings were notch-filtered when acquired, so without this
/// a head never sees what survives the server's band filter.
///
/// Each kind draws its strength per record from a range around the robustness check's
/// conditions (`scripts/check_robustness.py`: hum at 10 % of the range, noise at 20 dB, a 0.3 Hz
/// wander at 50 % of the range), so the heads see both milder and harsher cases.
public enum Augmentation {
    public enum Kind: String, CaseIterable, Sendable {
        /// A 50 or 60 Hz sine (chosen per record), amplitude 2–20 % of the range, random phase.
        case hum
        /// White Gaussian noise at 15–30 dB SNR (signal power: the record minus its 1 s moving mean).
        case noise
        /// A 0.1–0.5 Hz sine, amplitude 10–100 % of the range, random phase.
        case wander
    }

    /// Ranges, in one place, so tests and documentation read the same numbers.
    public static let humAmplitude = 0.02...0.20
    public static let noiseSNRdB = 15.0...30.0
    public static let wanderHz = 0.1...0.5
    public static let wanderAmplitude = 0.10...1.0

    /// What was drawn for one record (logged, and checked by the tests).
    public struct Drawn: Equatable, Sendable, CustomStringConvertible {
        public var humHz: Double?
        public var humAmplitude: Double?
        public var noiseSNRdB: Double?
        public var wanderHz: Double?
        public var wanderAmplitude: Double?
        public var description: String {
            var p: [String] = []
            if let f = humHz, let a = humAmplitude { p.append(String(format: "hum %.0f Hz at %.1f %% of range", f, a * 100)) }
            if let s = noiseSNRdB { p.append(String(format: "noise at %.1f dB", s)) }
            if let f = wanderHz, let a = wanderAmplitude { p.append(String(format: "wander %.2f Hz at %.0f %% of range", f, a * 100)) }
            return p.isEmpty ? "none" : p.joined(separator: ", ")
        }
    }

    /// A kind name that is not one of `Kind`'s.
    public struct UnknownKind: Error, Equatable { public let name: String }

    /// Parses a comma-separated list of kinds ("hum,noise"); a failure carries the first unknown one.
    public static func kinds(_ spec: String) -> Result<[Kind], UnknownKind> {
        var out: [Kind] = []
        for part in spec.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
            guard let k = Kind(rawValue: part) else { return .failure(UnknownKind(name: part)) }
            if !out.contains(k) { out.append(k) }
        }
        return .success(out)
    }

    /// The seed of record `index` in a run seeded `seed`: records are independent of one
    /// another and of their order in the manifest's filtered list only through `index`.
    public static func recordSeed(_ seed: UInt64, index: Int) -> UInt64 {
        var g = Transformations.RNG(seed: seed ^ (UInt64(truncatingIfNeeded: index) &* 0xD1B5_4A32_D192_ED03))
        return g.next()
    }

    /// The signal's power without its slow part: the mean square of x minus its moving mean
    /// over `window` samples (centred; shorter at the ends), as check_robustness.py measures it.
    public static func highPassedPower(_ x: [Double], window: Int) -> Double {
        let n = x.count
        guard n > 0 else { return 0 }
        let w = max(1, window)
        var prefix = [Double](repeating: 0, count: n + 1)
        for i in 0..<n { prefix[i + 1] = prefix[i] + x[i] }
        var sum = 0.0
        for i in 0..<n {
            let lo = max(0, i - w / 2), hi = min(n, i - w / 2 + w)
            let m = (prefix[hi] - prefix[lo]) / Double(hi - lo)
            sum += (x[i] - m) * (x[i] - m)
        }
        return sum / Double(n)
    }

    /// Adds the listed kinds of interference to `x` (a raw record at `fs` Hz), drawing each
    /// one's strength from `rng`. Returns what was drawn.
    @discardableResult
    public static func apply(_ kinds: [Kind], to x: inout [Double], fs: Double, rng: inout Transformations.RNG) -> Drawn {
        var d = Drawn()
        guard !x.isEmpty, fs > 0 else { return d }
        let range = (x.max()! - x.min()!)
        // The noise is sized on the clean record, before any other kind is added.
        let power = kinds.contains(.noise) ? highPassedPower(x, window: Int(fs)) : 0
        for k in kinds {
            switch k {
            case .hum:
                let f = Bool.random(using: &rng) ? 50.0 : 60.0
                let a = Double.random(in: humAmplitude, using: &rng)
                let phase = Double.random(in: 0..<(2 * .pi), using: &rng)
                for i in x.indices { x[i] += a * range * sin(2 * .pi * f * Double(i) / fs + phase) }
                d.humHz = f; d.humAmplitude = a
            case .noise:
                let snr = Double.random(in: noiseSNRdB, using: &rng)
                let sd = (power / pow(10, snr / 10)).squareRoot()
                for i in x.indices { x[i] += sd * rng.gaussian() }
                d.noiseSNRdB = snr
            case .wander:
                let f = Double.random(in: wanderHz, using: &rng)
                let a = Double.random(in: wanderAmplitude, using: &rng)
                let phase = Double.random(in: 0..<(2 * .pi), using: &rng)
                for i in x.indices { x[i] += a * range * sin(2 * .pi * f * Double(i) / fs + phase) }
                d.wanderHz = f; d.wanderAmplitude = a
            }
        }
        return d
    }
}
