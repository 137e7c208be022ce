/// Signal preprocessing shared by the server and the trainer.
public enum Preprocessing {
    /// Robust z-score in place: minus the mean, divided by the standard deviation of
    /// the central 95 % of the sorted samples (the statistic of the authors' code).
    /// A flat window (zero spread) is only centred.
    /// - Complexity: O(n log n) for the sort.
    public static func robustZScore(_ x: UnsafeMutableBufferPointer<Float>) {
        let n = x.count
        guard n > 0 else { return }
        var mean = 0.0
        for v in x { mean += Double(v) }
        mean /= Double(n)
        let sorted = x.sorted()
        let lo = Int((Double(n) * 0.025).rounded(.down)), hi = max(lo + 1, Int((Double(n) * 0.975).rounded(.up)))
        let mid = sorted[lo..<min(hi, n)]
        var m2 = 0.0
        for v in mid { m2 += Double(v) }
        m2 /= Double(mid.count)
        var s = 0.0
        for v in mid { s += (Double(v) - m2) * (Double(v) - m2) }
        let sd = (s / Double(mid.count)).squareRoot()
        let scale = sd > 1e-12 ? 1 / sd : 1
        for i in 0..<n { x[i] = Float((Double(x[i]) - mean) * scale) }
    }
}
