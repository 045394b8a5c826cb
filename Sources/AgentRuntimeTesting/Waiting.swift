/// Waits until `predicate` holds for a value of `updates` (a sequence that yields the current
/// state and then each change, such as `AgentHost.statusUpdates()`), for at most `timeout`.
///
/// - Returns: whether it held in time.
public func waitUntil<Updates: AsyncSequence & Sendable>(
  _ updates: Updates,
  within timeout: Duration,
  _ predicate: @escaping @Sendable (Updates.Element) -> Bool
) async -> Bool where Updates.Element: Sendable {
  await withTaskGroup(of: Bool.self) { group in
    group.addTask {
      do {
        for try await value in updates where predicate(value) { return true }
      } catch {}
      return false
    }
    group.addTask {
      try? await Task.sleep(for: timeout)
      return false
    }
    let result = await group.next() ?? false
    group.cancelAll()
    return result
  }
}
