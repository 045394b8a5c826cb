public import Logging

/// The tests' logger: tests provoke errors on purpose (refused handshakes, lost hosts, bad input)
/// and check them, so only critical entries are shown.
public let quietLogger: Logger = {
  var logger = Logger(label: "test")
  logger.logLevel = .critical
  return logger
}()
