// Running a helper program to completion when it may leave daemons behind (a reload_command that
// restarts a serving engine). Foundation's Process hands its child an internal socket without
// close-on-exec and only reports the exit once every holder has closed it, so a server started in
// the background by the child makes `waitUntilExit` wait for the server. Here the child is spawned
// with every descriptor above stderr closed, and reaped with waitpid.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum Subprocess {
    /// Runs `arguments` (the program looked up on PATH) in `directory` with `environment`; stdin is
    /// /dev/null, stdout and stderr are this process's. Returns the exit status (128 + n for signal n).
    public static func run(_ arguments: [String], environment: [String: String], directory: URL) throws -> Int32 {
        precondition(!arguments.isEmpty)
        // /usr/bin/env -C sets the working directory, then looks the program up on PATH
        let argv = ["/usr/bin/env", "-C", directory.path] + arguments
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.compactMap(Int32.init) ?? Array(3..<256)
        for fd in open where fd > 2 { posix_spawn_file_actions_addclose(&actions, fd) }
        let cArguments = argv.map { strdup($0) } + [nil]
        let cEnvironment = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in cArguments + cEnvironment { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, nil, cArguments, cEnvironment)
        guard rc == 0 else { throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "cannot start \(arguments[0]): \(String(cString: strerror(rc)))"]) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift cannot import
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}
