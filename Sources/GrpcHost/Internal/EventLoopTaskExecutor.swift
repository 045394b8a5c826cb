import NIOCore
import NIOPosix

/// A task executor that runs each job on the NIO event loop that made it runnable.
///
/// A worker's frame is read on its connection's event loop; without a preference, the handler task
/// that routes it then runs on Swift's cooperative pool, and the write it causes goes back to an
/// event loop: two thread wake-ups per frame, which is most of the host's CPU when clients send one
/// message per write (AutoGen's Python workers do). With this preference the read, the routing and
/// the write of a frame arriving on one connection stay on that connection's thread. Jobs made
/// runnable from elsewhere (a timer, a pool thread) go to the group's next loop.
///
/// The host's handlers never block, so running them on event loops starves no I/O.
final class EventLoopTaskExecutor: TaskExecutor {
  private let group: MultiThreadedEventLoopGroup

  init(group: MultiThreadedEventLoopGroup) {
    self.group = group
  }

  func enqueue(_ job: consuming ExecutorJob) {
    let job = UnownedJob(job)
    let loop = MultiThreadedEventLoopGroup.currentEventLoop ?? group.next()
    loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
  }
}
