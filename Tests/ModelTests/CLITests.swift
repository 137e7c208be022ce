import Testing
import Foundation

/// Runs ecg-train with arguments; returns its exit status and stderr.
func ecgTrain(_ args: [String]) throws -> (status: Int32, stderr: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: trainBinary)
    p.arguments = args
    let err = Pipe()
    p.standardError = err; p.standardOutput = FileHandle.nullDevice
    try p.run()
    let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return (p.terminationStatus, text)
}

@Suite struct CommandLine_ {
    @Test("bad list items and unknown words are usage errors (exit 64) that name the option, never silently dropped",
          arguments: [
            (["bench", "--batch", "1,8,x"], "--batch"),
            (["bench", "--threads", "1,,2"], "--threads"),
            (["bench", "--batch", "0"], "--batch"),
            (["bench", "--format", "csv"], "--format"),
            (["bench", "--algorithms", "direct,dft32,dftx,dft16,dft8,dft8"], "dftx"),
            (["finetune", "--data", "d.npz", "--head", "h", "--out", "o", "--split", "person"], "--split"),
            (["prepare", "--out", "o.npz", "--normalize", "global"], "--normalize"),
            (["embed", "--in", "a.npy", "--out", "b.npy", "--threads", "0"], "--threads"),
          ])
    func refused(args: [String], names: String) throws {
        let r = try ecgTrain(args)
        #expect(r.status == 64, "\(args): exit \(r.status)")
        #expect(r.stderr.contains(names), "\(args): \(r.stderr)")
    }

    @Test("the shared options are declared once and appear in every command that uses them")
    func sharedOptions() throws {
        for (cmd, opts) in [("embed", ["--weights", "--threads", "--quiet"]), ("evaluate", ["--weights", "--threads"]),
                            ("finetune", ["--weights", "--threads"]), ("loss-grad", ["--weights", "--threads"]),
                            ("pretrain", ["--threads", "--quiet"]), ("prepare", ["--quiet"]), ("bench", ["--weights"])] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: trainBinary)
            p.arguments = [cmd, "--help"]
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            let help = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            for o in opts { #expect(help.contains(o), "\(cmd) --help lacks \(o)") }
        }
    }
}

