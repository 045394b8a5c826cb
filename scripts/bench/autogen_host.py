"""Runs AutoGen's Python host (GrpcWorkerAgentRuntimeHost, autogen-ext[grpc] 0.7.5) until SIGTERM.

    python autogen_host.py 127.0.0.1:PORT

Prints "listening on ADDRESS" once started.
"""

import asyncio
import logging
import signal
import sys

from autogen_ext.runtimes.grpc import GrpcWorkerAgentRuntimeHost


async def main(address: str) -> None:
    logging.basicConfig(level=logging.WARNING)
    host = GrpcWorkerAgentRuntimeHost(address=address)
    host.start()
    print(f"listening on {address}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await host.stop(grace=1)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
