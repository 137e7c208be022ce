import Foundation

/// The random numbers of a test: seeded (ECG_TEST_SEED, else a fixed seed), and the seed is
/// printed with the test's name, so any failure can be replayed exactly (issue #18).
///
///     var g = SeededRandom(#function)              // prints "random seed 20261204 for …"
///     let x = Double.random(in: -1...1, using: &g)
public struct SeededRandom: RandomNumberGenerator {
    public static let defaultSeed: UInt64 = 20_261_204
    private var state: UInt64

    public init(_ test: String, salt: UInt64 = 0) {
        let env = ProcessInfo.processInfo.environment["ECG_TEST_SEED"].flatMap { UInt64($0) }
        let seed = (env ?? Self.defaultSeed) &+ salt
        print("random seed \(seed) for \(test) (ECG_TEST_SEED=\(env ?? Self.defaultSeed) to repeat)")
        state = seed
    }

    /// splitmix64.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Waits until `condition` holds, checking every `poll` seconds, for at most `timeout`
/// seconds; true if it held. What a test waits for is named, never a bare sleep.
@discardableResult
public func waitUntil(timeout: Double = 20, poll: Double = 0.001, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        if try condition() { return true }
        if Date() >= deadline { return false }
        usleep(UInt32(poll * 1_000_000))
    }
}
