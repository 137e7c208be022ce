#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A failed system call, with its errno.
package struct SyscallError: Error, CustomStringConvertible {
    package var call: String
    package var errno: Int32
    package var description: String { "\(call) failed: \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// Thin wrappers over the socket system calls: errno in the errors, EINTR retried.
package enum Sys {
    @discardableResult
    package static func retry(_ name: String, _ body: () -> Int) throws -> Int {
        while true {
            let r = body()
            if r >= 0 { return r }
            let e = errno
            if e == EINTR { continue }
            throw SyscallError(call: name, errno: e)
        }
    }

    package static func setNonBlocking(_ fd: Int32) throws {
        let flags = fcntl(fd, F_GETFL, 0)
        guard flags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) >= 0 else { throw SyscallError(call: "fcntl", errno: errno) }
    }

    package static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) {
        var v = value
        _ = setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size))
    }

    /// A listening, non-blocking TCP socket on host:port (IPv4 or IPv6 literal, or a
    /// name resolved with getaddrinfo). Port 0 picks a free port; returns the fd and port.
    package static func listen(host: String, port: Int, backlog: Int32 = 1024) throws -> (fd: Int32, port: Int) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var res: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &res)
        guard rc == 0, let first = res else {
            throw SyscallError(call: "getaddrinfo(\(host))", errno: rc == EAI_SYSTEM ? errno : EINVAL)
        }
        defer { freeaddrinfo(res) }
        var lastError: Error = SyscallError(call: "bind", errno: EADDRNOTAVAIL)
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            ai = a.pointee.ai_next
            let fd = socket(a.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if fd < 0 { lastError = SyscallError(call: "socket", errno: errno); continue }
            setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            if a.pointee.ai_family == AF_INET6 { setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 0) }
            if bind(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) != 0 {
                lastError = SyscallError(call: "bind(\(host):\(port))", errno: errno); close(fd); continue
            }
            if Glibc.listen(fd, backlog) != 0 { lastError = SyscallError(call: "listen", errno: errno); close(fd); continue }
            try setNonBlocking(fd)
            return (fd, localPort(fd))
        }
        throw lastError
    }

    package static func localPort(_ fd: Int32) -> Int {
        var ss = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &ss) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        if Int32(ss.ss_family) == AF_INET6 {
            return withUnsafePointer(to: &ss) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) } }
        }
        return withUnsafePointer(to: &ss) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) } }
    }

    /// Accepts one connection (non-blocking, close-on-exec); nil when none is pending.
    package static func accept(_ listener: Int32) throws -> Int32? {
        while true {
            let fd = Glibc.accept(listener, nil, nil)
            if fd >= 0 {
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                do { try setNonBlocking(fd) } catch { Glibc.close(fd); throw error }
                return fd
            }
            switch errno {
            case EINTR, ECONNABORTED: continue
            case EAGAIN, EWOULDBLOCK: return nil
            default: throw SyscallError(call: "accept4", errno: errno)
            }
        }
    }

    package enum IOResult { case bytes(Int), wouldBlock, closed }

    package static func recv(_ fd: Int32, _ buf: UnsafeMutableRawBufferPointer) -> IOResult {
        while true {
            let n = Glibc.recv(fd, buf.baseAddress, buf.count, 0)
            if n > 0 { return .bytes(n) }
            if n == 0 { return .closed }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: return .closed
            }
        }
    }

    /// send with MSG_NOSIGNAL (a vanished peer is an error, not a SIGPIPE).
    package static func send(_ fd: Int32, _ buf: UnsafeRawBufferPointer) -> IOResult {
        while true {
            let n = Glibc.send(fd, buf.baseAddress, buf.count, Int32(MSG_NOSIGNAL))
            if n >= 0 { return .bytes(n) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .wouldBlock
            default: return .closed
            }
        }
    }
}
