import Testing
import Foundation
import Model
import NPY
@testable import Server

/// Resident set size of a process in bytes (Linux /proc).
func residentBytes(_ pid: Int32) -> Int {
    guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kb = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else { return 0 }
    return kb * 1024
}

/// Open file descriptors of a process (Linux /proc).
func openFDs(_ pid: Int32) -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
}

/// The release or debug ecg-server binary beside the tests, started on port 0 with the
/// fixture weights; its stdout (the "ready" line) gives the port.
struct ServerProcess {
    let process: Process
    let port: Int
    var pid: Int32 { process.processIdentifier }

    init(_ args: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Process_.serverBin)
        p.arguments = ["--port", "0", "--host", "127.0.0.1", "--weights", fixtureWeightsDir, "--openapi", repo("openapi.yaml"), "--quiet"] + args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        var text = ""
        while !text.contains("\"ready\"") {
            let d = out.fileHandleForReading.availableData
            if d.isEmpty { break }
            text += String(decoding: d, as: UTF8.self)
        }
        process = p
        port = Int(text.components(separatedBy: "\"port\":")[1].prefix { $0.isNumber })!
    }

    func stop() { kill(pid, SIGKILL); process.waitUntilExit() }
}

@Suite(.serialized) struct Memory {
    /// The leak of issue #8: every answered inference request stayed alive (a cycle
    /// slot → cancel → job → completion → respond → slot, and consumed queue items kept
    /// until 4096 had piled up), about 40 kB per window.
    @Test("thousands of inference requests leave RSS flat", arguments: ["npy", "json"])
    func rssFlat(_ format: String) throws {
        let s = try ServerProcess(["--workers", "1"])
        defer { s.stop() }
        let c = try RawClient(port: s.port)
        let win = Array(fixtureInputs[0..<2560])
        let body: [UInt8], type: String
        if format == "npy" {
            body = NPY.encode(NPYArray(floats: win, shape: [2560])); type = "application/x-npy"
        } else {
            body = jsonBody(["ecg": win.map(Double.init), "preprocessed": true]); type = "application/json"
        }
        let req = request("POST", format == "npy" ? "/embed?preprocessed=true" : "/embed", body: body, headers: ["Content-Type": type])
        func run(_ n: Int) throws {
            for _ in 0..<n {
                c.send(req)
                let r = try #require(c.response())
                try #require(r.status == 200, "\(r.status) \(r.text)")
            }
        }
        try run(300)   // warm-up: allocator arenas, caches
        let before = residentBytes(s.pid)
        try run(1500)
        let after = residentBytes(s.pid)
        let grown = Double(after - before) / 1_048_576
        print("rss \(format): \(before / 1_048_576) → \(after / 1_048_576) MiB over 1500 requests")
        // The leak grew 40 kB per window: 1500 windows → ~60 MB. Allow allocator noise.
        #expect(grown < 12, "RSS grew \(String(format: "%.1f", grown)) MiB over 1500 requests (\(before / 1_048_576) → \(after / 1_048_576) MiB)")
    }
}
