import ArgumentParser
import Foundation
import Model

// Options shared by several subcommands, declared once (`@OptionGroup`), and the typed
// values of options that take one of a few words or a list.

/// --weights: the weights directory a command reads.
struct WeightsOption: ParsableArguments {
    @Option(help: "Weights directory (manifest.json + encoder.npz, what ecg-server loads); an .npz of encoder tensors also works where no manifest is needed.")
    var weights: String = "weights"
}

/// --threads: compute threads.
struct ThreadsOption: ParsableArguments {
    @Option(help: "Compute threads, 1…256 (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be 1…256, not \(threads)") }
    }
}

/// --quiet: no progress output.
struct QuietOption: ParsableArguments {
    @Flag(help: "No progress bar or progress lines on stderr.") var quiet = false
}

/// A comma-separated list of positive integers, e.g. `1,8,32`; any item that is not one
/// makes the whole option invalid (nothing is silently dropped).
struct IntList: ExpressibleByArgument, CustomStringConvertible {
    let values: [Int]
    init?(argument: String) {
        var v: [Int] = []
        for item in argument.split(separator: ",", omittingEmptySubsequences: false) {
            guard let n = Int(item.trimmingCharacters(in: .whitespaces)), n >= 1 else { return nil }
            v.append(n)
        }
        guard !v.isEmpty else { return nil }
        values = v
    }
    init(_ values: [Int]) { self.values = values }
    var description: String { values.map(String.init).joined(separator: ",") }
    var defaultValueDescription: String { description }
}

/// How fine-tuning splits the labelled windows into folds.
enum FoldSplit: String, ExpressibleByArgument, CaseIterable {
    /// No subject on both sides (default).
    case subject
    /// The authors' protocol: windows of one subject may be in train and test.
    case window
}

/// What `prepare` z-scores each window with.
enum Normalization: String, ExpressibleByArgument, CaseIterable {
    case window, recording, subject
}

/// `prepare --polarity`: the sign as recorded, or every record turned QRS-up.
enum Polarity: String, ExpressibleByArgument, CaseIterable {
    case keep, qrsUp = "qrs-up", qrsTDownBeats = "qrs-t-down-beats"
}

/// Output of `bench`.
enum BenchFormat: String, ExpressibleByArgument, CaseIterable {
    case table, tsv
}
