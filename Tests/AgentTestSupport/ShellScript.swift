public import Foundation

/// Runs `script` with `/bin/sh -c` in `directory` (the tests make keys and certificates with
/// openssl this way), waiting for it to end.
///
/// - Throws: when it cannot start or exits non-zero.
public func runShellScript(_ script: String, in directory: URL) throws {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: "/bin/sh")
  process.arguments = ["-c", script]
  process.currentDirectoryURL = directory
  try process.run()
  process.waitUntilExit()
  guard process.terminationStatus == 0 else { throw ShellScriptFailed(status: process.terminationStatus) }
}

/// A shell script exited non-zero.
public struct ShellScriptFailed: Error, CustomStringConvertible {
  public var status: Int32
  public var description: String { "the script exited with \(status)" }
}
