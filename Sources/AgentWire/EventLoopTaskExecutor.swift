import NIOCore
package import NIOPosix

/// A task executor that runs each job on the NIO event loop that made it runnable.
///
/// A frame is read on its connection's event loop. Without a preference, the task that handles it
/// then runs on Swift's cooperative pool, and the write it causes goes back to an event loop: two
/// thread wake-ups per frame, which is most of the CPU a message costs when peers send one message
/// per write (AutoGen's Python workers do). Under this preference (`withTaskExecutorPreference`)
/// the read, the handling and the write of a frame stay on its connection's thread. A job made
/// runnable from a thread that is not an event loop (a timer, the cooperative pool) runs on the
/// executor's home loop.
///
/// Only for code that never blocks: the host's routing and the worker's connection, never agent
/// handlers.
package final class EventLoopTaskExecutor: TaskExecutor {
  private let home: any EventLoop

  /// An executor whose home loop is the next loop of `group`.
  package init(group: MultiThreadedEventLoopGroup = .singleton) {
    self.home = group.next()
  }

  package func enqueue(_ job: consuming ExecutorJob) {
    let job = UnownedJob(job)
    let loop = MultiThreadedEventLoopGroup.currentEventLoop ?? home
    loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
  }
}
